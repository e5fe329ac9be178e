import Foundation
import GRDB

/// The replay journal: per target, which source object became which target object. A rerun reads
/// it to skip work and the verdict reads it to know what this tool put there; it is never the only
/// guard against duplicates (the target's own contents, by SHA-256, are).
extension Catalog {
    static func registerReplay(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8: replay journal") { db in
            try db.execute(sql: """
                CREATE TABLE replay_journal(target TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
                    target_id TEXT NOT NULL, PRIMARY KEY(target, kind, source));
                """)
        }
    }

    static func registerReplaySettled(_ m: inout DatabaseMigrator) {
        m.registerMigration("v10: settled replay items, calendar files from the server's iCalendar") { db in
            // What an item looked like on both sides right after this tool wrote it: a target that
            // rewrites some of what it is sent (an invalid UNTIL made valid) is then left alone by
            // a rerun until either side changes.
            try db.execute(sql: "ALTER TABLE replay_journal ADD COLUMN settled TEXT")
            // Calendar files are now the server's own iCalendar where it gives one: render them again.
            try db.execute(sql: """
                INSERT OR IGNORE INTO dirty_view(account, view) SELECT DISTINCT account, 'calendars' FROM item WHERE type = 'CalendarEvent'
                """)
        }
    }

    /// Per source, the fingerprint of both sides recorded right after the last write.
    public func settled(target: String, kind: String) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: """
                SELECT source, settled FROM replay_journal WHERE target = ? AND kind = ? AND settled IS NOT NULL
                """, arguments: [target, kind]) {
                out[r[0]] = r[1]
            }
            return out
        }
    }

    public func recordSettled(target: String, kind: String, _ entries: [(source: String, fingerprint: String)]) throws {
        guard !entries.isEmpty else { return }
        try pool.write { db in
            let sql = "UPDATE replay_journal SET settled = ? WHERE target = ? AND kind = ? AND source = ?"
            for e in entries { try db.cachedStatement(sql: sql).execute(arguments: [e.fingerprint, target, kind, e.source]) }
        }
    }

    /// `kind` is a JMAP type; `source` is what identifies the object across accounts (a message's
    /// SHA-256, an item's UID or name).
    public func journal(target: String, kind: String) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT source, target_id FROM replay_journal WHERE target = ? AND kind = ?",
                                      arguments: [target, kind]) {
                out[r[0]] = r[1]
            }
            return out
        }
    }

    /// The target ids of one kind, without their sources: what a verdict over 100k messages needs.
    public func journalTargets(target: String, kind: String) throws -> Set<String> {
        try pool.read { db in
            var out = Set<String>()
            let rows = try String.fetchCursor(db, sql: "SELECT target_id FROM replay_journal WHERE target = ? AND kind = ?",
                                              arguments: [target, kind])
            while let id = try rows.next() { out.insert(id) }
            return out
        }
    }

    public func recordJournal(target: String, kind: String, _ entries: [(source: String, targetId: String)]) throws {
        guard !entries.isEmpty else { return }
        try pool.write { db in
            let sql = "INSERT OR REPLACE INTO replay_journal(target, kind, source, target_id) VALUES (?, ?, ?, ?)"
            for e in entries { try db.cachedStatement(sql: sql).execute(arguments: [target, kind, e.source, e.targetId]) }
        }
    }

    /// Remembers which target blob ids hold which bytes, so that a rerun asks the server for no digest.
    public func recordBlobIds(origin: String, _ entries: [(blobId: String, sha256: String, size: Int)]) throws {
        var round = CatalogRound(account: "")
        round.blobIds = entries.map { (origin, $0.blobId, $0.sha256, $0.size) }
        try apply(round)
    }
}
