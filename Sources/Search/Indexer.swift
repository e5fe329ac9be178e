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
        /// Messages compared with the catalog: those its journal named, or all of them (after a
        /// rebuild, a deleted snapshot, a renamed folder, or changes the journal did not see).
        public var compared = 0
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

    /// What the index should hold (every message on the server, and every one a snapshot keeps)
    /// against what it holds. After a sync, only the messages the catalog's journal names since
    /// the last update are compared (a sync after 100 flag changes at 100,000 messages spent
    /// 0.57 s walking them all); after a rebuild, a deleted snapshot, a renamed folder or a gap in
    /// the journal, every message is, walked side by side in order of message id: memory for the
    /// differences only, not for the account (a rebuild of 100k messages held 253 MB when both
    /// sides were dictionaries).
    private func update(account: String, catalog: Catalog, objects: ObjectStore, result: inout UpdateResult,
                        progress: (Int, Int) -> Void) throws {
        let token = try catalog.searchJournalToken() ?? catalog.startSearchJournal()
        let journal = try catalog.searchJournal(account: account, limit: 5_000)
        let history = try catalog.deletedEmailVersions(account: account)
        // Folder names: today's mailboxes, and for messages in mailboxes since destroyed, their last name.
        var mailboxes = Dictionary(try catalog.mailboxes(account: account).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for v in history.mailboxes where mailboxes[v.id] == nil {
            let json = try? JSONValue.decode(v.json)
            mailboxes[v.id] = MailboxRow(id: v.id, parentId: json?["parentId"]?.stringValue, name: json?["name"]?.stringValue ?? v.id,
                                         role: nil, json: v.json)
        }
        let paths = Self.folderPaths(Array(mailboxes.values))
        let folders = paths.sorted { $0.key < $1.key }.map { "\($0.key)\t\($0.value)" }.joined(separator: "\n")
        let kept = history.emails.filter { $0.sha256.map(objects.contains) == true }
            .sorted { $0.id.precedesInBytes($1.id) }
        let keptById = Dictionary(kept.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func keptFacts(_ v: VersionRow) -> IndexedFacts { IndexedFacts(kept: v, paths: paths) }

        let followed = try db.read { db in
            try Row.fetchOne(db, sql: "SELECT token, folders FROM journal WHERE account = ?", arguments: [account])
        }
        let changed: Set<String>? = followed.flatMap { r in
            (r[0] as String) == token && (r[1] as String) == folders ? journal.ids : nil
        }

        var toRead: [(id: String, replaces: Int64?)] = []
        var toUpdate: [(Int64, IndexedFacts)] = []
        var gone: [Int64] = []
        if let changed {
            result.compared += changed.count
            let current = try catalog.emails(account: account, ids: Array(changed))
            try db.read { db in
                let known = try db.cachedStatement(sql: "SELECT id, sha256, fingerprint FROM doc WHERE account = ? AND email_id = ?")
                for id in changed.sorted(by: { $0.precedesInBytes($1) }) {
                    var facts: IndexedFacts?
                    if let e = current[id] {
                        // Not downloaded yet: out of the index until the next sync brings it, as in the walk.
                        facts = e.sha256.map { sha in
                            IndexedFacts(sha256: sha, received: e.receivedAt, size: e.size, keywords: e.keywords.sorted(),
                                         folders: e.mailboxIds.compactMap { paths[$0] }.sorted())
                        }
                    } else if let v = keptById[id] {
                        facts = keptFacts(v)
                    }
                    let row = try Row.fetchOne(known, arguments: [account, id])
                    switch (facts, row) {
                    case (nil, nil): break
                    case let (nil, row?): gone.append(row[0])
                    case (_?, nil): toRead.append((id, nil))
                    case let (f?, row?):
                        if row[1] as String != f.sha256 {
                            toRead.append((id, row[0]))
                        } else if row[2] as String != f.fingerprint {
                            toUpdate.append((row[0], f))
                        }
                    }
                }
            }
        } else {
            try db.read { db in
                let known = try Row.fetchCursor(db, sql: "SELECT id, email_id, sha256, fingerprint FROM doc WHERE account = ? ORDER BY email_id",
                                                arguments: [account])
                // Columns by position (id, email_id, sha256, fingerprint): a lookup by name lowercases
                // it, four times per message of the account.
                var k = try known.next()
                func consider(_ id: String, _ facts: IndexedFacts) throws {
                    while let row = k, (row[1] as String).precedesInBytes(id) {
                        gone.append(row[0])
                        k = try known.next()
                    }
                    guard let row = k, row[1] as String == id else { return toRead.append((id, nil)) }
                    if row[2] as String != facts.sha256 {
                        toRead.append((id, row[0]))
                    } else if row[3] as String != facts.fingerprint {
                        toUpdate.append((row[0], facts))
                    }
                    k = try known.next()
                }
                var h = 0
                try catalog.forEachEmailFacts(account: account) { e in
                    result.compared += 1
                    while h < kept.count, kept[h].id.precedesInBytes(e.id) { try consider(kept[h].id, keptFacts(kept[h])); h += 1 }
                    if h < kept.count, kept[h].id == e.id { h += 1 }  // on the server again: the current one counts
                    guard let sha = e.sha256 else { return }  // not downloaded yet: the next sync brings it
                    try consider(e.id, IndexedFacts(sha256: sha, received: e.receivedAt, size: e.size, keywords: e.keywords,
                                                    folders: e.mailboxIds.compactMap { paths[$0] }.sorted()))
                }
                while h < kept.count { try consider(kept[h].id, keptFacts(kept[h])); h += 1 }
                while let row = k { gone.append(row["id"]); k = try known.next() }
            }
        }
        try db.write { db in
            for (id, f) in toUpdate {
                try db.execute(sql: """
                    UPDATE doc SET received = ?, size = ?, keywords = ?, folders = ?, fingerprint = ?, deleted = ? WHERE id = ?
                    """, arguments: [f.received?.timeIntervalSince1970, f.size, f.keywordText, f.folderText, f.fingerprint,
                                     f.deleted ? 1 : 0, id])
                if f.deleted { result.markedDeleted += 1 } else { result.updated += 1 }
            }
            for id in gone {
                try db.execute(sql: "DELETE FROM doc WHERE id = ?", arguments: [id])  // its terms stay, unreachable
                result.removed += 1
            }
        }

        // New bytes: read in batches, each committed alone. The next batch is read (GMime, on
        // every core) while this one goes into SQLite (on one): they took turns before, and a
        // 10k build spent half its time with a core idle.
        let batches = stride(from: 0, to: toRead.count, by: 200).map { Array(toRead[$0..<min($0 + 200, toRead.count)]) }
        let reader = BatchReader(account: account, catalog: catalog, objects: objects, paths: paths, kept: keptById)
        var done = 0
        var ahead = batches.first.map { b in Ahead { try reader.read(b) } }
        for i in batches.indices {
            guard let rows = try ahead?.wait() else { break }
            ahead = i + 1 < batches.count ? Ahead { [b = batches[i + 1]] in try reader.read(b) } : nil
            try db.write { db in
                for (id, replaces, f, t) in rows {
                    if let old = replaces { try db.execute(sql: "DELETE FROM doc WHERE id = ?", arguments: [old]) }
                    // Statements prepared once per batch, not once per message.
                    try db.cachedStatement(sql: """
                        INSERT INTO doc(account, email_id, sha256, thread_id, received, size, keywords, folders, subject, sender,
                            has_attachment, deleted, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [account, id, f.sha256, f.threadId, f.received?.timeIntervalSince1970, f.size, f.keywordText,
                                                  f.folderText, t.subject, t.from, t.hasAttachment ? 1 : 0, f.deleted ? 1 : 0, f.fingerprint])
                    try Self.insertText(db, rowid: db.lastInsertedRowID, t.indexColumns, rewritten: true)
                }
            }
            result.indexed += rows.count
            result.unreadable += rows.filter { $0.3.unreadable }.count
            done += rows.count
            progress(done, toRead.count)
        }
        // Caught up: the notes read are in the index, and only now may they go. A crash before
        // this leaves them to be read again, which then changes nothing.
        try db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO journal(account, token, folders) VALUES (?, ?, ?)",
                           arguments: [account, token, folders])
        }
        try catalog.consumeSearchJournal(account: account, through: journal.through)
    }

    /// A message's words: subject, sender, recipients, body, attachment names, other headers.
    /// `rewritten`: the columns already went through `CJKPairs` (on the reading threads).
    static func insertText(_ db: Database, rowid: Int64, _ columns: [String], rewritten: Bool = false) throws {
        try db.cachedStatement(sql: "INSERT INTO text(rowid, subject, sender, recipients, body, attachment, other) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: StatementArguments([rowid as DatabaseValueConvertible]
                + columns.map { (rewritten ? $0 : CJKPairs.rewrite($0)) as DatabaseValueConvertible }))
    }

    /// Builds a new index beside the old one and puts it in its place when done: a rebuild that is
    /// stopped half-way leaves the old index as it was (and the next sync keeps that one current).
    public static func rebuild(path: String, catalog: Catalog, objects: ObjectStore, accounts: [String],
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> (UpdateResult, Int64) {
        guard let lock = try SearchIndex.lock(index: path, exclusive: true, wait: true) else { throw SearchError("\(path).lock: not taken") }
        defer { withExtendedLifetime(lock) {} }
        let fresh = path + ".new"
        for p in [fresh, fresh + "-wal", fresh + "-shm"] { try? FileManager.default.removeItem(atPath: p) }
        var result: UpdateResult
        var bytes: Int64
        do {
            let index = try SearchIndex(path: fresh)
            // A new journal: the old index's notes are of no use to a walk of everything.
            _ = try catalog.startSearchJournal()
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

extension IndexedFacts {
    /// A message no longer on the server, as the last version a snapshot keeps has it.
    init(kept v: VersionRow, paths: [String: String]) {
        self.init(sha256: v.sha256 ?? "", received: v.receivedAt, size: v.size, keywords: v.keywords.sorted(),
                  folders: v.mailboxIds.compactMap { paths[$0] }.sorted(), deleted: true)
    }
}

/// Reads one batch of messages for the index: their facts from the catalog (read again now: a
/// message of the server, or one a snapshot keeps) and their text, parsed on every core.
private struct BatchReader: Sendable {
    let account: String
    let catalog: Catalog
    let objects: ObjectStore
    let paths: [String: String]
    let kept: [String: VersionRow]

    func read(_ batch: [(id: String, replaces: Int64?)]) throws -> [(String, Int64?, IndexedFacts, MessageText)] {
        let current = try catalog.emails(account: account, ids: batch.map(\.id).filter { kept[$0] == nil })
        var items: [(id: String, replaces: Int64?, json: Data, facts: IndexedFacts)] = []
        for (id, replaces) in batch {
            if let e = current[id], let sha = e.sha256 {
                items.append((id, replaces, e.json, IndexedFacts(sha256: sha, received: e.receivedAt, size: e.size, keywords: e.keywords.sorted(),
                                                                 folders: e.mailboxIds.compactMap { paths[$0] }.sorted())))
            } else if let v = kept[id] {
                items.append((id, replaces, v.json, IndexedFacts(kept: v, paths: paths)))
            }
        }
        let read = ReadResults(count: items.count)
        let files = items.map { objects.path($0.facts.sha256) }
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            do {
                read.set(i, .success(try MessageText.read(path: files[i])))
            } catch {
                read.set(i, .failure(error))
            }
        }
        var rows: [(String, Int64?, IndexedFacts, MessageText)] = []
        for (i, item) in items.enumerated() {
            var facts = item.facts
            facts.threadId = (try? JSONValue.decode(item.json))?["threadId"]?.stringValue
            switch read.get(i) {
            case var .success(text):
                text.prepareIndexColumns()
                rows.append((item.id, item.replaces, facts, text))
            case .failure(MessageText.Failure.noMimeLibrary): throw MessageText.Failure.noMimeLibrary
            default:
                var unreadable = MessageText()
                unreadable.unreadable = true
                rows.append((item.id, item.replaces, facts, unreadable))
            }
        }
        return rows
    }
}

/// Work started on another thread now, its result taken later.
private final class Ahead<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?

    init(_ work: @escaping @Sendable () throws -> T) {
        DispatchQueue.global().async {
            self.result = Result(catching: work)
            self.done.signal()
        }
    }

    func wait() throws -> T {
        done.wait()
        return try result!.get()
    }
}

private final class ReadResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<MessageText, Error>?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<MessageText, Error>) { lock.withLock { results[i] = r } }
    func get(_ i: Int) -> Result<MessageText, Error> { lock.withLock { results[i] ?? .failure(MessageText.Failure.unreadable) } }
}
