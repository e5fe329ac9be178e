import Foundation
import GRDB

/// One sync of one account, as `jmirror status` and the daemon's metrics report it.
public struct SyncRunRecord: Sendable, Codable, Equatable {
    public var account: String
    public var started: Date
    public var finished: Date
    /// "ok", "partial" (some items failed) or "error".
    public var outcome: String
    /// For an error: the kind `--json` reports ("unreachable", "authentication", …).
    public var kind: String?
    public var message: String?
    public var created: Int
    public var updated: Int
    public var destroyed: Int
    public var bytes: Int64
    /// "sync" (the command), "daemon" (push, poll or schedule).
    public var origin: String

    public init(account: String, started: Date, finished: Date, outcome: String, kind: String? = nil, message: String? = nil,
                created: Int = 0, updated: Int = 0, destroyed: Int = 0, bytes: Int64 = 0, origin: String) {
        self.account = account
        self.started = started
        self.finished = finished
        self.outcome = outcome
        self.kind = kind
        self.message = message
        self.created = created
        self.updated = updated
        self.destroyed = destroyed
        self.bytes = bytes
        self.origin = origin
    }
}

/// The history of runs, so that `status` can answer without a daemon. Bounded per account: a
/// daemon polling every five minutes records ~100k runs a year, and only the recent ones matter.
extension Catalog {
    static let runsKept = 500

    static func registerRuns(_ m: inout DatabaseMigrator) {
        m.registerMigration("v11: sync runs") { db in
            try db.execute(sql: """
                CREATE TABLE sync_run(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, started REAL NOT NULL,
                    finished REAL NOT NULL, outcome TEXT NOT NULL, kind TEXT, message TEXT, created INTEGER NOT NULL,
                    updated INTEGER NOT NULL, destroyed INTEGER NOT NULL, bytes INTEGER NOT NULL, origin TEXT NOT NULL);
                CREATE INDEX sync_run_account ON sync_run(account, id);
                """)
        }
    }

    public func recordRun(_ r: SyncRunRecord) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO sync_run(account, started, finished, outcome, kind, message, created, updated, destroyed, bytes, origin)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [r.account, r.started.timeIntervalSince1970, r.finished.timeIntervalSince1970, r.outcome, r.kind,
                                 r.message, r.created, r.updated, r.destroyed, r.bytes, r.origin])
            try db.execute(sql: """
                DELETE FROM sync_run WHERE account = ? AND id <= (SELECT id FROM sync_run WHERE account = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                """, arguments: [r.account, r.account, Catalog.runsKept])
        }
    }

    /// The latest runs of an account, newest first; with `outcome`, only those.
    public func runs(account: String, outcome: String? = nil, limit: Int = 1) throws -> [SyncRunRecord] {
        try pool.read { db in
            var sql = "SELECT * FROM sync_run WHERE account = ?"
            var args: [DatabaseValueConvertible?] = [account]
            if let outcome { sql += " AND outcome = ?"; args.append(outcome) }
            sql += " ORDER BY id DESC LIMIT ?"
            args.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { r in
                SyncRunRecord(account: r["account"], started: Date(timeIntervalSince1970: r["started"]),
                              finished: Date(timeIntervalSince1970: r["finished"]), outcome: r["outcome"], kind: r["kind"],
                              message: r["message"], created: r["created"], updated: r["updated"], destroyed: r["destroyed"],
                              bytes: r["bytes"], origin: r["origin"])
            }
        }
    }

    /// What the account holds now: messages and their bytes, other objects by JMAP type.
    public func holdings(account: String) throws -> (messages: Int, messageBytes: Int64, items: [String: Int]) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM email WHERE account = ?", arguments: [account])
            var items: [String: Int] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT type, COUNT(*) FROM item WHERE account = ? GROUP BY type", arguments: [account]) {
                items[r[0]] = r[1]
            }
            return (row?[0] ?? 0, row?[1] ?? 0, items)
        }
    }
}
