import Foundation
import GRDB
import Store

/// The full-text index, `.jmirror/search.sqlite`: its own SQLite file, so that it can be deleted
/// and rebuilt (`jmirror search --reindex`) without touching the catalog. One row per message per
/// account (`doc`), the text in an FTS5 table with the same rowid.
///
/// The FTS5 tables are contentless: they hold the terms, not a second copy of every text (on
/// 10,000 messages the index took 200 MB with its copy, four times notmuch's). SQLite 3.40 cannot
/// delete from a contentless table, so a message that leaves the index leaves its terms behind,
/// attached to a rowid no `doc` row will ever have again (AUTOINCREMENT): every query goes
/// through `doc`, so they are never found, only carried until the next `--reindex`.
public final class SearchIndex: @unchecked Sendable {
    let db: DatabaseQueue
    public let path: String

    public static func path(mirror: String) -> String { mirror + "/.jmirror/search.sqlite" }

    public static func exists(mirror: String) -> Bool { FileManager.default.fileExists(atPath: path(mirror: mirror)) }

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        // Syncs of several accounts (the daemon) and a search may write at once.
        config.busyMode = .timeout(30)
        // Results are sorted by date: on disk, SQLite's sorter spilled 30 MB of rows to a
        // temporary file for a query matching 100,000 messages, half of its time.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA temp_store = MEMORY") }
        db = try DatabaseQueue(path: path, configuration: config)
        try db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE doc(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, email_id TEXT NOT NULL, sha256 TEXT NOT NULL,
                    thread_id TEXT, received REAL, size INTEGER NOT NULL, keywords TEXT NOT NULL, folders TEXT NOT NULL,
                    subject TEXT NOT NULL, sender TEXT NOT NULL, has_attachment INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
                    fingerprint TEXT NOT NULL, UNIQUE(account, email_id));
                CREATE INDEX doc_received ON doc(received);
                CREATE VIRTUAL TABLE text USING fts5(subject, sender, recipients, body, attachment, other,
                    content = '', tokenize = '\(CJKPairs.tokenizer)');
                """)
        }
        Self.registerItems(&m)
        m.registerMigration("v3: generations read") { db in
            try db.execute(sql: "CREATE TABLE generation(account TEXT PRIMARY KEY, gen INTEGER NOT NULL)")
        }
        m.registerMigration("v4: the catalog's journal followed") { db in
            // Per account: the catalog journal's token when the index last caught up with it, and
            // the folder names it used then (a renamed folder changes every message in it).
            try db.execute(sql: "CREATE TABLE journal(account TEXT PRIMARY KEY, token TEXT NOT NULL, folders TEXT NOT NULL)")
        }
        try m.migrate(db)
    }

    /// Bytes on disk (the database and its WAL).
    public var bytes: Int64 {
        [path, path + "-wal"].reduce(0) { n, p in
            n + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int64) ?? 0)
        }
    }

    /// Whether the index already reflects the catalog's state of `account` (nothing changed since
    /// it last read it): then a sync has nothing to give it.
    public func isCurrent(account: String, catalog: Catalog) throws -> Bool {
        let gen = try catalog.historyGeneration(account: account)
        return try db.read { db in try Int64.fetchOne(db, sql: "SELECT gen FROM generation WHERE account = ?", arguments: [account]) } == gen
    }

    public var documentCount: Int { (try? db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM doc") }) ?? 0 }
}

/// One message as the index keeps its facts.
struct IndexedFacts: Equatable {
    var sha256: String
    var threadId: String?
    var received: Date?
    var size: Int
    var keywords: [String]
    var folders: [String]
    var deleted = false

    init(sha256: String, received: Date?, size: Int, keywords: [String], folders: [String], deleted: Bool = false) {
        self.sha256 = sha256
        self.received = received
        self.size = size
        self.keywords = keywords
        self.folders = folders
        self.deleted = deleted
    }

    /// What changing means: new bytes need reading again; the rest is a row update.
    /// Built by appending, not by interpolation: it is made for every message at every update
    /// (a third of a 100k walk's own time when interpolated).
    var fingerprint: String {
        var s = sha256
        s.reserveCapacity(sha256.utf8.count + 48 + keywords.reduce(0) { $0 + $1.utf8.count + 1 } + folders.reduce(0) { $0 + $1.utf8.count + 1 })
        s.append("|")
        for (i, k) in keywords.enumerated() {
            if i > 0 { s.append(" ") }
            s.append(k)
        }
        s.append("|")
        for (i, f) in folders.enumerated() {
            if i > 0 { s.append("\n") }
            s.append(f)
        }
        s.append("|")
        s.append((received?.timeIntervalSince1970 ?? 0).description)
        s.append(deleted ? "|true" : "|false")
        return s
    }

    var keywordText: String { " " + keywords.map { $0.lowercased() }.joined(separator: " ") + " " }
    var folderText: String { "\n" + folders.joined(separator: "\n") + "\n" }
}

extension SearchIndex {
    /// Rebuilds and updates take turns through a lock file beside the index: a rebuild holds it
    /// alone, updates share it. Without it, a sync updating the old index during a rebuild could
    /// take from the catalog's journal a change the new index's walk had already passed.
    /// nil when `wait` is false and the other kind holds it.
    public static func lock(index: String, exclusive: Bool, wait: Bool) throws -> FileLock? {
        try FileLock(path: index + ".lock", exclusive: exclusive, wait: wait)
    }
}
