import Foundation
import GRDB

// The search index's journal. The index lives in its own file, so it cannot share the catalog's
// transactions; instead the catalog notes, in the same transaction as each change, which message
// it touched (`search_journal`, filled by triggers so that no writer can forget it). After a sync
// the index reads the messages noted, updates itself, commits, and only then deletes the notes it
// read: a crash in between makes it read them again, which changes nothing the second time.
//
// The notes are kept only while an index follows the catalog (`search_follow` holds a token,
// which the index keeps too): with no index there is nothing to pay for, and an index that finds
// another token (or none) knows that changes went unnoted and walks the whole account once.

extension Catalog {
    static func registerSearchJournal(_ m: inout DatabaseMigrator) {
        m.registerMigration("v15: search journal") { db in
            // `gen_to IS NOT NULL`: messages a snapshot keeps after the server deleted them are
            // found through this, not by reading every version of the account (118 ms at 100k).
            try db.execute(sql: """
                CREATE INDEX version_closed ON version(account, type, id) WHERE gen_to IS NOT NULL;
                CREATE TABLE search_follow(token TEXT NOT NULL);
                CREATE TABLE search_journal(seq INTEGER PRIMARY KEY, account TEXT NOT NULL, email_id TEXT NOT NULL);
                CREATE INDEX search_journal_account ON search_journal(account, seq);
                CREATE TRIGGER search_email_insert AFTER INSERT ON email WHEN EXISTS (SELECT 1 FROM search_follow)
                    BEGIN INSERT INTO search_journal(account, email_id) VALUES (NEW.account, NEW.id); END;
                CREATE TRIGGER search_email_update AFTER UPDATE ON email WHEN EXISTS (SELECT 1 FROM search_follow)
                    BEGIN INSERT INTO search_journal(account, email_id) VALUES (NEW.account, NEW.id); END;
                CREATE TRIGGER search_email_delete AFTER DELETE ON email WHEN EXISTS (SELECT 1 FROM search_follow)
                    BEGIN INSERT INTO search_journal(account, email_id) VALUES (OLD.account, OLD.id); END;
                CREATE TRIGGER search_snapshot_delete AFTER DELETE ON snapshot WHEN EXISTS (SELECT 1 FROM search_follow)
                    BEGIN INSERT INTO search_journal(account, email_id) VALUES (OLD.account, '*'); END;
                """)
        }
    }

    /// The messages of `account` changed since the index last consumed the journal, and the last
    /// note read. `ids` is nil when the index must look at everything: a snapshot was deleted
    /// (what `--history` finds changed), or more changed than reading them one by one is worth.
    public struct SearchJournal: Sendable {
        public var ids: Set<String>?
        public var through: Int64
    }

    /// The token of the index that follows the catalog, nil when none does.
    public func searchJournalToken() throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT token FROM search_follow") }
    }

    /// Starts noting changes for an index, with a new token; the notes so far are dropped (the
    /// index that asks walks the whole account anyway).
    public func startSearchJournal() throws -> String {
        let token = UUID().uuidString
        try pool.write { db in
            try db.execute(sql: "DELETE FROM search_follow; DELETE FROM search_journal")
            try db.execute(sql: "INSERT INTO search_follow(token) VALUES (?)", arguments: [token])
        }
        return token
    }

    /// No index any more: no more notes.
    public func stopSearchJournal() throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM search_follow; DELETE FROM search_journal") }
    }

    public func searchJournal(account: String, limit: Int) throws -> SearchJournal {
        try pool.read { db in
            let through = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM search_journal WHERE account = ?", arguments: [account]) ?? 0
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM search_journal WHERE account = ? AND seq <= ?",
                                         arguments: [account, through]) ?? 0
            if count > limit { return SearchJournal(ids: nil, through: through) }
            let ids = Set(try String.fetchAll(db, sql: "SELECT email_id FROM search_journal WHERE account = ? AND seq <= ?",
                                              arguments: [account, through]))
            return SearchJournal(ids: ids.contains("*") ? nil : ids, through: through)
        }
    }

    /// Drops the notes read (call once the index committed what they said).
    public func consumeSearchJournal(account: String, through: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM search_journal WHERE account = ? AND seq <= ?", arguments: [account, through])
        }
    }
}
