import Digest
import Foundation
import GRDB
import JMAP
import Store

/// Contacts and events in the index (`search --type contacts|events`): their title and every
/// text they hold (names, addresses, phones, organisations; summaries, locations, descriptions,
/// participants), whatever the dialect, from the server's JSON as the catalog keeps it.
public enum ItemKind: String, Sendable, CaseIterable {
    case contacts, events

    /// The JMAP types of each kind, across dialects (RFC 9610, Cyrus's vendor contacts, JSCalendar).
    var types: [String] {
        switch self {
        case .contacts: return ["ContactCard", "Contact"]
        case .events: return ["CalendarEvent"]
        }
    }
}

public struct ItemHit: Sendable, Codable, Equatable {
    public var account: String
    public var type: String
    public var id: String
    public var title: String
}

extension SearchIndex {
    static func registerItems(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2: contacts and events") { db in
            try db.execute(sql: """
                CREATE TABLE item(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, type TEXT NOT NULL, item_id TEXT NOT NULL,
                    title TEXT NOT NULL, fingerprint TEXT NOT NULL, UNIQUE(account, type, item_id));
                CREATE VIRTUAL TABLE item_text USING fts5(title, text, content = '', tokenize = '\(CJKPairs.tokenizer)');
                """)
        }
    }

    /// Contacts and events of `account` as the catalog holds them now.
    func updateItems(account: String, catalog: Catalog) throws -> Int {
        var changed = 0
        for kind in ItemKind.allCases {
            for type in kind.types {
                let items = try catalog.items(account: account, type: type)
                var known: [String: (Int64, String)] = [:]
                try db.read { db in
                    for r in try Row.fetchAll(db, sql: "SELECT id, item_id, fingerprint FROM item WHERE account = ? AND type = ?",
                                              arguments: [account, type]) {
                        known[r[1]] = (r[0], r[2])
                    }
                }
                try db.write { db in
                    for (id, row) in items {
                        let fingerprint = SHA256Hasher.hex(of: row.json)
                        if known[id]?.1 == fingerprint { continue }
                        if let old = known[id] {
                            try db.execute(sql: "DELETE FROM item WHERE id = ?", arguments: [old.0])
                        }
                        let json = (try? JSONValue.decode(row.json)) ?? .null
                        let title = Self.title(json, kind: kind)
                        try db.execute(sql: "INSERT INTO item(account, type, item_id, title, fingerprint) VALUES (?, ?, ?, ?, ?)",
                                       arguments: [account, type, id, title, fingerprint])
                        try db.execute(sql: "INSERT INTO item_text(rowid, title, text) VALUES (?, ?, ?)",
                                       arguments: [db.lastInsertedRowID, CJKPairs.rewrite(title),
                                                   CJKPairs.rewrite(Self.texts(json).joined(separator: "\n"))])
                        changed += 1
                    }
                    for (id, old) in known where items[id] == nil {
                        try db.execute(sql: "DELETE FROM item WHERE id = ?", arguments: [old.0])
                        changed += 1
                    }
                }
            }
        }
        return changed
    }

    /// What a person reads as its name: JSContact's `name.full` (or its components), Cyrus's
    /// first and last name, an organisation, an address; an event's title.
    static func title(_ json: JSONValue, kind: ItemKind) -> String {
        switch kind {
        case .events:
            return json["title"]?.stringValue ?? ""
        case .contacts:
            if let full = json["name"]?["full"]?.stringValue, !full.isEmpty { return full }
            if let parts = json["name"]?["components"]?.arrayValue {
                let text = parts.compactMap { $0["value"]?.stringValue }.joined(separator: " ")
                if !text.isEmpty { return text }
            }
            let cyrus = [json["firstName"]?.stringValue, json["lastName"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }
            if !cyrus.isEmpty { return cyrus.joined(separator: " ") }
            if let org = json["company"]?.stringValue ?? json["organizations"]?.objectValue?.values.first?["name"]?.stringValue { return org }
            return texts(json).first { $0.contains("@") } ?? ""
        }
    }

    /// Every string a person wrote in it, not identifiers, types or time stamps.
    static func texts(_ json: JSONValue) -> [String] {
        var out: [String] = []
        func walk(_ v: JSONValue, key: String) {
            switch v {
            case let .string(s):
                let k = key.lowercased()
                if k == "@type" || k == "uid" || k == "id" || k.hasSuffix("id") || k.hasSuffix("ids") || k == "blobid"
                    || k == "updated" || k == "created" || k == "start" || k == "duration" || k == "timezone" || k == "kind"
                    || k == "prodid" || k == "method" || k == "sequence" || k == "etag" || k == "href" && s.hasPrefix("data:") {
                    return
                }
                out.append(s)
            case let .array(a): for x in a { walk(x, key: key) }
            case let .object(o): for (k, x) in o where !k.hasPrefix("@") || k == "@type" { walk(x, key: k) }
            default: break
            }
        }
        walk(json, key: "")
        return out
    }

    /// Contacts or events matching `query` (text terms, `name:`/`title:`, `account:`, AND/OR/NOT).
    public func searchItems(_ query: Query, kind: ItemKind, accounts: [String] = [], limit: Int? = nil) throws -> [ItemHit] {
        var (condition, arguments) = try Self.itemSQL(query)
        condition = "(\(condition)) AND i.type IN (\(kind.types.map { "'\($0)'" }.joined(separator: ",")))"
        if !accounts.isEmpty {
            condition += " AND i.account IN (\(accounts.map { _ in "?" }.joined(separator: ",")))"
            arguments += accounts
        }
        var sql = "SELECT * FROM item i WHERE \(condition) ORDER BY i.title COLLATE NOCASE, i.id"
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return try db.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
                ItemHit(account: $0["account"], type: $0["type"], id: $0["item_id"], title: $0["title"])
            }
        }
    }

    static func itemSQL(_ q: Query) throws -> (String, [DatabaseValueConvertible?]) {
        switch q {
        case .all: return ("1", [])
        case let .text(column, words, phrase, prefix):
            let c: String? = column == nil ? nil : ["subject", "title"].contains(column!) ? "title" : "text"
            return ("i.id IN (SELECT rowid FROM item_text WHERE item_text MATCH ?)", [Query.fts(c, words, phrase: phrase, prefix: prefix)])
        case let .account(a): return ("i.account = ?", [a])
        case let .and(parts), let .or(parts):
            var args: [DatabaseValueConvertible?] = []
            var pieces: [String] = []
            for p in parts {
                let (s, a) = try itemSQL(p)
                pieces.append("(\(s))")
                args += a
            }
            if case .and = q { return (pieces.joined(separator: " AND "), args) }
            return (pieces.joined(separator: " OR "), args)
        case let .not(inner):
            let (s, a) = try itemSQL(inner)
            return ("NOT (\(s))", a)
        default:
            throw SearchError("folders, flags, dates, sizes and attachments are facts of messages: contacts and events are "
                + "searched by their words, name:/title: and account:")
        }
    }
}
