import Digest
import Formats
import Foundation
import JMAP
import Store

/// The files under `<mirror>/<account>/` for everything but mail: `contacts/<book>/<uid>.vcf`,
/// `calendars/<calendar>/<uid>.ics` (vdir layout, with `displayname` and `color`),
/// `sieve/<name>.sieve` plus `sieve/active`, `identities.json` and `vacation.json`.
///
/// A view is rendered in full from the catalog whenever the journal (`dirty_view`) says its data
/// changed, and the journal entry is cleared only afterwards: a crash midway means the next run
/// renders it again. Only files whose bytes differ are rewritten, each atomically.
struct ItemViews {
    let root: String
    let account: String
    let catalog: Catalog
    let objects: ObjectStore
    let origin: String

    func render() throws {
        for view in try catalog.dirtyViews(account: account).sorted() {
            switch view {
            case "contacts": try reconcile("contacts", try contacts())
            case "calendars": try reconcile("calendars", try calendars())
            case "sieve": try reconcile("sieve", try sieve())
            case "identities": try writeJSON("identities.json", try list("Identity").map(\.value))
            case "vacation": try writeJSON("vacation.json", try list("VacationResponse").first?.value)
            default: break
            }
            try catalog.clearDirtyView(account: account, view: view)
        }
    }

    // MARK: What each view holds

    typealias Files = [String: Data]
    /// A collection as a folder: its display name, colour, and (id, uid, file bytes) of its items.
    typealias Folder = (name: String, color: String?, items: [(id: String, uid: String, body: Data)])

    func contacts() throws -> Files {
        var folders: [String: Folder] = [:]
        for (id, book) in try list("AddressBook") {
            folders[id] = (book["name"]?.stringValue ?? id, book["color"]?.stringValue, [])
        }
        for (id, card) in try list("ContactCard") {
            let body = Data(VCardWriter.card(card).utf8)
            for book in (card["addressBookIds"]?.objectValue ?? [:]).filter({ $0.value.boolValue == true }).keys {
                folders[book, default: (book, nil, [])].items.append((id, card["uid"]?.stringValue ?? id, body))
            }
        }
        // Legacy contacts have no collection object: the folder is the address book id.
        let legacy = try list("Contact")
        let blobs = try catalog.knownBlobs(origin: origin, blobIds: legacy.compactMap { $0.value["blobId"]?.stringValue })
        for (id, c) in legacy {
            let book = c["addressbookId"]?.stringValue ?? "Default"
            var body = Data(VCardWriter.legacyContact(c).utf8)
            // The server's own vCard, as it is, when the object has one and it is stored.
            if let blobId = c["blobId"]?.stringValue, let sha = blobs[blobId],
               let data = FileManager.default.contents(atPath: objects.path(sha)) { body = data }
            folders[book, default: (book, nil, [])].items.append((id, c["uid"]?.stringValue ?? id, body))
        }
        let uidById = Dictionary(legacy.map { ($0.key, $0.value["uid"]?.stringValue ?? $0.key) }, uniquingKeysWith: { a, _ in a })
        for (id, g) in try list("ContactGroup") {
            let book = g["addressbookId"]?.stringValue ?? "Default"
            let members = (g["contactIds"]?.arrayValue ?? []).compactMap(\.stringValue).map { uidById[$0] ?? $0 }
            let body = Data(VCardWriter.legacyGroup(g, memberUIDs: members).utf8)
            folders[book, default: (book, nil, [])].items.append((id, g["uid"]?.stringValue ?? id, body))
        }
        return layout(folders, ext: ".vcf")
    }

    func calendars() throws -> Files {
        var folders: [String: Folder] = [:]
        for (id, cal) in try list("Calendar") {
            folders[id] = (cal["name"]?.stringValue ?? id, cal["color"]?.stringValue, [])
        }
        for (id, event) in try list("CalendarEvent") {
            let body = Data(ICalendarWriter.event(event).utf8)
            for cal in (event["calendarIds"]?.objectValue ?? [:]).filter({ $0.value.boolValue == true }).keys {
                folders[cal, default: (cal, nil, [])].items.append((id, event["uid"]?.stringValue ?? id, body))
            }
        }
        return layout(folders, ext: ".ics")
    }

    func sieve() throws -> Files {
        let scripts = try list("SieveScript")
        let blobs = try catalog.knownBlobs(origin: origin, blobIds: scripts.compactMap { $0.value["blobId"]?.stringValue })
        var out: Files = [:]
        var taken = Set<String>()
        for (id, s) in scripts.sorted(by: { $0.key < $1.key }) {
            let name = s["name"]?.stringValue ?? id
            guard let blobId = s["blobId"]?.stringValue, let sha = blobs[blobId],
                  let body = FileManager.default.contents(atPath: objects.path(sha)) else { continue }
            out[ItemViews.unique(name, id: id, ext: ".sieve", taken: &taken)] = body
            if s["isActive"]?.boolValue == true { out["active"] = Data(name.utf8) }
        }
        return out
    }

    /// Collections to folders and items to files, names escaped and made unique (lowest id keeps
    /// the plain name), so no two objects ever share a file.
    func layout(_ folders: [String: Folder], ext: String) -> Files {
        var out: Files = [:]
        var folderNames = Set<String>()
        for (id, f) in folders.sorted(by: { $0.key < $1.key }) {
            let folder = ItemViews.unique(f.name, id: id, ext: "", taken: &folderNames)
            out[folder + "/displayname"] = Data(f.name.utf8)
            out[folder + "/color"] = Data((f.color ?? "").utf8)
            var names = Set<String>()
            for item in f.items.sorted(by: { $0.id < $1.id }) {
                out[folder + "/" + ItemViews.unique(item.uid, id: item.id, ext: ext, taken: &names)] = item.body
            }
        }
        return out
    }

    static func unique(_ name: String, id: String, ext: String, taken: inout Set<String>) -> String {
        var file = MaildirNames.component(name, suffix: ext)
        if taken.contains(file) {
            let hash = "~" + SHA256Hasher.hex(of: Data(id.utf8)).prefix(8)
            file = MaildirNames.component(name, suffix: hash + ext)
        }
        taken.insert(file)
        return file
    }

    func list(_ type: String) throws -> [(key: String, value: JSONValue)] {
        try catalog.items(account: account, type: type).compactMap { id, row in
            (try? JSONValue.decode(row.json)).map { (id, $0) }
        }.sorted { $0.key < $1.key }
    }

    // MARK: Writing

    /// Makes `<root>/<dir>` hold exactly `files` (paths one or two levels deep): changed files are
    /// replaced atomically, files of ours that are no longer wanted removed, emptied folders too.
    func reconcile(_ dir: String, _ files: Files) throws {
        let base = root + "/" + dir
        let fm = FileManager.default
        for (rel, data) in files.sorted(by: { $0.key < $1.key }) {
            let path = base + "/" + rel
            if fm.contents(atPath: path) == data { continue }
            try AtomicFile.write(data, to: path)
        }
        guard let top = try? fm.contentsOfDirectory(atPath: base) else { return }
        for entry in top {
            let path = base + "/" + entry
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                for file in (try? fm.contentsOfDirectory(atPath: path)) ?? []
                where files[entry + "/" + file] == nil && ItemViews.isOurs(file) {
                    try? fm.removeItem(atPath: path + "/" + file)
                }
                if ((try? fm.contentsOfDirectory(atPath: path)) ?? []).isEmpty { try? fm.removeItem(atPath: path) }
            } else if files[entry] == nil && ItemViews.isOurs(entry) {
                try? fm.removeItem(atPath: path)
            }
        }
    }

    static func isOurs(_ file: String) -> Bool {
        file.hasSuffix(".vcf") || file.hasSuffix(".ics") || file.hasSuffix(".sieve") || file == "displayname"
            || file == "color" || file == "active" || file.hasPrefix(AtomicFile.temporaryPrefix)
    }

    func writeJSON(_ file: String, _ value: Any?) throws {
        let path = root + "/" + file
        guard let value else {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        let data: Data
        switch value {
        case let one as JSONValue: data = try ItemViews.pretty(one)
        case let many as [JSONValue]: data = try ItemViews.pretty(.array(many))
        default: return
        }
        if FileManager.default.contents(atPath: path) != data { try AtomicFile.write(data, to: path) }
    }

    static func pretty(_ v: JSONValue) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(v) + Data("\n".utf8)
    }
}

/// Write to a temporary file beside the target, fsync, rename, fsync the directory.
enum AtomicFile {
    static let temporaryPrefix = ".jmirror-tmp-"

    static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var template = Array((dir + "/" + temporaryPrefix + "XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw StoreError(path: path, message: String(cString: strerror(errno))) }
        let tmp = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = writeAll(fd, data)
        ok = ok && fchmod(fd, 0o644) == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tmp)
            throw StoreError(path: path, message: why)
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// All of `data` to `fd`, through short writes and EINTR.
    static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
    }
}
