import Foundation
import GRDB
import JMAP
import Store

/// Something the user must change (exit 64): no index yet, an unknown id, a malformed query.
public struct SearchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum SearchSort: String, Sendable, CaseIterable {
    case newest, oldest, relevance
}

public struct SearchOptions: Sendable {
    public var accounts: [String] = []
    /// Also messages no longer on the server (kept by snapshots).
    public var history = false
    public var limit: Int?
    public var sort: SearchSort = .newest

    public init() {}
}

/// One message found.
public struct SearchHit: Sendable, Codable, Equatable {
    public var account: String
    /// The JMAP Email id; with the account, what `jmirror show` takes (`account/id`).
    public var id: String
    public var threadId: String?
    public var date: Date?
    public var from: String
    public var subject: String
    public var size: Int
    public var sha256: String
    /// No longer on the server (only with `--history`).
    public var deleted: Bool
    // As the index stores them ("\nA\nA/B\n", " $seen $flagged "), split when asked: splitting
    // every hit's lists was a fifth of a 100,000-result query that prints only ids.
    var folderText: String
    var keywordText: String

    public var folders: [String] { folderText.split(separator: "\n").map(String.init) }
    public var keywords: [String] { keywordText.split(separator: " ").map(String.init) }

    enum CodingKeys: String, CodingKey {
        case account, id, threadId, date, from, subject, folders, keywords, size, sha256, deleted
    }

    init(account: String, id: String, threadId: String?, date: Date?, from: String, subject: String, folderText: String,
         keywordText: String, size: Int, sha256: String, deleted: Bool) {
        (self.account, self.id, self.threadId, self.date, self.from, self.subject) = (account, id, threadId, date, from, subject)
        (self.folderText, self.keywordText, self.size, self.sha256, self.deleted) = (folderText, keywordText, size, sha256, deleted)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(account: try c.decode(String.self, forKey: .account), id: try c.decode(String.self, forKey: .id),
                  threadId: try c.decodeIfPresent(String.self, forKey: .threadId), date: try c.decodeIfPresent(Date.self, forKey: .date),
                  from: try c.decode(String.self, forKey: .from), subject: try c.decode(String.self, forKey: .subject),
                  folderText: "\n" + (try c.decode([String].self, forKey: .folders)).joined(separator: "\n") + "\n",
                  keywordText: " " + (try c.decode([String].self, forKey: .keywords)).joined(separator: " ") + " ",
                  size: try c.decode(Int.self, forKey: .size), sha256: try c.decode(String.self, forKey: .sha256),
                  deleted: try c.decode(Bool.self, forKey: .deleted))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(account, forKey: .account)
        try c.encode(id, forKey: .id)
        try c.encodeIfPresent(threadId, forKey: .threadId)
        try c.encodeIfPresent(date, forKey: .date)
        try c.encode(from, forKey: .from)
        try c.encode(subject, forKey: .subject)
        try c.encode(folders, forKey: .folders)
        try c.encode(keywords, forKey: .keywords)
        try c.encode(size, forKey: .size)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(deleted, forKey: .deleted)
    }
}

extension SearchIndex {
    public func search(_ query: Query, options: SearchOptions = SearchOptions()) throws -> [SearchHit] {
        try search(query, options: options, extra: nil)
    }

    /// The same matches in the same order, handed over a few thousand at a time as they are read:
    /// printing every one of 100,000 matches held them all (113 MB) before the first line.
    public func search(_ query: Query, options: SearchOptions = SearchOptions(), each: ([SearchHit]) throws -> Void) throws {
        try db.read { db in try search(db, query, options: options, from: ("doc d", []), extra: nil, each: each) }
    }

    /// The messages one snapshot of `account` held, with the folders and keywords they had in it:
    /// `in:` and `is:` ask about that moment, not about today. Messages deleted since are marked so.
    public func search(_ query: Query, snapshotOf account: String, generation: Int64, catalog: Catalog,
                       options: SearchOptions = SearchOptions()) throws -> [SearchHit] {
        var all: [SearchHit] = []
        try search(query, snapshotOf: account, generation: generation, catalog: catalog, options: options) { all += $0 }
        return all
    }

    public func search(_ query: Query, snapshotOf account: String, generation: Int64, catalog: Catalog,
                       options: SearchOptions = SearchOptions(), each: ([SearchHit]) throws -> Void) throws {
        let mailboxes = try catalog.versions(account: account, generation: generation, types: ["Mailbox"]).map { v in
            let json = try? JSONValue.decode(v.json)
            return MailboxRow(id: v.id, parentId: json?["parentId"]?.stringValue, name: json?["name"]?.stringValue ?? v.id, role: nil, json: v.json)
        }
        let paths = Self.folderPaths(mailboxes)
        var options = options
        options.history = true
        options.accounts = []
        try db.inDatabase { db in
            // A temporary table of this connection: the snapshot's facts stand in for today's.
            try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS snap(email_id TEXT PRIMARY KEY, keywords TEXT NOT NULL, folders TEXT NOT NULL)")
            defer { try? db.execute(sql: "DROP TABLE temp.snap") }
            let insert = try db.makeStatement(sql: "INSERT OR REPLACE INTO temp.snap VALUES (?, ?, ?)")
            try catalog.forEachEmailVersion(account: account, generation: generation) { id, keywords, mailboxIds in
                let facts = IndexedFacts(sha256: "", received: nil, size: 0, keywords: keywords, folders: mailboxIds.compactMap { paths[$0] }.sorted())
                try insert.execute(arguments: [id, facts.keywordText, facts.folderText])
            }
            let source = """
                (SELECT doc.id, doc.account, doc.email_id, doc.sha256, doc.thread_id, doc.received, doc.size, s.keywords, s.folders,
                    doc.subject, doc.sender, doc.has_attachment, doc.deleted FROM doc JOIN temp.snap s ON s.email_id = doc.email_id
                 WHERE doc.account = ?) d
                """
            try search(db, query, options: options, from: (source, [account]), extra: nil, each: each)
        }
    }

    func search(_ query: Query, options: SearchOptions, extra: (String, [DatabaseValueConvertible?])?) throws -> [SearchHit] {
        var all: [SearchHit] = []
        try db.read { db in try search(db, query, options: options, from: ("doc d", []), extra: extra) { all += $0 } }
        return all
    }

    private func search(_ db: Database, _ query: Query, options: SearchOptions, from: (String, [DatabaseValueConvertible?]),
                        extra: (String, [DatabaseValueConvertible?])?, each: ([SearchHit]) throws -> Void) throws {
        func filter(probing dense: Set<String>) -> (String, [DatabaseValueConvertible?]) {
            var (condition, arguments) = Self.sql(query, probing: dense)
            if let extra {
                condition = "(\(condition)) AND \(extra.0)"
                arguments += extra.1
            }
            if !options.history && !query.mentionsDeleted { condition = "(\(condition)) AND d.deleted = 0" }
            if !options.accounts.isEmpty {
                condition = "(\(condition)) AND d.account IN (\(options.accounts.map { _ in "?" }.joined(separator: ",")))"
                arguments += options.accounts
            }
            return (condition, arguments)
        }
        let (condition, arguments) = filter(probing: [])
        // Ordered here, not by SQLite: sorting whole rows was most of a query matching 100,000
        // messages (its sorter moved 30 MB of rows). The ids and dates are found first, and only
        // the rows chosen are read, in row order, in a second pass.
        let keys: [(id: Int64, received: Double)]
        let ranked = options.sort == .relevance ? query.rankingExpression : nil
        if ranked == nil, let limit = options.limit, limit <= 1_000, from.0 == "doc d" {
            // A page of results (what a person reads): the date index yields matches newest first
            // and the scan stops at the limit. 20 of 100,000 matches: 23 ms of SQL instead of 50
            // ms for every match's date; with few matches it reads the whole index (9 ms at 100k).
            let direction = options.sort == .oldest ? "ASC" : "DESC"
            func page(_ condition: String, _ arguments: [DatabaseValueConvertible?], within rows: Int?) throws -> [(id: Int64, received: Double)] {
                let source = rows.map { "(SELECT * FROM doc INDEXED BY doc_received ORDER BY received \(direction), id \(direction) LIMIT \($0)) d" }
                    ?? "doc d INDEXED BY doc_received"
                let order = rows == nil ? "ORDER BY d.received \(direction), d.id \(direction)" : ""
                return try Row.fetchAll(db, sql: "SELECT d.id, d.received FROM \(source) WHERE \(condition) \(order) LIMIT \(max(0, limit))",
                                        arguments: StatementArguments(arguments)).map { ($0[0], ($0[1] as Double?) ?? -.infinity) }
            }
            // Words found in a large share of the messages are tested message by message along the
            // date index (a phrase of common words read whole cost 250 ms at 100k; its first 20
            // matches, 3 ms), over the newest 1,000 messages at most (twice what a term's share
            // should need); when those hold too few matches, the words are read whole after all.
            let dense = try denseTerms(db, query, limit: limit)
            var found: [(id: Int64, received: Double)] = []
            if !dense.isEmpty {
                let (probing, probeArguments) = filter(probing: dense)
                found = try page(probing, probeArguments, within: 1_000)
            }
            keys = found.count >= limit ? found : try page(condition, arguments, within: nil)
        } else {
            // Every match (or more than a page, or a ranking): ids and dates first, ordered here.
            // A ranking scores every match with one FTS5 cursor: bm25 needs each term's count of
            // documents, which a cursor computes once; asked once per match (a subquery per row),
            // ranking 100,000 matches took minutes. Best first, ties newest first; a match the
            // ranked words do not reach (only a NOT, a date) comes after every ranked one.
            var score: [Int64: Double] = [:]
            if let ranked {
                let scored = try Row.fetchCursor(db, sql: "SELECT rowid, bm25(text) FROM text WHERE text MATCH ?", arguments: [ranked])
                while let r = try scored.next() { score[r[0]] = r[1] }
            }
            var found: [(id: Int64, received: Double, score: Double)] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT d.id, d.received FROM \(from.0) WHERE \(condition)",
                                           arguments: StatementArguments(from.1 + arguments))
            // A message without a date sorts as the oldest, as SQLite orders NULL.
            while let r = try rows.next() {
                let id: Int64 = r[0]
                found.append((id, (r[1] as Double?) ?? -.infinity, ranked == nil ? 0 : score[id] ?? .infinity))
            }
            let oldest = ranked == nil && options.sort == .oldest
            found.sort { a, b in
                a.score != b.score ? a.score < b.score
                    : a.received != b.received ? (a.received < b.received) == oldest : (a.id < b.id) == oldest
            }
            keys = found.prefix(options.limit.map { max(0, $0) } ?? found.count).map { ($0.id, $0.received) }
        }
        // The rows are read a chunk at a time, each in row order (sequential pages), and put back
        // in the order chosen.
        let sql = "SELECT j.key, \(Self.hitColumns) FROM json_each(?) j CROSS JOIN \(from.0) ON d.id = j.value"
        let statement = try db.cachedStatement(sql: sql)
        var start = 0
        while start < keys.count {
            let part = keys[start..<min(start + 2_000, keys.count)]
            start += part.count
            let order = part.indices.sorted { part[$0].id < part[$1].id }
            var list = "["
            list.reserveCapacity(order.count * 8)
            for (i, k) in order.enumerated() {
                if i > 0 { list.append(",") }
                list.append(String(part[k].id))
            }
            list.append("]")
            var slots = [SearchHit?](repeating: nil, count: part.count)
            let rows = try Row.fetchCursor(statement, arguments: StatementArguments([list] + from.1))
            while let r = try rows.next() { slots[order[r[0] as Int] - part.startIndex] = Self.hit(r) }
            try each(slots.compactMap { $0 })
        }
    }

    // Columns by position: GRDB finds a column by name case-insensitively, lowercasing it, and 13
    // names per row were a tenth of a 2,000-result query's CPU time. Read from the row's column 1 on.
    static let hitColumns = """
        d.account, d.email_id, d.thread_id, d.received, d.sender, d.subject, d.folders, d.keywords, d.size, d.sha256, d.deleted
        """

    static func hit(_ r: Row) -> SearchHit {
        let received: Double? = r[4]
        return SearchHit(account: r[1], id: r[2], threadId: r[3], date: received.map(Date.init(timeIntervalSince1970:)),
                         from: r[5], subject: r[6], folderText: r[7], keywordText: r[8], size: r[9], sha256: r[10],
                         deleted: (r[11] as Int) != 0)
    }

    /// The indexed message with this id (in one account, or in any).
    public func find(account: String?, emailId: String) throws -> [SearchHit] {
        var options = SearchOptions()
        options.history = true
        if let account { options.accounts = [account] }
        return try search(.all, options: options, extra: ("d.email_id = ?", [emailId]))
    }

    /// The query's FTS5 expressions that match so many messages that testing them one message at
    /// a time finds `limit` matches within about 500 tests: counted up to that share, which stops
    /// early (a few ms even for a phrase), where reading them whole does not.
    private func denseTerms(_ db: Database, _ query: Query, limit: Int) throws -> Set<String> {
        let expressions = Set(query.ftsExpressions)
        guard !expressions.isEmpty, let docs = try Int.fetchOne(db, sql: "SELECT max(id) FROM doc"), docs > 0 else { return [] }
        let enough = max(50, limit * docs / 500)
        guard enough < docs else { return [] }
        return try expressions.filter { e in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM text WHERE text MATCH ? LIMIT \(enough))", arguments: [e]) == enough
        }
    }

    static func sql(_ q: Query, probing dense: Set<String> = []) -> (String, [DatabaseValueConvertible?]) {
        switch q {
        case .all: return ("1", [])
        case let .text(column, words, phrase, prefix):
            let e = Query.messageText(column, words, phrase: phrase, prefix: prefix)
            if dense.contains(e) { return ("EXISTS (SELECT 1 FROM text WHERE text MATCH ? AND rowid = d.id)", [e]) }
            return ("d.id IN (SELECT rowid FROM text WHERE text MATCH ?)", [e])
        case let .folder(path, children):
            let escaped = path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            return ("d.folders LIKE ? ESCAPE '\\'", [children ? "%\n\(escaped)/%" : "%\n\(escaped)\n%"])
        case let .keyword(k, present):
            return ("d.keywords \(present ? "" : "NOT ")LIKE ?", ["% \(k.lowercased()) %"])
        case let .received(from, to):
            var parts: [String] = []
            var args: [DatabaseValueConvertible?] = []
            if let from { parts.append("d.received >= ?"); args.append(from.timeIntervalSince1970) }
            if let to { parts.append("d.received < ?"); args.append(to.timeIntervalSince1970) }
            return (parts.isEmpty ? "1" : parts.joined(separator: " AND "), args)
        case let .size(min, max):
            var parts: [String] = []
            var args: [DatabaseValueConvertible?] = []
            if let min { parts.append("d.size >= ?"); args.append(min) }
            if let max { parts.append("d.size <= ?"); args.append(max) }
            return (parts.isEmpty ? "1" : parts.joined(separator: " AND "), args)
        case let .account(a): return ("d.account = ?", [a])
        case let .thread(t): return ("d.thread_id = ?", [t])
        case .hasAttachment: return ("d.has_attachment = 1", [])
        case let .deleted(d): return ("d.deleted = ?", [d ? 1 : 0])
        case let .and(parts), let .or(parts):
            let joiner: String
            if case .and = q { joiner = " AND " } else { joiner = " OR " }
            var args: [DatabaseValueConvertible?] = []
            let joined = parts.map { p -> String in
                let (s, a) = sql(p, probing: dense)
                args += a
                return "(\(s))"
            }.joined(separator: joiner)
            return (joined, args)
        case let .not(inner):
            let (s, a) = sql(inner, probing: dense)
            return ("NOT (\(s))", a)
        }
    }
}

extension Query {
    /// An FTS5 expression: the words (as a phrase when several), in one column or all.
    static func fts(_ column: String?, _ words: String, phrase: Bool, prefix: Bool) -> String {
        let quoted = "\"" + CJKPairs.rewrite(words).replacingOccurrences(of: "\"", with: "\"\"") + "\"" + (prefix ? " *" : "")
        return column.map { "\($0) : \(quoted)" } ?? quoted
    }

    var mentionsDeleted: Bool {
        switch self {
        case .deleted: return true
        case let .and(p), let .or(p): return p.contains { $0.mentionsDeleted }
        case let .not(q): return q.mentionsDeleted
        default: return false
        }
    }

    /// A text term over the messages' FTS5 table, where a message's title is its subject.
    static func messageText(_ column: String?, _ words: String, phrase: Bool, prefix: Bool) -> String {
        fts(column == "title" ? "subject" : column, words, phrase: phrase, prefix: prefix)
    }

    /// Every text term's FTS5 expression, wherever it stands in the query.
    var ftsExpressions: [String] {
        switch self {
        case let .text(c, w, p, x): return [Query.messageText(c, w, phrase: p, prefix: x)]
        case let .and(parts), let .or(parts): return parts.flatMap(\.ftsExpressions)
        case let .not(q): return q.ftsExpressions
        default: return []
        }
    }

    /// The positive text terms ORed, for ranking by bm25 (a match scores by the ones it has); nil
    /// when there are none.
    var rankingExpression: String? {
        func terms(_ q: Query) -> [String] {
            switch q {
            case let .text(c, w, p, x): return [Query.messageText(c, w, phrase: p, prefix: x)]
            case let .and(parts), let .or(parts): return parts.flatMap(terms)
            default: return []
            }
        }
        let t = terms(self)
        return t.isEmpty ? nil : t.joined(separator: " OR ")
    }
}
