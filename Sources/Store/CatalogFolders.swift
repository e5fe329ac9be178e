import Foundation
import GRDB

// What jmirror last left in each Maildir folder, as the mtimes of its cur/ and new/: when they
// differ at the next run, someone else (a mail reader, a user, a lost catalog) changed the folder,
// and the view lists it and converges it back to the catalog.
extension Catalog {
    static func registerFolders(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6: folder signatures") { db in
            try db.execute(sql: """
                CREATE TABLE folder_seen(account TEXT NOT NULL, folder TEXT NOT NULL, signature TEXT NOT NULL,
                    PRIMARY KEY(account, folder));
                """)
        }
        m.registerMigration("v7: scrub cursor") { db in
            try db.execute(sql: "CREATE TABLE scrub(id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT NOT NULL)")
        }
    }

    static func registerDovecotLayout(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9: Dovecot's folder names and $Forwarded") { db in
            // The Maildir layout changed (folder names as Dovecot writes them, a keyword letter for
            // $forwarded): journalling every mailbox, and every forwarded message, makes the next
            // sync's view pass move each folder and rename each file, crash-safe as any change.
            try db.execute(sql: """
                INSERT OR IGNORE INTO dirty_mailbox(account, mailbox_id) SELECT account, id FROM mailbox;
                INSERT OR IGNORE INTO dirty_email(account, email_id) SELECT account, id FROM email
                    WHERE lower(keywords) LIKE '%"$forwarded"%';
                """)
        }
    }

    /// The next objects of the rolling scrub: current messages' objects after `cursor` in SHA-256
    /// order, up to `bytes`; wraps around at the end.
    public func scrubBatch(bytes: Int64) throws -> [(sha256: String, size: Int64)] {
        try pool.read { db in
            let cursor = try String.fetchOne(db, sql: "SELECT cursor FROM scrub WHERE id = 1") ?? ""
            var out: [(String, Int64)] = []
            var taken = Set<String>()
            var total: Int64 = 0
            for pass in [cursor, ""] where total < bytes {
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT DISTINCT sha256, size FROM email WHERE sha256 IS NOT NULL AND sha256 > ? ORDER BY sha256
                    """, arguments: [pass])
                while let r = try rows.next(), total < bytes {
                    let sha: String = r[0]
                    guard taken.insert(sha).inserted else { break }
                    out.append((sha, r[1]))
                    total += r[1]
                }
                if pass.isEmpty { break }
            }
            return out
        }
    }

    public func setScrubCursor(_ sha256: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO scrub(id, cursor) VALUES (1, ?)", arguments: [sha256])
        }
    }

    public func folderSignatures(account: String) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT folder, signature FROM folder_seen WHERE account = ?", arguments: [account]) {
                out[r[0]] = r[1]
            }
            return out
        }
    }

    /// Replaces the account's signatures (folders no longer rendered are dropped).
    public func setFolderSignatures(account: String, _ signatures: [String: String]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM folder_seen WHERE account = ?", arguments: [account])
            for (folder, sig) in signatures {
                try db.execute(sql: "INSERT INTO folder_seen(account, folder, signature) VALUES (?, ?, ?)", arguments: [account, folder, sig])
            }
        }
    }

    /// The rendered files of one folder (`""` is the inbox at the root), path → email id. (SQLite's
    /// substr counts code points, not bytes.)
    public func renderedPaths(account: String, folder: String) throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            let rows: [Row]
            if folder.isEmpty {
                rows = try Row.fetchAll(db, sql: "SELECT path, email_id FROM rendered WHERE account = ? AND (path LIKE 'cur/%' OR path LIKE 'new/%')",
                                        arguments: [account])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT path, email_id FROM rendered WHERE account = ? AND substr(path, 1, ?) = ?",
                                        arguments: [account, folder.unicodeScalars.count + 1, folder + "/"])
            }
            for r in rows { out[r[0]] = r[1] }
            return out
        }
    }

    public func markEmailsDirty(account: String, ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try pool.write { db in
            for id in ids {
                try db.execute(sql: "INSERT OR IGNORE INTO dirty_email(account, email_id) VALUES (?, ?)", arguments: [account, id])
            }
        }
    }
}
