import Digest
import Foundation
import History
import JMAP
import Store

/// `archive import` of a PDPA archive (archive.json first): its mail folders, messages, JSContact
/// cards, JSCalendar events and Sieve files become one snapshot of an account here, named by
/// `datasource.account` or `--as`, which `restore`, `diff` and (later) replay use like any other.
///
/// The way back from `PDPAExporter`, and from other tools that write the draft's layout: a folder
/// becomes a Mailbox (its `uid` is the id when given; INBOX has the inbox role; `special_use`
/// gives the others), identical message bytes in several folders become one Email in several
/// mailboxes (keywords: the union of its flags there), an entry's mtime is its receivedAt. Files
/// the draft defines no import for (tasks, notes, anything else) are skipped and counted.
struct PDPAImporter {
    let store: MirrorStore
    let configured: Set<String>

    struct Message { var sha256: String; var size: Int; var mtime: Int }

    func run(_ reader: TarReader, metadata: Data, rename: String?) throws -> ArchiveImporter.Result {
        let name = reader.name
        guard let meta = try? JSONValue.decode(metadata), meta["archive"]?.objectValue != nil else {
            throw ArchiveError(.damaged, "\(name): archive.json is not the PDPA archive metadata")
        }
        let account = rename ?? meta["datasource"]?["account"]?.stringValue.flatMap(PDPAImporter.accountName) ?? "pdpa"
        let synced = Set(try store.catalog.syncedAccounts())
        if configured.contains(account) || synced.contains(account) {
            throw ArchiveError(.usage, "the archive's account \(account) has the name of an account of this mirror; "
                + "import it under another name with --as NAME")
        }
        let archiveId = meta["archive"]?["id"]?.stringValue ?? ""
        let stamp = meta["archive"]?["timestamp"]?.stringValue ?? ""
        let time = ISO8601DateFormatter().date(from: stamp) ?? Date(timeIntervalSince1970: 0)
        let snapshotId = SHA256Hasher.hex(of: Data("pdpa\n\(archiveId)\n\(stamp)\n\(SHA256Hasher.hex(of: metadata))".utf8))
        var result = ArchiveImporter.Result(archive: archiveId)
        if try store.catalog.snapshots().contains(where: { $0.id == snapshotId }) {
            result.snapshotsAlreadyHere = [snapshotId]
            return result
        }
        if let newest = try store.catalog.snapshots(accounts: [account]).map(\.time).max(), newest > time {
            throw ArchiveError(.usage, "this PDPA archive is older than account \(account)'s newest snapshot here; "
                + "import it under another name with --as NAME")
        }

        store.objects.removeTemporaryFiles()
        var files: [String: Message] = [:]
        var folders: [String: JSONValue] = [:]
        var cards: [(dir: String, value: JSONValue)] = []
        var events: [(dir: String, value: JSONValue)] = []
        var scripts: [(name: String, sha256: String)] = []
        var landed: [(String, String)] = []
        let hasher = SHA256Hasher()
        while let entry = try reader.next() {
            let path = entry.path.hasPrefix("./") ? String(entry.path.dropFirst(2)) : entry.path
            let dir = (path as NSString).deletingLastPathComponent
            let top = path.split(separator: "/").first.map(String.init) ?? ""
            if top == "mail" && path.hasSuffix("/folder.json") || (top == "contacts" || top == "calendars") && path.hasSuffix(".json") {
                guard let value = try? JSONValue.decode(try reader.readAll(limit: 64 << 20)) else {
                    throw ArchiveError(.damaged, "\(name): \(path) is not JSON")
                }
                if top == "mail" { folders[dir] = value } else if top == "contacts" { cards.append((dir, value)) } else { events.append((dir, value)) }
            } else if top == "mail" && path.hasSuffix(".eml") || top == "sieve" && path.hasSuffix(".sieve") {
                let (tmp, fd) = try store.objects.makeTemporaryFile()
                var size = 0
                do {
                    try reader.read { chunk in
                        hasher.update(chunk)
                        size += chunk.count
                        guard AtomicFile.writeAll(fd, Data(chunk)) else { throw StoreError(path: tmp, message: String(cString: strerror(errno))) }
                    }
                    close(fd)
                } catch {
                    close(fd)
                    unlink(tmp)
                    throw error
                }
                let sha = hasher.finalizeHex()
                landed.append((sha, tmp))
                if top == "mail" { files[path] = Message(sha256: sha, size: size, mtime: entry.mtime) } else {
                    scripts.append((((path as NSString).lastPathComponent as NSString).deletingPathExtension, sha))
                }
            } else {
                result.skipped += 1
            }
        }
        try store.objects.syncFilesystem()
        for (sha, tmp) in landed { try store.objects.adopt(temporaryPath: tmp, sha256: sha) }
        result.objectsAdded = landed.count
        result.bytesAdded = files.values.reduce(0) { $0 + Int64($1.size) }

        var versions = mailVersions(folders: folders, files: files)
        versions += itemVersions(cards: cards, events: events, scripts: scripts)
        var counts: [String: Int] = [:]
        for v in versions { counts[v.type, default: 0] += 1 }
        let row = SnapshotRow(id: snapshotId, account: account, generation: 0, time: time, tags: ["pdpa"], counts: counts, bytesNew: 0)
        if try store.catalog.importSnapshot(row, versions: versions) { result.snapshotsImported = [snapshotId] }
        return result
    }

    static func accountName(_ s: String) -> String? {
        AccountName.isValid(s) ? s : nil
    }

    static func encode(_ v: JSONValue) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(v)) ?? Data("{}".utf8)
    }

    static let roles = ["\\archive": "archive", "\\drafts": "drafts", "\\flagged": "flagged", "\\junk": "junk", "\\sent": "sent",
                        "\\trash": "trash", "\\all": "all"]

    /// Folders to Mailboxes (parents made where only a child has a folder.json), messages to Emails.
    func mailVersions(folders: [String: JSONValue], files: [String: Message]) -> [VersionRow] {
        var dirs = Set(folders.keys)
        for d in folders.keys {
            var p = (d as NSString).deletingLastPathComponent
            while p != "mail" && !p.isEmpty { dirs.insert(p); p = (p as NSString).deletingLastPathComponent }
        }
        func id(_ dir: String) -> String {
            folders[dir]?["uid"]?.stringValue ?? "pdpa-" + SHA256Hasher.hex(of: Data(dir.utf8)).prefix(16)
        }
        var out: [VersionRow] = []
        var emails: [String: (mailboxes: Set<String>, keywords: Set<String>, message: Message)] = [:]
        for dir in dirs.sorted() {
            let f = folders[dir] ?? .null
            let parentDir = (dir as NSString).deletingLastPathComponent
            let last = (dir as NSString).lastPathComponent
            let role: String? = dir == "mail/INBOX" ? "inbox" : f["special_use"]?.stringValue.flatMap { PDPAImporter.roles[$0.lowercased()] }
            var mailbox: [String: JSONValue] = [
                "id": .string(id(dir)), "name": .string(f["name"]?.stringValue ?? f["original_name"]?.stringValue ?? last),
                "parentId": parentDir == "mail" ? .null : .string(id(parentDir)), "role": role.map { .string($0) } ?? .null,
                "isSubscribed": .bool(f["is_subscribed"]?.boolValue ?? true),
            ]
            if let order = f["sort_order"]?.intValue { mailbox["sortOrder"] = .int(Int64(order)) }
            out.append(VersionRow(type: "Mailbox", id: id(dir), json: PDPAImporter.encode(.object(mailbox))))
            for (uid, file) in f["uids"]?.objectValue ?? [:] {
                guard let fileName = file.stringValue, let m = files[dir + "/" + fileName] else { continue }
                let flags = Set((f["flags"]?[uid]?.arrayValue ?? []).compactMap(\.stringValue).map { $0.lowercased() })
                var e = emails[m.sha256] ?? ([], [], m)
                e.mailboxes.insert(id(dir))
                e.keywords.formUnion(flags)
                emails[m.sha256] = e
            }
        }
        let iso = ISO8601DateFormatter()
        for (sha, e) in emails {
            let emailId = "pdpa-" + sha.prefix(24)
            let received = e.message.mtime > 0 ? Date(timeIntervalSince1970: Double(e.message.mtime)) : nil
            var json: [String: JSONValue] = [
                "id": .string(emailId), "blobId": .string("pdpa-" + sha), "size": .int(Int64(e.message.size)),
                "mailboxIds": .object(Dictionary(uniqueKeysWithValues: e.mailboxes.map { ($0, JSONValue.bool(true)) })),
                "keywords": .object(Dictionary(uniqueKeysWithValues: e.keywords.map { ($0, JSONValue.bool(true)) })),
            ]
            if let received { json["receivedAt"] = .string(iso.string(from: received)) }
            out.append(VersionRow(type: "Email", id: emailId, json: PDPAImporter.encode(.object(json)), sha256: sha, size: e.message.size,
                                  keywords: e.keywords, mailboxIds: e.mailboxes, receivedAt: received, blobs: ["pdpa-" + sha: sha]))
        }
        return out
    }

    /// Cards to ContactCards (and their address books), events to CalendarEvents (and their
    /// calendars, named by their folder), scripts to SieveScripts (none active: PDPA cannot say).
    func itemVersions(cards: [(dir: String, value: JSONValue)], events: [(dir: String, value: JSONValue)],
                      scripts: [(name: String, sha256: String)]) -> [VersionRow] {
        var out: [VersionRow] = []
        var books = Set<String>(), calendars: [String: String] = [:]
        for (i, c) in cards.enumerated() {
            guard case var .object(card) = c.value else { continue }
            let uid = card["uid"]?.stringValue ?? "pdpa-card-\(i)"
            card["id"] = .string(card["id"]?.stringValue ?? uid)
            if card["addressBookIds"]?.objectValue?.isEmpty != false { card["addressBookIds"] = [(c.dir as NSString).lastPathComponent: true] }
            books.formUnion(card["addressBookIds"]?.objectValue?.keys.map { $0 } ?? [])
            out.append(VersionRow(type: "ContactCard", id: card["id"]?.stringValue ?? uid, json: PDPAImporter.encode(.object(card))))
        }
        for b in books.sorted() {
            out.append(VersionRow(type: "AddressBook", id: b, json: PDPAImporter.encode(["id": .string(b), "name": .string(b)])))
        }
        for (i, e) in events.enumerated() {
            guard case var .object(event) = e.value else { continue }
            let uid = event["uid"]?.stringValue ?? "pdpa-event-\(i)"
            event["id"] = .string(event["id"]?.stringValue ?? uid)
            if event["calendarIds"]?.objectValue?.isEmpty != false { event["calendarIds"] = [(e.dir as NSString).lastPathComponent: true] }
            for k in event["calendarIds"]?.objectValue?.keys.map({ $0 }) ?? [] where calendars[k] == nil {
                calendars[k] = (e.dir as NSString).lastPathComponent
            }
            out.append(VersionRow(type: "CalendarEvent", id: event["id"]?.stringValue ?? uid, json: PDPAImporter.encode(.object(event))))
        }
        for (id, name) in calendars.sorted(by: { $0.key < $1.key }) {
            out.append(VersionRow(type: "Calendar", id: id, json: PDPAImporter.encode(["id": .string(id), "name": .string(name)])))
        }
        for s in scripts {
            let json: JSONValue = ["id": .string(s.name), "name": .string(s.name), "blobId": .string("pdpa-" + s.sha256), "isActive": false]
            out.append(VersionRow(type: "SieveScript", id: s.name, json: PDPAImporter.encode(json), blobs: ["pdpa-" + s.sha256: s.sha256]))
        }
        return out
    }
}
