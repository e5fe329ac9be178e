import Digest
import Foundation
import JMAP

/// The files of every view but mail, as relative paths and bytes: `contacts/<book>/<uid>.vcf`,
/// `calendars/<calendar>/<uid>.ics` (with `displayname` and `color`), `sieve/<name>.sieve` plus
/// `sieve/active`, `identities.json`, `vacation.json`. Pure: the caller hands in the objects of
/// each JMAP type and a way to read a blob, from the live catalog or from a snapshot.
public struct VdirLayout {
    public typealias Files = [String: Data]
    /// A collection as a folder: its display name, colour, and (id, uid, file bytes) of its items.
    typealias Folder = (name: String, color: String?, items: [(id: String, uid: String, body: Data)])

    let objects: [String: [(key: String, value: JSONValue)]]
    let blob: (String) -> Data?

    /// `objects`: per JMAP type, its objects by id; `blob`: a blob's bytes by blob id, if stored.
    public init(objects: [String: [String: JSONValue]], blob: @escaping (String) -> Data?) {
        self.objects = objects.mapValues { $0.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) } }
        self.blob = blob
    }

    /// The JMAP types each view is made of.
    public static let types: [String: [String]] = [
        "contacts": ["AddressBook", "ContactCard", "Contact", "ContactGroup"],
        "calendars": ["Calendar", "CalendarEvent"],
        "sieve": ["SieveScript"],
        "identities": ["Identity"],
        "vacation": ["VacationResponse"],
    ]

    func list(_ type: String) -> [(key: String, value: JSONValue)] { objects[type] ?? [] }

    public func contacts() -> Files {
        var folders: [String: Folder] = [:]
        for (id, book) in list("AddressBook") {
            folders[id] = (book["name"]?.stringValue ?? id, book["color"]?.stringValue, [])
        }
        for (id, card) in list("ContactCard") {
            let body = Data(VCardWriter.card(card).utf8)
            for book in (card["addressBookIds"]?.objectValue ?? [:]).filter({ $0.value.boolValue == true }).keys {
                folders[book, default: (book, nil, [])].items.append((id, card["uid"]?.stringValue ?? id, body))
            }
        }
        // Legacy contacts have no collection object: the folder is the address book id.
        let legacy = list("Contact")
        for (id, c) in legacy {
            let book = c["addressbookId"]?.stringValue ?? "Default"
            // The server's own vCard, as it is, when the object has one and it is stored.
            let body = c["blobId"]?.stringValue.flatMap(blob) ?? Data(VCardWriter.legacyContact(c).utf8)
            folders[book, default: (book, nil, [])].items.append((id, c["uid"]?.stringValue ?? id, body))
        }
        let uidById = Dictionary(legacy.map { ($0.key, $0.value["uid"]?.stringValue ?? $0.key) }, uniquingKeysWith: { a, _ in a })
        for (id, g) in list("ContactGroup") {
            let book = g["addressbookId"]?.stringValue ?? "Default"
            let members = (g["contactIds"]?.arrayValue ?? []).compactMap(\.stringValue).map { uidById[$0] ?? $0 }
            let body = Data(VCardWriter.legacyGroup(g, memberUIDs: members).utf8)
            folders[book, default: (book, nil, [])].items.append((id, g["uid"]?.stringValue ?? id, body))
        }
        return layout(folders, ext: ".vcf")
    }

    public func calendars() -> Files {
        var folders: [String: Folder] = [:]
        for (id, cal) in list("Calendar") {
            folders[id] = (cal["name"]?.stringValue ?? id, cal["color"]?.stringValue, [])
        }
        for (id, event) in list("CalendarEvent") {
            // The server's own iCalendar, as it is, when it gives one (Cyrus: the event's
            // `blobId`, the same bytes CalDAV serves); a conversion of the JSCalendar otherwise.
            let body = event["blobId"]?.stringValue.flatMap(blob) ?? Data(ICalendarWriter.event(event).utf8)
            for cal in (event["calendarIds"]?.objectValue ?? [:]).filter({ $0.value.boolValue == true }).keys {
                folders[cal, default: (cal, nil, [])].items.append((id, event["uid"]?.stringValue ?? id, body))
            }
        }
        return layout(folders, ext: ".ics")
    }

    public func sieve() -> Files {
        var out: Files = [:]
        var taken = Set<String>()
        for (id, s) in list("SieveScript") {
            let name = s["name"]?.stringValue ?? id
            guard let body = s["blobId"]?.stringValue.flatMap(blob) else { continue }
            out[VdirLayout.unique(name, id: id, ext: ".sieve", taken: &taken)] = body
            if s["isActive"]?.boolValue == true { out["active"] = Data(name.utf8) }
        }
        return out
    }

    /// `identities.json`: every Identity (an empty list when there is none).
    public func identities() throws -> Data {
        try VdirLayout.pretty(.array(list("Identity").map(\.value)))
    }

    /// `vacation.json`: the VacationResponse, or nil when the server has none.
    public func vacation() throws -> Data? {
        try list("VacationResponse").first.map { try VdirLayout.pretty($0.value) }
    }

    /// Collections to folders and items to files, names escaped and made unique (lowest id keeps
    /// the plain name), so no two objects ever share a file.
    func layout(_ folders: [String: Folder], ext: String) -> Files {
        var out: Files = [:]
        var folderNames = Set<String>()
        for (id, f) in folders.sorted(by: { $0.key < $1.key }) {
            let folder = VdirLayout.unique(f.name, id: id, ext: "", taken: &folderNames)
            out[folder + "/displayname"] = Data(f.name.utf8)
            out[folder + "/color"] = Data((f.color ?? "").utf8)
            var names = Set<String>()
            for item in f.items.sorted(by: { $0.id < $1.id }) {
                out[folder + "/" + VdirLayout.unique(item.uid, id: item.id, ext: ext, taken: &names)] = item.body
            }
        }
        return out
    }

    public static func unique(_ name: String, id: String, ext: String, taken: inout Set<String>) -> String {
        var file = MaildirNames.component(name, suffix: ext)
        if taken.contains(file) {
            let hash = "~" + SHA256Hasher.hex(of: Data(id.utf8)).prefix(8)
            file = MaildirNames.component(name, suffix: hash + ext)
        }
        taken.insert(file)
        return file
    }

    public static func pretty(_ v: JSONValue) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(v) + Data("\n".utf8)
    }
}
