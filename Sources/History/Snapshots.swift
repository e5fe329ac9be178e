import Formats
import Foundation
import JMAP
import Store

/// What a user did wrong or asked for that does not exist; the CLI exits 64 on these.
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case usage, damaged }
    public var kind: Kind
    public var message: String
    public var description: String { message }
    public init(_ message: String, kind: Kind = .usage) {
        self.message = message
        self.kind = kind
    }
}

/// Names a snapshot the way users type it: `ID` (8 hex digits, or any unique prefix of the full
/// id), `latest`, `ACCOUNT@ID`, `ACCOUNT@latest`, or a bare account name for its latest.
public enum SnapshotRef {
    public static func resolve(_ text: String, in snapshots: [SnapshotRow]) throws -> SnapshotRow {
        var account: String?
        var id = text
        if let at = text.lastIndex(of: "@") {
            account = String(text[..<at])
            id = String(text[text.index(after: at)...])
            if id.isEmpty { id = "latest" }
        }
        var pool = snapshots
        if let account {
            pool = pool.filter { $0.account == account }
            guard !pool.isEmpty else { throw HistoryError("no snapshot of account \(account)") }
        }
        if id == "latest" {
            let accounts = Set(pool.map(\.account))
            guard accounts.count == 1, let last = pool.max(by: { $0.time < $1.time }) else {
                throw HistoryError(pool.isEmpty ? "there are no snapshots yet"
                    : "'latest' is ambiguous: name the account, one of " + accounts.sorted().map { "\($0)@latest" }.joined(separator: ", "))
            }
            return last
        }
        let lowered = id.lowercased()
        let matches = pool.filter { $0.id.hasPrefix(lowered) }
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 {
            throw HistoryError("snapshot id \(id) is ambiguous; it matches " + matches.map { "\($0.account)@\($0.id.prefix(12))" }
                .joined(separator: ", ") + "; give more digits")
        }
        if account == nil, let last = snapshots.filter({ $0.account == text }).max(by: { $0.time < $1.time }) { return last }
        throw HistoryError("no snapshot matches \(text) (see `jmirror snapshots`)")
    }
}

/// Everything one account held at one snapshot (or now), by JMAP type and id.
public struct AccountState: Sendable {
    public var account: String
    public var mailboxes: [String: VersionRow] = [:]
    /// Empty when loaded with `emails: false`: `forEachEmail` then reads them from the catalog.
    public var emails: [String: VersionRow] = [:]
    private var deferredEmails: (catalog: Catalog, generation: Int64, count: Int)?
    /// Every other type: contacts, calendars, scripts, identities, vacation.
    public var items: [String: [String: VersionRow]] = [:]

    public init(account: String, versions: [VersionRow]) {
        self.account = account
        for v in versions {
            switch v.type {
            case "Mailbox": mailboxes[v.id] = v
            case "Email": emails[v.id] = v
            default: items[v.type, default: [:]][v.id] = v
            }
        }
    }

    /// With `emails: false` the messages stay in the catalog and are read one at a time by
    /// `forEachEmail` (a replay of 100k messages need not hold them all).
    public static func load(_ catalog: Catalog, account: String, snapshot: SnapshotRow?, emails: Bool = true) throws -> AccountState {
        guard !emails else {
            return AccountState(account: account, versions: try catalog.versions(account: account, generation: snapshot?.generation))
        }
        let g = snapshot?.generation ?? Int64.max
        let others = try catalog.versions(account: account, generation: g, types: nil, skipping: "Email")
        var state = AccountState(account: account, versions: others)
        var count = 0
        try catalog.eachVersion(account: account, generation: g, type: "Email") { _ in count += 1 }
        state.deferredEmails = (catalog, g, count)
        return state
    }

    /// Every message of the state, from memory or streamed from the catalog.
    public func forEachEmail(_ body: (VersionRow) throws -> Void) throws {
        if let d = deferredEmails {
            try d.catalog.eachVersion(account: account, generation: d.generation, type: "Email", body)
        } else {
            for e in emails.values.sorted(by: { $0.id < $1.id }) { try body(e) }
        }
    }

    public var emailCount: Int { deferredEmails?.count ?? emails.count }

    public func mailboxNodes() -> [String: MailboxNode] {
        mailboxes.compactMapValues { v in
            guard let j = try? JSONValue.decode(v.json) else { return nil }
            return MailboxNode(id: v.id, parentId: j["parentId"]?.stringValue, name: j["name"]?.stringValue ?? v.id,
                               role: j["role"]?.stringValue)
        }
    }

    /// A mailbox and its ancestors, from the top-level one down (a cycle in the parents ends it).
    public func lineage(_ id: String, _ nodes: [String: MailboxNode]) -> [MailboxNode] {
        var out: [MailboxNode] = []
        var cursor = nodes[id]
        var seen = Set<String>()
        while let c = cursor, seen.insert(c.id).inserted {
            out.insert(c, at: 0)
            cursor = c.parentId.flatMap { nodes[$0] }
        }
        return out
    }

    /// A mailbox's path as users read it: `Parent/Child`.
    public func mailboxPath(_ id: String, _ nodes: [String: MailboxNode]) -> String {
        let names = lineage(id, nodes).map(\.name)
        return names.isEmpty ? id : names.joined(separator: "/")
    }

    /// The state's contacts, calendars, scripts, identities and vacation as files, with the blobs
    /// they name read from `objects`: the same layout as the live views.
    public func vdirLayout(objects: ObjectStore) -> VdirLayout {
        let blobs = items.values.flatMap(\.values).reduce(into: [String: String]()) { $0.merge($1.blobs) { a, _ in a } }
        let byType = items.mapValues { rows in rows.compactMapValues { try? JSONValue.decode($0.json) } }
        return VdirLayout(objects: byType) { id in blobs[id].flatMap { FileManager.default.contents(atPath: objects.path($0)) } }
    }

    /// Every object of the state, whatever its type.
    public var all: [VersionRow] {
        Array(mailboxes.values) + Array(emails.values) + items.values.flatMap(\.values)
    }

    /// Every object the state references, by SHA-256.
    public var objects: Set<String> {
        var out = Set<String>()
        for v in all {
            if let s = v.sha256 { out.insert(s) }
            out.formUnion(v.blobs.values)
        }
        return out
    }
}

public struct MailboxNode: Sendable {
    public var id: String
    public var parentId: String?
    public var name: String
    public var role: String?
}

/// Which data a command covers: `--only mail,contacts,…`.
public enum DataKind: String, CaseIterable, Sendable, Codable {
    case mail, contacts, calendars, sieve, identities, vacation

    public var types: Set<String> {
        switch self {
        case .mail: ["Mailbox", "Email"]
        case .contacts: ["AddressBook", "ContactCard", "Contact", "ContactGroup"]
        case .calendars: ["Calendar", "CalendarEvent"]
        case .sieve: ["SieveScript"]
        case .identities: ["Identity"]
        case .vacation: ["VacationResponse"]
        }
    }

    public static func parse(_ list: String?) throws -> Set<DataKind> {
        guard let list, !list.isEmpty else { return Set(allCases) }
        var out = Set<DataKind>()
        for word in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let k = DataKind(rawValue: word) else {
                throw HistoryError("--only: unknown kind \(word) (one of " + allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            out.insert(k)
        }
        return out
    }
}
