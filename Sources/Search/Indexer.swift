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
        /// Messages gone from the account that snapshots keep: found with `--history`.
        public var markedDeleted = 0
        /// Messages no snapshot keeps any more: out of the index.
        public var removed = 0
        /// Messages that could not be read as mail at all (indexed by their facts only).
        public var unreadable = 0
        /// Contacts and events indexed, changed or removed.
        public var items = 0
        public var seconds = 0.0
    }

    /// Brings the index up to date with the catalog: every message on the server, and every one a
    /// kept snapshot holds (marked deleted, for `--history`). Reads the messages it has not seen
    /// (or whose bytes changed), updates the facts of the others, drops what no snapshot keeps.
    /// Safe to stop at any instant: each batch commits alone, and the next run compares again.
    public func update(catalog: Catalog, objects: ObjectStore, accounts: [String],
                       progress: (Int, Int) -> Void = { _, _ in }) throws -> UpdateResult {
        let started = Date()
        var result = UpdateResult()
        for account in accounts {
            // Read before the work: a sync that lands meanwhile leaves the index behind, never ahead.
            let gen = try catalog.historyGeneration(account: account)
            try update(account: account, catalog: catalog, objects: objects, result: &result, progress: progress)
            result.items += try updateItems(account: account, catalog: catalog)
            try db.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO generation(account, gen) VALUES (?, ?)", arguments: [account, gen])
            }
        }
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    private struct Known { var id: Int64; var sha256: String; var fingerprint: String; var deleted: Bool }

    private func update(account: String, catalog: Catalog, objects: ObjectStore, result: inout UpdateResult,
                        progress: (Int, Int) -> Void) throws {
        let emails = try catalog.emails(account: account)
        let history = try catalog.deletedEmailVersions(account: account)
        // Folder names: today's mailboxes, and for messages in mailboxes since destroyed, their last name.
        var mailboxes = Dictionary(try catalog.mailboxes(account: account).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for v in history.mailboxes where mailboxes[v.id] == nil {
            let json = try? JSONValue.decode(v.json)
            mailboxes[v.id] = MailboxRow(id: v.id, parentId: json?["parentId"]?.stringValue, name: json?["name"]?.stringValue ?? v.id,
                                         role: nil, json: v.json)
        }
        let paths = Self.folderPaths(Array(mailboxes.values))
        var known: [String: Known] = [:]
        try db.read { db in
            for r in try Row.fetchAll(db, sql: "SELECT id, email_id, sha256, fingerprint, deleted FROM doc WHERE account = ?", arguments: [account]) {
                known[r["email_id"]] = Known(id: r["id"], sha256: r["sha256"], fingerprint: r["fingerprint"], deleted: r["deleted"] != 0)
            }
        }
        // What the index should hold: every message on the server, and every one a snapshot keeps.
        var wanted: [String: (json: Data, facts: IndexedFacts)] = [:]
        for e in emails.values {
            guard let sha = e.sha256 else { continue }  // not downloaded yet: the next sync brings it
            wanted[e.id] = (e.json, IndexedFacts(sha256: sha, received: e.receivedAt, size: e.size, keywords: e.keywords.sorted(),
                                                 folders: e.mailboxIds.compactMap { paths[$0] }.sorted()))
        }
        for v in history.emails where wanted[v.id] == nil {
            guard let sha = v.sha256, objects.contains(sha) else { continue }
            wanted[v.id] = (v.json, IndexedFacts(sha256: sha, received: v.receivedAt, size: v.size, keywords: v.keywords.sorted(),
                                                 folders: v.mailboxIds.compactMap { paths[$0] }.sorted(), deleted: true))
        }
        var toRead: [(String, Data, IndexedFacts)] = []
        var toUpdate: [(Int64, IndexedFacts)] = []
        for (id, w) in wanted {
            if let k = known[id], k.sha256 == w.facts.sha256 {
                if k.fingerprint != w.facts.fingerprint { toUpdate.append((k.id, w.facts)) }
            } else {
                toRead.append((id, w.json, w.facts))
            }
        }
        let gone = known.filter { wanted[$0.key] == nil }

        try db.write { db in
            for (id, f) in toUpdate {
                try db.execute(sql: """
                    UPDATE doc SET received = ?, size = ?, keywords = ?, folders = ?, fingerprint = ?, deleted = ? WHERE id = ?
                    """, arguments: [f.received?.timeIntervalSince1970, f.size, f.keywordText, f.folderText, f.fingerprint,
                                     f.deleted ? 1 : 0, id])
                if f.deleted { result.markedDeleted += 1 } else { result.updated += 1 }
            }
            for k in gone.values {
                try db.execute(sql: "DELETE FROM doc WHERE id = ?", arguments: [k.id])  // its terms stay, unreachable
                result.removed += 1
            }
        }

        // New bytes: read in batches, each committed alone.
        var done = 0
        for batch in stride(from: 0, to: toRead.count, by: 200).map({ toRead[$0..<min($0 + 200, toRead.count)] }) {
            // Messages are read on every core (GMime parses separate messages independently);
            // SQLite then takes them on one.
            let items = Array(batch)
            let read = ReadResults(count: items.count)
            DispatchQueue.concurrentPerform(iterations: items.count) { i in
                do {
                    read.set(i, .success(try MessageText.read(path: objects.path(items[i].2.sha256))))
                } catch {
                    read.set(i, .failure(error))
                }
            }
            var rows: [(String, IndexedFacts, MessageText)] = []
            for (i, (id, json, f)) in items.enumerated() {
                var facts = f
                facts.threadId = (try? JSONValue.decode(json))?["threadId"]?.stringValue
                switch read.get(i) {
                case let .success(text): rows.append((id, facts, text))
                case .failure(MessageText.Failure.noMimeLibrary): throw MessageText.Failure.noMimeLibrary
                default:
                    rows.append((id, facts, MessageText()))
                    result.unreadable += 1
                }
            }
            try db.write { db in
                for (id, f, t) in rows {
                    if let old = known[id] { try db.execute(sql: "DELETE FROM doc WHERE id = ?", arguments: [old.id]) }
                    try db.execute(sql: """
                        INSERT INTO doc(account, email_id, sha256, thread_id, received, size, keywords, folders, subject, sender,
                            has_attachment, deleted, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [account, id, f.sha256, f.threadId, f.received?.timeIntervalSince1970, f.size, f.keywordText,
                                         f.folderText, t.subject, t.from, t.hasAttachment ? 1 : 0, f.deleted ? 1 : 0, f.fingerprint])
                    let other = ([t.messageId, t.listId, t.replyTo] + t.attachmentTypes).filter { !$0.isEmpty }.joined(separator: " ")
                    try Self.insertText(db, rowid: db.lastInsertedRowID, [t.subject, t.from, t.recipients, t.body,
                                                                         t.attachmentNames.joined(separator: " "), other])
                }
            }
            result.indexed += rows.count
            done += rows.count
            progress(done, toRead.count)
        }
    }

    /// A message's words: subject, sender, recipients, body, attachment names, other headers.
    static func insertText(_ db: Database, rowid: Int64, _ columns: [String]) throws {
        try db.execute(sql: "INSERT INTO text(rowid, subject, sender, recipients, body, attachment, other) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: StatementArguments([rowid as DatabaseValueConvertible] + columns.map { CJKPairs.rewrite($0) as DatabaseValueConvertible }))
    }

    /// Builds a new index beside the old one and puts it in its place when done: a rebuild that is
    /// stopped half-way leaves the old index as it was (and the next sync keeps that one current).
    public static func rebuild(path: String, catalog: Catalog, objects: ObjectStore, accounts: [String],
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> (UpdateResult, Int64) {
        let fresh = path + ".new"
        for p in [fresh, fresh + "-wal", fresh + "-shm"] { try? FileManager.default.removeItem(atPath: p) }
        var result: UpdateResult
        var bytes: Int64
        do {
            let index = try SearchIndex(path: fresh)
            result = try index.update(catalog: catalog, objects: objects, accounts: accounts, progress: progress)
            // Everything into the main file, so that no WAL belongs to it when it moves.
            try index.db.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
            }
            bytes = index.bytes
        }
        // The old index's WAL would be read into the new file: it goes first (losing it loses
        // nothing the next sync does not put back).
        for p in [path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: p) }
        guard rename(fresh, path) == 0 else { throw SearchError("\(path): \(String(cString: strerror(errno)))") }
        return (result, bytes)
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

private final class ReadResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<MessageText, Error>?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<MessageText, Error>) { lock.withLock { results[i] = r } }
    func get(_ i: Int) -> Result<MessageText, Error> { lock.withLock { results[i] ?? .failure(MessageText.Failure.unreadable) } }
}
