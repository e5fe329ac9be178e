import Digest
import Formats
import Foundation
import History
import JMAP
import Store

/// `archive export --format pdpa`: one snapshot in the layout of the IETF Personal Data
/// Portability Archive draft (draft-ietf-mailmaint-pdparchive, the editor's copy after -02), in
/// the same container as our own archives (pax tar, zstd):
///
/// ```
/// archive.json                         archive, dataset, datasource
/// mail/<folder>/<child>/folder.json    name, uid (the mailbox id), uids → files, flags, last_uid, uidvalidity, …
/// mail/<folder>/<n>.eml                each message as the server sent it; the entry's mtime is receivedAt
/// contacts/<book>/<uid>.json           JSContact Cards (Cyrus vendor contacts and groups mapped to Cards)
/// calendars/<calendar>/<uid>.json      JSCalendar Events with calendarIds
/// sieve/<name>.sieve                   the scripts
/// ```
///
/// What the draft cannot say, and is therefore left out: receivedAt beyond the tar mtime,
/// identities, the vacation response, which Sieve script is active, address book and calendar
/// objects themselves (their names are the folder names), and our keyword letters. Messages in
/// several mailboxes are written once per folder, as the draft's layout requires.
public struct PDPAExporter {
    public struct Result: Codable, Sendable {
        public var snapshot: String
        public var messages = 0
        public var folders = 0
        public var contacts = 0
        public var events = 0
        public var scripts = 0
    }

    enum Source {
        case data(Data)
        case file(String, mtime: Int)
    }

    let store: MirrorStore

    public init(store: MirrorStore) { self.store = store }

    public func export(_ snapshot: SnapshotRow, to output: String) throws -> Result {
        let state = try AccountState.load(store.catalog, account: snapshot.account, snapshot: snapshot)
        var result = Result(snapshot: snapshot.id)
        var entries: [String: Source] = [:]
        let updatedFallback = PDPAExporter.timestamp(snapshot.time)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        func json(_ v: JSONValue) throws -> Data { try encoder.encode(v) + Data("\n".utf8) }

        // Mail: a folder per mailbox, named by the path of names from the top; UIDs 1…n by receivedAt.
        let nodes = state.mailboxNodes()
        var folders: [String: String] = [:]
        for id in nodes.keys { folders[id] = "mail/" + path(id, nodes, in: state) }
        var members: [String: [VersionRow]] = [:]
        for e in state.emails.values { for m in e.mailboxIds { members[m, default: []].append(e) } }
        for (id, node) in nodes {
            guard let dir = folders[id] else { continue }
            let mailbox = (try? JSONValue.decode(state.mailboxes[id]?.json ?? Data())) ?? .null
            let messages = (members[id] ?? []).sorted { ($0.receivedAt ?? .distantPast, $0.id) < ($1.receivedAt ?? .distantPast, $1.id) }
            var uids: [String: JSONValue] = [:], flags: [String: JSONValue] = [:]
            for (i, e) in messages.enumerated() {
                guard let sha = e.sha256, store.objects.contains(sha) else { continue }
                let uid = "\(i + 1)"
                uids[uid] = .string("\(uid).eml")
                flags[uid] = .array(e.keywords.sorted().map { .string($0) })
                entries["\(dir)/\(uid).eml"] = .file(store.objects.path(sha), mtime: Int(e.receivedAt?.timeIntervalSince1970 ?? 0))
                result.messages += 1
            }
            var folder: [String: JSONValue] = [
                "name": .string(node.name), "uid": .string(id), "uids": .object(uids), "flags": .object(flags),
                "last_uid": .int(Int64(messages.count)), "uidvalidity": 1,
                "is_subscribed": .bool(mailbox["isSubscribed"]?.boolValue ?? true),
            ]
            if let role = node.role, let use = PDPAExporter.specialUse[role] { folder["special_use"] = .string(use) }
            if let order = mailbox["sortOrder"]?.intValue, order >= 1 { folder["sort_order"] = .int(Int64(order)) }
            if PDPAExporter.component(node.name) != node.name && node.role != "inbox" { folder["original_name"] = .string(node.name) }
            entries["\(dir)/folder.json"] = .data(try json(.object(folder)))
            result.folders += 1
        }

        // Contacts: JSContact Cards; Cyrus's vendor contacts and groups mapped to Cards.
        let legacy = state.items["Contact"] ?? [:]
        let uidOf = legacy.mapValues { v in (try? JSONValue.decode(v.json))?["uid"]?.stringValue ?? v.id }
        var taken = Set<String>()
        for type in ["ContactCard", "Contact", "ContactGroup"] {
            for v in (state.items[type] ?? [:]).values.sorted(by: { $0.id < $1.id }) {
                guard let obj = try? JSONValue.decode(v.json) else { continue }
                let card = type == "ContactCard" ? PDPAExporter.card(obj, updated: updatedFallback)
                    : PDPAExporter.legacyCard(obj, group: type == "ContactGroup", uidOf: uidOf, updated: updatedFallback)
                let book = card["addressBookIds"]?.objectValue?.keys.sorted().first ?? "Default"
                let name = VdirLayout.unique(card["uid"]?.stringValue ?? v.id, id: v.id, ext: ".json", taken: &taken)
                entries["contacts/\(PDPAExporter.component(book))/\(name)"] = .data(try json(card))
                result.contacts += 1
            }
        }

        // Events: JSCalendar, with calendarIds; null properties left out.
        let calendarNames = (state.items["Calendar"] ?? [:]).mapValues { v in (try? JSONValue.decode(v.json))?["name"]?.stringValue ?? v.id }
        taken = []
        for v in (state.items["CalendarEvent"] ?? [:]).values.sorted(by: { $0.id < $1.id }) {
            guard case var .object(event) = PDPAExporter.withoutNulls(try JSONValue.decode(v.json)) else { continue }
            for k in ["blobId", "x-href"] { event[k] = nil }
            event["@type"] = "Event"
            if event["updated"] == nil { event["updated"] = .string(updatedFallback) }
            let cal = event["calendarIds"]?.objectValue?.keys.sorted().first ?? "Default"
            let name = VdirLayout.unique(event["uid"]?.stringValue ?? v.id, id: v.id, ext: ".json", taken: &taken)
            entries["calendars/\(PDPAExporter.component(calendarNames[cal] ?? cal))/\(name)"] = .data(try json(.object(event)))
            result.events += 1
        }

        // Sieve scripts, as files (the draft names the folder and no format).
        taken = []
        for v in (state.items["SieveScript"] ?? [:]).values.sorted(by: { $0.id < $1.id }) {
            guard let obj = try? JSONValue.decode(v.json), let blobId = obj["blobId"]?.stringValue, let sha = v.blobs[blobId],
                  store.objects.contains(sha) else { continue }
            let name = VdirLayout.unique(obj["name"]?.stringValue ?? v.id, id: v.id, ext: ".sieve", taken: &taken)
            entries["sieve/\(name)"] = .file(store.objects.path(sha), mtime: 0)
            result.scripts += 1
        }

        var datatypes = ["mail"]
        if result.contacts > 0 { datatypes.append("contacts") }
        if result.events > 0 { datatypes.append("calendars") }
        entries["archive.json"] = .data(try json([
            "archive": ["id": .string("jmirror-" + snapshot.id), "name": .string("jmirror snapshot \(snapshot.shortId) of \(snapshot.account)"),
                        "timestamp": .string(updatedFallback), "version": "draft-ietf-mailmaint-pdparchive-02", "generator": "jmirror"],
            "dataset": ["extent": "full", "languagetag": "und", "timezone": "UTC", "datatypes": .array(datatypes.map { .string($0) })],
            "datasource": ["account": .string(snapshot.account), "service": "JMAP"],
        ]))

        try ArchiveExporter.write(to: output) { writer in
            // archive.json first, then everything in path order: deterministic.
            for (path, source) in entries.sorted(by: { ($0.key == "archive.json" ? 0 : 1, $0.key) < ($1.key == "archive.json" ? 0 : 1, $1.key) }) {
                switch source {
                case let .data(d): try writer.add(path, data: d)
                case let .file(f, mtime): try writer.add(path, file: f, mtime: mtime)
                }
            }
        }
        return result
    }

    static let specialUse = ["archive": "\\Archive", "drafts": "\\Drafts", "flagged": "\\Flagged", "junk": "\\Junk",
                             "sent": "\\Sent", "trash": "\\Trash", "all": "\\All"]

    /// The inbox is `INBOX`; every other folder is the path of its names, each made a safe
    /// directory name (`/`, `%` and control characters as `%XX`, `.` and `..` escaped).
    func path(_ id: String, _ nodes: [String: MailboxNode], in state: AccountState) -> String {
        state.lineage(id, nodes).map { $0.role == "inbox" ? "INBOX" : PDPAExporter.component($0.name) }.joined(separator: "/")
    }

    static func component(_ name: String) -> String {
        if name.isEmpty || name == "." || name == ".." { return name.isEmpty ? "%00" : name.replacingOccurrences(of: ".", with: "%2E") }
        var out = ""
        for scalar in name.unicodeScalars {
            if scalar == "/" || scalar == "%" || scalar.value < 0x20 || scalar.value == 0x7f {
                for b in String(scalar).utf8 { out += String(format: "%%%02X", b) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    /// Properties whose value is null are left out (the draft's schemas type every property);
    /// recurrence overrides are patches, where null means "removed", and are kept as they are.
    static func withoutNulls(_ v: JSONValue) -> JSONValue {
        switch v {
        case let .object(o):
            var out: [String: JSONValue] = [:]
            for (k, x) in o where x != .null { out[k] = k == "recurrenceOverrides" ? x : withoutNulls(x) }
            return .object(out)
        case let .array(a): return .array(a.map(withoutNulls))
        default: return v
        }
    }

    /// An RFC 9610 ContactCard is already a JSContact Card.
    static func card(_ obj: JSONValue, updated: String) -> JSONValue {
        guard case var .object(card) = withoutNulls(obj) else { return obj }
        card["@type"] = "Card"
        if card["version"] == nil { card["version"] = "1.0" }
        if card["updated"] == nil { card["updated"] = .string(updated) }
        for k in ["blobId", "x-href"] { card[k] = nil }
        return .object(card)
    }

    /// Cyrus's vendor Contact or ContactGroup as a JSContact Card (RFC 9553): names, emails,
    /// phones, organisation, notes, nickname, group members by UID.
    static func legacyCard(_ c: JSONValue, group: Bool, uidOf: [String: String], updated: String) -> JSONValue {
        func text(_ k: String) -> String? { c[k]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
        var card: [String: JSONValue] = ["@type": "Card", "version": "1.0", "uid": .string(text("uid") ?? text("id") ?? ""),
                                         "updated": .string(updated),
                                         "addressBookIds": [c["addressbookId"]?.stringValue ?? "Default": true]]
        if group {
            card["kind"] = "group"
            if let n = text("name") { card["name"] = ["full": .string(n)] }
            var members: [String: JSONValue] = [:]
            for id in (c["contactIds"]?.arrayValue ?? []).compactMap(\.stringValue) { members[uidOf[id] ?? id] = true }
            card["members"] = .object(members)
            return .object(card)
        }
        var components: [JSONValue] = []
        for (key, kind) in [("prefix", "title"), ("firstName", "given"), ("lastName", "surname"), ("suffix", "credential")] {
            if let v = text(key) { components.append(["kind": .string(kind), "value": .string(v)]) }
        }
        if !components.isEmpty { card["name"] = ["components": .array(components), "isOrdered": true] }
        var emails: [String: JSONValue] = [:], phones: [String: JSONValue] = [:]
        for (i, e) in (c["emails"]?.arrayValue ?? []).enumerated() {
            if let v = e["value"]?.stringValue { emails["e\(i + 1)"] = ["@type": "EmailAddress", "address": .string(v)] }
        }
        for (i, p) in (c["phones"]?.arrayValue ?? []).enumerated() {
            if let v = p["value"]?.stringValue { phones["p\(i + 1)"] = ["@type": "Phone", "number": .string(v)] }
        }
        if !emails.isEmpty { card["emails"] = .object(emails) }
        if !phones.isEmpty { card["phones"] = .object(phones) }
        if let org = text("company") { card["organizations"] = ["o1": ["@type": "Organization", "name": .string(org)]] }
        if let nick = text("nickname") { card["nicknames"] = ["k1": ["@type": "Nickname", "name": .string(nick)]] }
        if let notes = text("notes") { card["notes"] = ["n1": ["@type": "Note", "note": .string(notes)]] }
        return .object(card)
    }
}
