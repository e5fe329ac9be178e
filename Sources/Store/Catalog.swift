import Foundation
import GRDB
import GRDBSQLite
import CSQLite

/// A mailbox as the catalog keeps it: the server's JSON plus the fields views need.
public struct MailboxRow: Sendable, Equatable {
    public var id: String
    public var parentId: String?
    public var name: String
    public var role: String?
    public var json: Data

    public init(id: String, parentId: String?, name: String, role: String?, json: Data) {
        self.id = id
        self.parentId = parentId
        self.name = name
        self.role = role
        self.json = json
    }
}

public struct EmailRow: Sendable, Equatable {
    public var id: String
    public var blobId: String
    /// nil while the blob has not been fetched (a failed download is retried on the next run).
    public var sha256: String?
    public var size: Int
    public var receivedAt: Date?
    public var keywords: Set<String>
    public var mailboxIds: Set<String>
    public var json: Data

    public init(id: String, blobId: String, sha256: String?, size: Int, receivedAt: Date?, keywords: Set<String>,
                mailboxIds: Set<String>, json: Data) {
        self.id = id
        self.blobId = blobId
        self.sha256 = sha256
        self.size = size
        self.receivedAt = receivedAt
        self.keywords = keywords
        self.mailboxIds = mailboxIds
        self.json = json
    }
}

/// Everything one sync round changes, applied in one transaction together with the new states,
/// and journalled for the views.
public struct CatalogRound: Sendable {
    public var account: String
    public var upsertMailboxes: [MailboxRow] = []
    public var destroyMailboxes: [String] = []
    public var upsertEmails: [EmailRow] = []
    public var destroyEmails: [String] = []
    public var blobIds: [(origin: String, blobId: String, sha256: String, size: Int)] = []
    public var states: [String: String] = [:]
    /// Full resync: every stored email or mailbox not in these sets is destroyed.
    public var keepOnlyEmails: Set<String>?
    public var keepOnlyMailboxes: Set<String>?
    /// Contacts, calendars, scripts, identities, vacation: see CatalogItems.swift.
    public var upsertItems: [ItemRow] = []
    public var destroyItems: [ItemKey] = []
    /// Per type: every stored item of that type not in the set is destroyed.
    public var keepOnlyItems: [String: Set<String>] = [:]
    /// Views to render again from the catalog (journalled with the data, like dirty_email).
    public var dirtyViews: Set<String> = []
    /// The server's API URL, under which blob ids map to stored objects (for item versions).
    public var origin: String?

    public init(account: String) { self.account = account }

    public var isEmpty: Bool {
        upsertMailboxes.isEmpty && destroyMailboxes.isEmpty && upsertEmails.isEmpty && destroyEmails.isEmpty
            && keepOnlyEmails == nil && keepOnlyMailboxes == nil && upsertItems.isEmpty && destroyItems.isEmpty
            && keepOnlyItems.isEmpty
    }
}

/// The catalog: SQLite through GRDB, in WAL mode, migrated on open.
public final class Catalog: Sendable {
    public let pool: DatabasePool

    public init(path: String) throws {
        // Private whatever the umask; SQLite gives its -wal and -shm files the database's mode.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { fchmod(fd, 0o600); close(fd) }
        for extra in ["-wal", "-shm"] { chmod(path + extra, 0o600) }
        var config = Configuration()
        config.busyMode = .timeout(10)
        // 512 KB of page cache per connection instead of SQLite's 2 MB: the pool's connections
        // held 6.5 MB of a 100k-message first sync's peak (heaptrack); the kernel caches the file
        // anyway. Same run: peak 64.8 → 59.5 MB, first sync 83.8 s against 82.3 s.
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -512")
            // The WAL file stays when the last connection closes. Without it GRDB found no WAL at
            // every start and made one by creating and dropping a table: a schema write and two
            // fsyncs per process, 2–3 ms of a 40 ms quiet sync, and a checkpoint of it at exit.
            var persist: Int32 = 1
            _ = sqlite3_file_control(db.sqliteConnection, nil, SQLITE_FCNTL_PERSIST_WAL, &persist)
            // Nor is it copied into the database at close: the next process does that first
            // (below), or SQLite's automatic checkpoint during a long run. What the WAL holds is
            // as safe as before (synchronous = NORMAL: a kill loses nothing; a power cut may undo
            // the last transactions, and the sync that follows redoes them, like after a kill).
            _ = jm_sqlite_no_checkpoint_on_close(db.sqliteConnection)
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Catalog.migrator.migrate(pool)
        // The first connection resets the -shm, so SQLite takes every frame of the kept WAL's
        // last generation as new, whether or not it was copied before. Copied now, the WAL starts
        // over at this run's first write; left alone, runs appended to it and copied it all at
        // every exit: 315 page writes and 360 reads per quiet sync at 10k messages, 2.6 ms.
        // Busy (a daemon's checkpoint under way) is fine: that one does the same.
        try? pool.writeWithoutTransaction { try $0.checkpoint(.passive) }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE state(account TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY(account, type));
                CREATE TABLE mailbox(account TEXT NOT NULL, id TEXT NOT NULL, parent_id TEXT, name TEXT NOT NULL, role TEXT,
                    json BLOB NOT NULL, PRIMARY KEY(account, id));
                CREATE TABLE email(account TEXT NOT NULL, id TEXT NOT NULL, blob_id TEXT NOT NULL, sha256 TEXT,
                    size INTEGER NOT NULL, received_at REAL, keywords TEXT NOT NULL, json BLOB NOT NULL, PRIMARY KEY(account, id));
                CREATE INDEX email_pending ON email(account) WHERE sha256 IS NULL;
                CREATE TABLE membership(account TEXT NOT NULL, email_id TEXT NOT NULL, mailbox_id TEXT NOT NULL,
                    PRIMARY KEY(account, email_id, mailbox_id));
                CREATE INDEX membership_mailbox ON membership(account, mailbox_id);
                CREATE TABLE blob_id(origin TEXT NOT NULL, blob_id TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
                    PRIMARY KEY(origin, blob_id));
                CREATE TABLE rendered(account TEXT NOT NULL, email_id TEXT NOT NULL, path TEXT NOT NULL,
                    PRIMARY KEY(account, email_id, path));
                CREATE TABLE rendered_folder(account TEXT NOT NULL, mailbox_id TEXT NOT NULL, folder TEXT NOT NULL,
                    PRIMARY KEY(account, mailbox_id));
                CREATE TABLE dirty_email(account TEXT NOT NULL, email_id TEXT NOT NULL, PRIMARY KEY(account, email_id));
                CREATE TABLE dirty_mailbox(account TEXT NOT NULL, mailbox_id TEXT NOT NULL, PRIMARY KEY(account, mailbox_id));
                """)
        }
        m.registerMigration("v2: items and views") { db in
            try db.execute(sql: """
                CREATE TABLE item(account TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, json BLOB NOT NULL,
                    blobs_pending INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(account, type, id));
                CREATE INDEX item_pending ON item(account) WHERE blobs_pending != 0;
                CREATE TABLE dirty_view(account TEXT NOT NULL, view TEXT NOT NULL, PRIMARY KEY(account, view));
                """)
        }
        m.registerMigration("v3: Dovecot keyword letters") { db in
            // Per mailbox, a keyword's index (0–25 = a–z) once given never changes, so file names stay valid.
            try db.execute(sql: """
                CREATE TABLE keyword_letter(account TEXT NOT NULL, mailbox_id TEXT NOT NULL, keyword TEXT NOT NULL,
                    idx INTEGER NOT NULL, PRIMARY KEY(account, mailbox_id, keyword));
                """)
        }
        m.registerMigration("v4: kept Session") { db in
            try db.execute(sql: """
                CREATE TABLE session_cache(account TEXT NOT NULL PRIMARY KEY, source TEXT NOT NULL, session_url TEXT NOT NULL,
                    json BLOB NOT NULL);
                """)
        }
        registerHistory(&m)
        registerFolders(&m)
        registerReplay(&m)
        registerDovecotLayout(&m)
        registerReplaySettled(&m)
        registerRuns(&m)
        m.registerMigration("v12: contact groups in Cyrus's own vCard 3.0 form") { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO dirty_view(account, view) SELECT DISTINCT account, 'contacts' FROM item WHERE type = 'ContactGroup'
                """)
        }
        m.registerMigration("v13: message counts kept") { db in
            try db.execute(sql: """
                CREATE TABLE email_count(account TEXT PRIMARY KEY, n INTEGER NOT NULL);
                INSERT INTO email_count(account, n) SELECT account, COUNT(*) FROM email GROUP BY account;
                """)
        }
        m.registerMigration("v14: messages by SHA-256") { db in
            // The rolling scrub reads the next objects in order of SHA-256 after every sync that
            // changed something: without an index that was a scan and sort of every message
            // (149 ms at 100k), with it 12 ms.
            try db.execute(sql: "CREATE INDEX email_sha ON email(sha256) WHERE sha256 IS NOT NULL")
        }
        registerSearchJournal(&m)
        return m
    }

    // MARK: Reads

    public func state(account: String, type: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM state WHERE account = ? AND type = ?", arguments: [account, type])
        }
    }

    public func mailboxes(account: String) throws -> [MailboxRow] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, parent_id, name, role, json FROM mailbox WHERE account = ?", arguments: [account])
                .map { MailboxRow(id: $0[0], parentId: $0[1], name: $0[2], role: $0[3], json: $0[4]) }
        }
    }

    public func emails(account: String, ids: [String]? = nil) throws -> [String: EmailRow] {
        try pool.read { db in
            var out: [String: EmailRow] = [:]
            let membership = try memberships(db, account: account, ids: ids)
            let select = "SELECT id, blob_id, sha256, size, received_at, keywords, json FROM email WHERE account = ?"
            var rows: [Row] = []
            if let ids {
                rows = try Catalog.inChunks(ids) { chunk, marks in
                    try Row.fetchAll(db, sql: select + " AND id IN (\(marks))", arguments: StatementArguments([account] + chunk))
                }
            } else {
                rows = try Row.fetchAll(db, sql: select, arguments: [account])
            }
            for r in rows {
                let id: String = r[0]
                let receivedAt: Double? = r[4]
                out[id] = EmailRow(id: id, blobId: r[1], sha256: r[2], size: r[3], receivedAt: receivedAt.map(Date.init(timeIntervalSince1970:)),
                                   keywords: Catalog.decodeSet(r[5]), mailboxIds: membership[id] ?? [], json: r[6])
            }
            return out
        }
    }

    /// What an index needs of a message, without its JSON.
    public struct EmailFacts: Sendable {
        public var id: String
        public var sha256: String?
        public var size: Int
        public var receivedAt: Date?
        /// Sorted, as stored.
        public var keywords: [String]
        public var mailboxIds: [String]
    }

    /// Every message of `account` in order of id (SQLite's byte order), one at a time: a walk over
    /// 100k messages that holds one row, not the account. Messages and their mailboxes are two
    /// cursors in the same order, walked side by side: a subquery per message took 0.35 of the
    /// 0.47 s of such a walk at 100k (sqlite3 shell, same catalog).
    public func forEachEmailFacts(account: String, _ body: (EmailFacts) throws -> Void) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, sha256, size, received_at, keywords FROM email WHERE account = ? ORDER BY id",
                                           arguments: [account])
            let boxes = try Row.fetchCursor(db, sql: "SELECT email_id, mailbox_id FROM membership WHERE account = ? ORDER BY email_id",
                                            arguments: [account])
            var box = try boxes.next()
            while let r = try rows.next() {
                let id: String = r[0]
                var mailboxIds: [String] = []
                // Memberships of messages the catalog no longer has (none should exist) are passed over.
                while let b = box, (b[0] as String).precedesInBytes(id) { box = try boxes.next() }
                while let b = box, b[0] as String == id {
                    mailboxIds.append(b[1])
                    box = try boxes.next()
                }
                let received: Double? = r[3]
                try body(EmailFacts(id: id, sha256: r[1], size: r[2], receivedAt: received.map(Date.init(timeIntervalSince1970:)),
                                    keywords: Catalog.decodeSortedList(r[4]), mailboxIds: mailboxIds))
            }
        }
    }

    private func memberships(_ db: Database, account: String, ids: [String]?) throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        var rows: [Row] = []
        if let ids {
            rows = try Catalog.inChunks(ids) { chunk, marks in
                try Row.fetchAll(db, sql: "SELECT email_id, mailbox_id FROM membership WHERE account = ? AND email_id IN (\(marks))",
                                 arguments: StatementArguments([account] + chunk))
            }
        } else {
            rows = try Row.fetchAll(db, sql: "SELECT email_id, mailbox_id FROM membership WHERE account = ?", arguments: [account])
        }
        for r in rows { out[r[0], default: []].insert(r[1]) }
        return out
    }

    /// Every message's blob id and size, nothing else.
    public func emailBlobs(account: String) throws -> [(blobId: String, size: Int)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT blob_id, size FROM email WHERE account = ?", arguments: [account]).map { ($0[0], $0[1]) }
        }
    }

    public func emailCount(account: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT n FROM email_count WHERE account = ?", arguments: [account]) ?? 0 }
    }

    /// Messages per mailbox, for the safety guard.
    public func messageCount(account: String, mailbox: String) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM membership WHERE account = ? AND mailbox_id = ?", arguments: [account, mailbox]) ?? 0
        }
    }

    public func pendingBlobEmails(account: String) throws -> [EmailRow] {
        let ids = try pool.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM email WHERE account = ? AND sha256 IS NULL", arguments: [account])
        }
        return Array(try emails(account: account, ids: ids).values)
    }

    public func knownBlobs(origin: String, blobIds: [String]) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            // Cursors, not rows: 10k rows held at once were 6 MB of a replay's peak.
            _ = try Catalog.inChunks(blobIds) { chunk, marks -> [Int] in
                let rows = try Row.fetchCursor(db, sql: "SELECT blob_id, sha256 FROM blob_id WHERE origin = ? AND blob_id IN (\(marks))",
                                               arguments: StatementArguments([origin] + chunk))
                while let r = try rows.next() { out[r[0]] = r[1] }
                return []
            }
            return out
        }
    }

    // MARK: Writes

    /// Applies a round and its states atomically, and journals what the views must redo.
    public func apply(_ round: CatalogRound) throws {
        let a = round.account
        try pool.write { db in
            let gen = a.isEmpty ? 0 : try Catalog.workingGeneration(db, a)
            // Cached statements: parsing SQL per row cost more than running it in a 10k-message sync.
            func run(_ sql: String, _ arguments: StatementArguments) throws {
                try db.cachedStatement(sql: sql).execute(arguments: arguments)
            }
            for b in round.blobIds {
                try run("INSERT OR REPLACE INTO blob_id(origin, blob_id, sha256, size) VALUES (?, ?, ?, ?)",
                               [b.origin, b.blobId, b.sha256, b.size])
            }
            var destroyMailboxes = round.destroyMailboxes
            if let keep = round.keepOnlyMailboxes {
                destroyMailboxes += try String.fetchAll(db, sql: "SELECT id FROM mailbox WHERE account = ?", arguments: [a]).filter { !keep.contains($0) }
            }
            for m in round.upsertMailboxes {
                try run("INSERT OR REPLACE INTO mailbox(account, id, parent_id, name, role, json) VALUES (?, ?, ?, ?, ?, ?)",
                               [a, m.id, m.parentId, m.name, m.role, m.json])
                try run("INSERT OR IGNORE INTO dirty_mailbox(account, mailbox_id) VALUES (?, ?)", [a, m.id])
                try Catalog.setVersion(db, account: a, type: "Mailbox", id: m.id, gen: gen, VersionRow(type: "Mailbox", id: m.id, json: m.json))
            }
            for id in destroyMailboxes {
                try Catalog.setVersion(db, account: a, type: "Mailbox", id: id, gen: gen, nil)
                try run("DELETE FROM mailbox WHERE account = ? AND id = ?", [a, id])
                try run("DELETE FROM keyword_letter WHERE account = ? AND mailbox_id = ?", [a, id])
                try run("INSERT OR IGNORE INTO dirty_mailbox(account, mailbox_id) VALUES (?, ?)", [a, id])
            }
            var destroyEmails = round.destroyEmails
            if let keep = round.keepOnlyEmails {
                destroyEmails += try String.fetchAll(db, sql: "SELECT id FROM email WHERE account = ?", arguments: [a]).filter { !keep.contains($0) }
            }
            // The account's message count is kept, not counted: COUNT(*) over 100k rows was 6 ms,
            // twice in every sync, most of what a sync with nothing to do grew by with the account.
            var added = 0
            for e in round.upsertEmails {
                // Updated in place, not by REPLACE's delete and insert: SQLite rewrites only the
                // indexes whose columns are set, so a flag change sets only keywords and JSON, and
                // the folders' rows stay when the folders did. At 100k messages, 100 flag changes
                // wrote 1,076 pages in this transaction. One lookup per message, as before.
                let received = e.receivedAt?.timeIntervalSince1970
                let keywords = Catalog.encodeSet(e.keywords)
                let old = try Row.fetchOne(db.cachedStatement(sql: "SELECT blob_id, sha256, size, received_at FROM email WHERE account = ? AND id = ?"),
                                           arguments: [a, e.id])
                if let old {
                    if old[0] as String == e.blobId && old[1] as String? == e.sha256 && old[2] as Int == e.size && old[3] as Double? == received {
                        try run("UPDATE email SET keywords = ?, json = ? WHERE account = ? AND id = ?", [keywords, e.json, a, e.id])
                    } else {
                        try run("""
                            UPDATE email SET blob_id = ?, sha256 = ?, size = ?, received_at = ?, keywords = ?, json = ?
                            WHERE account = ? AND id = ?
                            """, [e.blobId, e.sha256, e.size, received, keywords, e.json, a, e.id])
                    }
                    let folders = try String.fetchSet(db.cachedStatement(sql: "SELECT mailbox_id FROM membership WHERE account = ? AND email_id = ?"),
                                                      arguments: [a, e.id])
                    if folders != e.mailboxIds {
                        try run("DELETE FROM membership WHERE account = ? AND email_id = ?", [a, e.id])
                        for m in e.mailboxIds {
                            try run("INSERT INTO membership(account, email_id, mailbox_id) VALUES (?, ?, ?)", [a, e.id, m])
                        }
                    }
                } else {
                    added += 1
                    try run("""
                        INSERT INTO email(account, id, blob_id, sha256, size, received_at, keywords, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, [a, e.id, e.blobId, e.sha256, e.size, received, keywords, e.json])
                    // A message the catalog does not hold has no folder rows: they go with it.
                    for m in e.mailboxIds {
                        try run("INSERT INTO membership(account, email_id, mailbox_id) VALUES (?, ?, ?)", [a, e.id, m])
                    }
                }
                try run("INSERT OR IGNORE INTO dirty_email(account, email_id) VALUES (?, ?)", [a, e.id])
                try Catalog.setVersion(db, account: a, type: "Email", id: e.id, gen: gen, Catalog.version(of: e))
            }
            for id in destroyEmails {
                try Catalog.setVersion(db, account: a, type: "Email", id: id, gen: gen, nil)
                try run("DELETE FROM email WHERE account = ? AND id = ?", [a, id])
                added -= db.changesCount
                try run("DELETE FROM membership WHERE account = ? AND email_id = ?", [a, id])
                try run("INSERT OR IGNORE INTO dirty_email(account, email_id) VALUES (?, ?)", [a, id])
            }
            if added != 0 {
                try run("INSERT INTO email_count(account, n) VALUES (?, ?) ON CONFLICT(account) DO UPDATE SET n = n + excluded.n", [a, added])
            }
            try applyItems(round, db, gen: gen)
            for (type, state) in round.states {
                try run("INSERT OR REPLACE INTO state(account, type, state) VALUES (?, ?, ?)", [a, type, state])
            }
        }
    }

    public func forgetState(account: String, type: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM state WHERE account = ? AND type = ?", arguments: [account, type])
        }
    }

    // MARK: View journal

    public func dirtyEmails(account: String, limit: Int = 2000) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT email_id FROM dirty_email WHERE account = ? LIMIT ?", arguments: [account, limit])
        }
    }

    public func dirtyMailboxCount(account: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM dirty_mailbox WHERE account = ?", arguments: [account]) ?? 0 }
    }

    public func renderedPaths(account: String, emailIds: [String]) throws -> [String: Set<String>] {
        try pool.read { db in
            var out: [String: Set<String>] = [:]
            let rows = try Catalog.inChunks(emailIds) { chunk, marks in
                try Row.fetchAll(db, sql: "SELECT email_id, path FROM rendered WHERE account = ? AND email_id IN (\(marks))",
                                 arguments: StatementArguments([account] + chunk))
            }
            for r in rows { out[r[0], default: []].insert(r[1]) }
            return out
        }
    }

    /// Before files are linked: the view may hold these paths (so the table stays a superset of
    /// what is on disk, whatever instant a crash comes).
    public func addRendered(account: String, paths: [(emailId: String, path: String)]) throws {
        try pool.write { db in
            for p in paths {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO rendered(account, email_id, path) VALUES (?, ?, ?)").execute(arguments: [account, p.emailId, p.path])
            }
        }
    }

    /// After files are unlinked: forget them and clear the journal entries done.
    public func finishRendered(account: String, removed: [(emailId: String, path: String)], done: [String]) throws {
        try pool.write { db in
            for p in removed {
                try db.cachedStatement(sql: "DELETE FROM rendered WHERE account = ? AND email_id = ? AND path = ?").execute(arguments: [account, p.emailId, p.path])
            }
            for id in done {
                try db.cachedStatement(sql: "DELETE FROM dirty_email WHERE account = ? AND email_id = ?").execute(arguments: [account, id])
            }
        }
    }

    public func renderedFolders(account: String) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT mailbox_id, folder FROM rendered_folder WHERE account = ?", arguments: [account]) {
                out[r[0]] = r[1]
            }
            return out
        }
    }

    /// Records a folder move: the folder row, and every rendered path under the old folder.
    public func moveFolder(account: String, mailboxId: String, from old: String?, to new: String?) throws {
        try pool.write { db in
            if let new {
                try db.execute(sql: "INSERT OR REPLACE INTO rendered_folder(account, mailbox_id, folder) VALUES (?, ?, ?)",
                               arguments: [account, mailboxId, new])
            } else {
                try db.execute(sql: "DELETE FROM rendered_folder WHERE account = ? AND mailbox_id = ?", arguments: [account, mailboxId])
            }
            if let old, let new, old != new {
                try db.execute(sql: """
                    UPDATE rendered SET path = ? || substr(path, ?) WHERE account = ? AND substr(path, 1, ?) = ?
                    """, arguments: [new + "/", old.unicodeScalars.count + 2, account, old.unicodeScalars.count + 1, old + "/"])
            }
        }
    }

    public func keywordLetters(account: String) throws -> [String: [String: Int]] {
        try pool.read { db in
            var out: [String: [String: Int]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT mailbox_id, keyword, idx FROM keyword_letter WHERE account = ?",
                                      arguments: [account]) {
                out[r[0], default: [:]][r[1]] = r[2]
            }
            return out
        }
    }

    public func addKeywordLetters(account: String, _ letters: [(mailboxId: String, keyword: String, index: Int)]) throws {
        guard !letters.isEmpty else { return }
        try pool.write { db in
            for l in letters {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO keyword_letter(account, mailbox_id, keyword, idx) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [account, l.mailboxId, l.keyword, l.index])
            }
        }
    }

    /// The Session kept from the last run for `account`, if it was fetched from the same `source`
    /// (configured URL and user name).
    public func keptSession(account: String, source: String) throws -> (sessionURL: String, json: Data)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT session_url, json FROM session_cache WHERE account = ? AND source = ?",
                             arguments: [account, source]).map { ($0[0], $0[1]) }
        }
    }

    public func keepSession(account: String, source: String, sessionURL: String, json: Data) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO session_cache(account, source, session_url, json) VALUES (?, ?, ?, ?)",
                           arguments: [account, source, sessionURL, json])
        }
    }

    public func clearDirtyMailboxes(account: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM dirty_mailbox WHERE account = ?", arguments: [account]) }
    }

    /// Runs `body` over `values` in slices of 500 (under SQLite's bound-parameter limit), with the
    /// `?, ?, …` placeholder list for each slice.
    static func inChunks<T>(_ values: [String], _ body: ([String], String) throws -> [T]) rethrows -> [T] {
        var out: [T] = []
        for start in stride(from: 0, to: values.count, by: 500) {
            let chunk = Array(values[start..<min(start + 500, values.count)])
            out += try body(chunk, chunk.map { _ in "?" }.joined(separator: ","))
        }
        return out
    }

    static func encodeSet(_ s: Set<String>) -> String {
        JSONText.array(s.sorted())
    }

    static func decodeSet(_ s: String) -> Set<String> {
        Set(decodeSortedList(s))
    }

    /// `encodeSet`'s text back as its sorted list. Plain words are cut out of the UTF-8 bytes
    /// directly (a JSON decoder per row, then Foundation's `contains` and `components`, were most
    /// of a walk over 100k messages); anything escaped goes through a decoder.
    static func decodeSortedList(_ s: String) -> [String] {
        var text = s
        let plain: [String]? = text.withUTF8 { b in
            let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), backslash = UInt8(ascii: "\\")
            guard b.count >= 2, b[0] == UInt8(ascii: "["), b[b.count - 1] == UInt8(ascii: "]") else { return nil }
            if b.count == 2 { return [] }
            // ["a","b"]: without escapes a quote only ever delimits.
            guard b.count >= 4, b[1] == quote, b[b.count - 2] == quote, !b.contains(backslash) else { return nil }
            var out: [String] = []
            var start = 2
            var i = 2
            let end = b.count - 2
            while i < end {
                if b[i] == quote {
                    guard i + 2 < b.count, b[i + 1] == comma, b[i + 2] == quote else { return nil }
                    out.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
                    i += 3
                    start = i
                } else {
                    i += 1
                }
            }
            out.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self))
            return out
        }
        return plain ?? (try? JSONDecoder().decode([String].self, from: Data(s.utf8))) ?? []
    }
}
