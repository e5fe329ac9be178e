import Foundation
import GRDB
import JMAP
import Store

extension SearchIndex {
    public struct UpdateResult: Sendable, Codable, Equatable {
        /// Messages read and indexed (new, or new bytes).
        public var indexed = 0
        /// Messages whose folders, keywords or dates changed.
        public var updated = 0
        /// Messages gone from the account, kept for `--history`.
        public var markedDeleted = 0
        /// Messages whose object is gone too (pruned): out of the index.
        public var removed = 0
        /// Messages that could not be read as mail at all (indexed by their facts only).
        public var unreadable = 0
        public var seconds = 0.0
    }

    /// Brings the index up to date with the catalog: reads the messages it has not seen (or whose
    /// bytes changed), updates the facts of the others, and marks those gone from the server. Safe
    /// to stop at any instant (each batch commits alone, and the next run compares again).
    public func update(catalog: Catalog, objects: ObjectStore, accounts: [String],
                       progress: (Int, Int) -> Void = { _, _ in }) throws -> UpdateResult {
        let started = Date()
        var result = UpdateResult()
        for account in accounts {
            try update(account: account, catalog: catalog, objects: objects, result: &result, progress: progress)
        }
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    private struct Known { var id: Int64; var sha256: String; var fingerprint: String; var deleted: Bool }

    private func update(account: String, catalog: Catalog, objects: ObjectStore, result: inout UpdateResult,
                        progress: (Int, Int) -> Void) throws {
        let paths = Self.folderPaths(try catalog.mailboxes(account: account))
        let emails = try catalog.emails(account: account)
        var known: [String: Known] = [:]
        try db.read { db in
            for r in try Row.fetchAll(db, sql: "SELECT id, email_id, sha256, fingerprint, deleted FROM doc WHERE account = ?", arguments: [account]) {
                known[r["email_id"]] = Known(id: r["id"], sha256: r["sha256"], fingerprint: r["fingerprint"], deleted: r["deleted"] != 0)
            }
        }
        var toRead: [(EmailRow, IndexedFacts)] = []
        var toUpdate: [(Int64, IndexedFacts)] = []
        for e in emails.values {
            guard let sha = e.sha256 else { continue }  // not downloaded yet: the next sync brings it
            let facts = IndexedFacts(sha256: sha, threadId: nil, received: e.receivedAt, size: e.size, keywords: e.keywords.sorted(),
                                     folders: e.mailboxIds.compactMap { paths[$0] }.sorted())
            if let k = known[e.id], k.sha256 == sha {
                if k.fingerprint != facts.fingerprint || k.deleted { toUpdate.append((k.id, facts)) }
            } else {
                toRead.append((e, facts))
            }
        }
        let gone = known.filter { emails[$0.key] == nil && !$0.value.deleted }

        try db.write { db in
            for (id, f) in toUpdate {
                try db.execute(sql: """
                    UPDATE doc SET received = ?, size = ?, keywords = ?, folders = ?, fingerprint = ?, deleted = 0 WHERE id = ?
                    """, arguments: [f.received?.timeIntervalSince1970, f.size, f.keywordText, f.folderText, f.fingerprint, id])
            }
            for (emailId, k) in gone {
                if FileManager.default.fileExists(atPath: objects.path(k.sha256)) {
                    try db.execute(sql: "UPDATE doc SET deleted = 1 WHERE id = ?", arguments: [k.id])
                    result.markedDeleted += 1
                } else {
                    try db.execute(sql: "DELETE FROM text WHERE rowid = ?", arguments: [k.id])
                    try db.execute(sql: "DELETE FROM doc WHERE id = ?", arguments: [k.id])
                    result.removed += 1
                }
                _ = emailId
            }
        }
        result.updated += toUpdate.count

        // New bytes: read in batches, each committed alone.
        var done = 0
        for batch in stride(from: 0, to: toRead.count, by: 500).map({ toRead[$0..<min($0 + 500, toRead.count)] }) {
            var rows: [(EmailRow, IndexedFacts, MessageText, Bool)] = []
            for (e, f) in batch {
                var facts = f
                facts.threadId = (try? JSONValue.decode(e.json))?["threadId"]?.stringValue
                do {
                    rows.append((e, facts, try MessageText.read(path: objects.path(f.sha256)), true))
                } catch MessageText.Failure.noMimeLibrary {
                    throw MessageText.Failure.noMimeLibrary
                } catch {
                    rows.append((e, facts, MessageText(), false))
                    result.unreadable += 1
                }
            }
            try db.write { db in
                for (e, f, t, _) in rows {
                    if let old = known[e.id] {
                        try db.execute(sql: "DELETE FROM text WHERE rowid = ?", arguments: [old.id])
                        try db.execute(sql: "DELETE FROM doc WHERE id = ?", arguments: [old.id])
                    }
                    try db.execute(sql: """
                        INSERT INTO doc(account, email_id, sha256, thread_id, received, size, keywords, folders, subject, sender,
                            has_attachment, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [account, e.id, f.sha256, f.threadId, f.received?.timeIntervalSince1970, f.size, f.keywordText,
                                         f.folderText, t.subject, t.from, t.hasAttachment ? 1 : 0, f.fingerprint])
                    let other = ([t.messageId, t.listId, t.replyTo] + t.attachmentTypes).filter { !$0.isEmpty }.joined(separator: " ")
                    try db.execute(sql: "INSERT INTO text(rowid, subject, sender, recipients, body, attachment, other) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   arguments: [db.lastInsertedRowID, t.subject, t.from, t.recipients, t.body,
                                               t.attachmentNames.joined(separator: " "), other])
                }
            }
            result.indexed += rows.count
            done += rows.count
            progress(done, toRead.count)
        }
    }

    /// Mailbox id → its path from the top, names joined by `/` ("Archive/2024"), as `in:` takes it.
    static func folderPaths(_ mailboxes: [MailboxRow]) -> [String: String] {
        let byId = Dictionary(mailboxes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [String: String] = [:]
        for m in mailboxes {
            var names = [m.name]
            var parent = m.parentId
            var guardCount = 0
            while let p = parent, let pm = byId[p], guardCount < 64 {
                names.insert(pm.name, at: 0)
                parent = pm.parentId
                guardCount += 1
            }
            out[m.id] = names.joined(separator: "/")
        }
        return out
    }
}
