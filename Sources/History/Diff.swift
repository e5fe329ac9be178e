import Foundation
import JMAP
import Store

/// What changed between two states of one account.
public struct StateDiff: Codable, Sendable, Equatable {
    public struct Message: Codable, Sendable, Equatable {
        public var id: String
        public var sha256: String?
        /// Mailbox paths before and after (one side empty when added or removed).
        public var mailboxesBefore: [String]
        public var mailboxesAfter: [String]
        public var keywordsBefore: [String]
        public var keywordsAfter: [String]
    }
    public struct Mailbox: Codable, Sendable, Equatable {
        public var id: String
        public var pathBefore: String?
        public var pathAfter: String?
    }
    public struct Item: Codable, Sendable, Equatable {
        public var type: String
        public var id: String
        /// The object's uid or name, where it has one.
        public var name: String?
    }

    public var account: String
    public var messagesAdded: [Message] = []
    public var messagesRemoved: [Message] = []
    public var messagesMoved: [Message] = []
    public var keywordsChanged: [Message] = []
    public var mailboxesCreated: [Mailbox] = []
    public var mailboxesRenamed: [Mailbox] = []
    public var mailboxesDestroyed: [Mailbox] = []
    public var itemsCreated: [Item] = []
    public var itemsChanged: [Item] = []
    public var itemsDestroyed: [Item] = []

    public var isEmpty: Bool {
        messagesAdded.isEmpty && messagesRemoved.isEmpty && messagesMoved.isEmpty && keywordsChanged.isEmpty
            && mailboxesCreated.isEmpty && mailboxesRenamed.isEmpty && mailboxesDestroyed.isEmpty
            && itemsCreated.isEmpty && itemsChanged.isEmpty && itemsDestroyed.isEmpty
    }

    public init(from a: AccountState, to b: AccountState) {
        account = b.account
        let na = a.mailboxNodes(), nb = b.mailboxNodes()
        func paths(_ s: AccountState, _ n: [String: MailboxNode], _ ids: Set<String>) -> [String] {
            ids.map { s.mailboxPath($0, n) }.sorted()
        }
        func message(_ id: String, _ x: VersionRow?, _ y: VersionRow?) -> Message {
            Message(id: id, sha256: (y ?? x)?.sha256,
                    mailboxesBefore: x.map { paths(a, na, $0.mailboxIds) } ?? [], mailboxesAfter: y.map { paths(b, nb, $0.mailboxIds) } ?? [],
                    keywordsBefore: x.map { $0.keywords.sorted() } ?? [], keywordsAfter: y.map { $0.keywords.sorted() } ?? [])
        }
        for id in Set(a.emails.keys).union(b.emails.keys).sorted() {
            let x = a.emails[id], y = b.emails[id]
            switch (x, y) {
            case (nil, let y?): messagesAdded.append(message(id, nil, y))
            case (let x?, nil): messagesRemoved.append(message(id, x, nil))
            case let (x?, y?):
                if x.mailboxIds != y.mailboxIds { messagesMoved.append(message(id, x, y)) }
                if Set(x.keywords.map { $0.lowercased() }) != Set(y.keywords.map { $0.lowercased() }) {
                    keywordsChanged.append(message(id, x, y))
                }
            default: break
            }
        }
        for id in Set(na.keys).union(nb.keys).sorted() {
            let pa = na[id].map { _ in a.mailboxPath(id, na) }, pb = nb[id].map { _ in b.mailboxPath(id, nb) }
            let m = Mailbox(id: id, pathBefore: pa, pathAfter: pb)
            if pa == nil { mailboxesCreated.append(m) } else if pb == nil { mailboxesDestroyed.append(m) } else if pa != pb {
                mailboxesRenamed.append(m)
            }
        }
        for type in Set(a.items.keys).union(b.items.keys).sorted() {
            let ia = a.items[type] ?? [:], ib = b.items[type] ?? [:]
            for id in Set(ia.keys).union(ib.keys).sorted() {
                let x = ia[id], y = ib[id]
                let item = Item(type: type, id: id, name: StateDiff.name(of: y ?? x))
                if x == nil { itemsCreated.append(item) } else if y == nil { itemsDestroyed.append(item) } else if x != y {
                    itemsChanged.append(item)
                }
            }
        }
    }

    static func name(of v: VersionRow?) -> String? {
        guard let v, let j = try? JSONValue.decode(v.json) else { return nil }
        return j["uid"]?.stringValue ?? j["name"]?.stringValue ?? j["email"]?.stringValue ?? j["title"]?.stringValue
    }

    /// One line per change, `+` added, `-` removed, `M` moved or changed, `K` keywords changed.
    public var lines: [String] {
        var out: [String] = []
        func boxes(_ p: [String]) -> String { p.isEmpty ? "(no mailbox)" : p.joined(separator: ", ") }
        for m in mailboxesCreated { out.append("+ mailbox \(m.pathAfter ?? m.id)") }
        for m in mailboxesRenamed { out.append("M mailbox \(m.pathBefore ?? "") -> \(m.pathAfter ?? "")") }
        for m in mailboxesDestroyed { out.append("- mailbox \(m.pathBefore ?? m.id)") }
        for m in messagesAdded { out.append("+ message \(m.id) in \(boxes(m.mailboxesAfter))") }
        for m in messagesRemoved { out.append("- message \(m.id) from \(boxes(m.mailboxesBefore))") }
        for m in messagesMoved { out.append("M message \(m.id): \(boxes(m.mailboxesBefore)) -> \(boxes(m.mailboxesAfter))") }
        for m in keywordsChanged {
            out.append("K message \(m.id): [\(m.keywordsBefore.joined(separator: " "))] -> [\(m.keywordsAfter.joined(separator: " "))]")
        }
        for i in itemsCreated { out.append("+ \(i.type) \(i.name ?? i.id)") }
        for i in itemsChanged { out.append("M \(i.type) \(i.name ?? i.id)") }
        for i in itemsDestroyed { out.append("- \(i.type) \(i.name ?? i.id)") }
        return out
    }
}
