import Foundation
import Formats
import GRDB
import JMAP
import Store
import Sync
import TestSupport
import Testing

/// Runs Tests/TestSupport/pim_check.py (vobject and icalendar) and returns its exit status and output.
func pimCheck(_ args: [String]) throws -> (status: Int32, output: String) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TestSupport/pim_check.py").path
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("pim-\(UUID().uuidString)").path
    let pid = try spawn(["/usr/bin/env", "python3", script] + args, stdout: out)
    let status = waitExit(pid)
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? ""
    return (status, text + err)
}

/// Every .vcf and .ics under `dir`, relative paths.
func pimFiles(_ dir: String) -> [String] {
    (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? [])
        .filter { $0.hasSuffix(".vcf") || $0.hasSuffix(".ics") }.sorted()
}

func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

extension Integration {
    @Suite("Contacts, calendars, Sieve, identities and vacation against the real Cyrus")
    struct ItemSyncTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("create, update, move and delete a contact, a group, an event and Sieve scripts")
        func lifecycle() async throws {
            let account = try await ServerAccount.fresh(server)
            let mirror = try TestMirror()
            let root = mirror.dir + "/\(mirror.name)"
            _ = try await mirror.sync(account)  // Cyrus creates the default collections on first use

            // Create
            let contact = try await account.pimSet("Contact/set", ["create": ["c1": [
                "uid": "contact-1", "firstName": "Ada", "lastName": "Lovelace", "emails": [["type": "work", "value": "ada@example.com"]],
                "addresses": [["type": "home", "street": "1 Analytical Way", "locality": "London", "region": "LDN",
                               "postcode": "N1", "country": "UK"]],
            ]]])
            let contactId = try #require(contact["created"]?["c1"]?["id"]?.stringValue)
            try await account.pimSet("ContactGroup/set", ["create": ["g1": ["uid": "group-1", "name": "Engines",
                                                                             "contactIds": [.string(contactId)]]]])
            let event: JSONValue = [
                "@type": "Event", "uid": "event-1", "calendarIds": ["Default": true], "title": "Design review",
                "start": "2026-03-02T10:00:00", "timeZone": "Europe/Paris", "duration": "PT1H",
                "recurrenceRules": [["@type": "RecurrenceRule", "frequency": "weekly", "count": 6]],
                "recurrenceOverrides": ["2026-03-09T10:00:00": ["excluded": true],
                                        "2026-03-16T10:00:00": ["start": "2026-03-16T14:00:00", "title": "Design review (afternoon)"]],
                "replyTo": ["imip": .string("mailto:\(account.user)@internal")],
                "participants": [
                    "p1": ["@type": "Participant", "name": "Owner", "sendTo": ["imip": .string("mailto:\(account.user)@internal")],
                           "roles": ["owner": true, "attendee": true], "participationStatus": "accepted"],
                    "p2": ["@type": "Participant", "name": "Grace", "sendTo": ["imip": "mailto:grace@internal"],
                           "roles": ["attendee": true], "participationStatus": "needs-action"],
                ],
            ]
            let created = try await account.pimSet("CalendarEvent/set", ["create": ["e1": event], "sendSchedulingMessages": false])
            let eventId = try #require(created["created"]?["e1"]?["id"]?.stringValue)
            let scriptA = try await account.upload(Data("require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"Archive\"; }\r\n".utf8))
            let scripts = try await account.pimSet("SieveScript/set", ["create": ["s1": ["name": "main", "blobId": .string(scriptA)]],
                                                                       "onSuccessActivateScript": "#s1"])
            let scriptId = try #require(scripts["created"]?["s1"]?["id"]?.stringValue)

            var summary = try await mirror.sync(account)
            #expect(summary.failed.isEmpty)
            #expect(summary.items["Contact"]?.created == 1 && summary.items["CalendarEvent"]?.created == 1)
            let card = read(root + "/contacts/Default/contact-1.vcf")
            #expect(card.contains("FN:Ada Lovelace") && card.contains("ada@example.com"))
            let group = read(root + "/contacts/Default/group-1.vcf")
            #expect(group.contains("X-ADDRESSBOOKSERVER-KIND:group") && group.contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:contact-1") && group.contains("VERSION:3.0"))
            let calendars = try FileManager.default.contentsOfDirectory(atPath: root + "/calendars")
            let calendar = try #require(calendars.first)
            let ics = read(root + "/calendars/\(calendar)/event-1.ics")
            #expect(ics.contains("RRULE:FREQ=WEEKLY;COUNT=6") && ics.contains("EXDATE;TZID=Europe/Paris:20260309T100000"))
            #expect(ics.contains("RECURRENCE-ID;TZID=Europe/Paris:20260316T100000") && ics.contains("BEGIN:VTIMEZONE"))
            // Cyrus's own iCalendar for the event, as CalDAV serves it (its parameter order).
            let unfolded = ics.replacingOccurrences(of: "\r\n ", with: "").split(whereSeparator: \.isNewline)
            #expect(unfolded.contains { $0.hasPrefix("ATTENDEE") && $0.contains("CN=Grace") } && ics.contains("ORGANIZER"), "\(ics)")
            #expect(read(root + "/calendars/\(calendar)/displayname").isEmpty == false)
            #expect(FileManager.default.fileExists(atPath: root + "/calendars/\(calendar)/color"))
            #expect(read(root + "/sieve/main.sieve").contains("fileinto \"Archive\""))
            #expect(read(root + "/sieve/active") == "main")
            #expect(read(root + "/identities.json").contains("\"mayDelete\""))
            #expect(read(root + "/vacation.json").contains("\"singleton\""))
            var parsed = try pimCheck(["parse"] + pimFiles(root).map { root + "/" + $0 })
            #expect(parsed.status == 0, "\(parsed.output)")

            // A rerun with nothing new: one API request, nothing downloaded.
            summary = try await mirror.sync(account)
            #expect(summary.apiRequests == 1 && summary.blobsDownloaded == 0)

            // Update
            try await account.pimSet("Contact/set", ["update": [contactId: ["lastName": "King"]]])
            try await account.pimSet("CalendarEvent/set", ["update": [eventId: ["title": "Design review v2"]],
                                                           "sendSchedulingMessages": false])
            let scriptB = try await account.upload(Data("keep;\r\n".utf8))
            try await account.pimSet("SieveScript/set", ["update": [scriptId: ["blobId": .string(scriptB)]]])
            summary = try await mirror.sync(account)
            #expect(read(root + "/contacts/Default/contact-1.vcf").contains("King"))
            #expect(read(root + "/calendars/\(calendar)/event-1.ics").contains("SUMMARY:Design review v2"))
            #expect(read(root + "/sieve/main.sieve") == "keep;\r\n")

            // Move: the contact to another address book, the event to another calendar, the script
            // renamed; a second script becomes the active one.
            let mk = try await account.dav("MKCOL", "addressbooks/user/\(account.user)/Work/", body: Data("""
                <?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>\
                <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>Work</D:displayname></D:prop></D:set></D:mkcol>
                """.utf8), contentType: "application/xml")
            #expect((200..<300).contains(mk.status))
            try await account.pimSet("Contact/set", ["update": [contactId: ["addressbookId": "Work"]]])
            let cal = try await account.pimSet("Calendar/set", ["create": ["k1": ["name": "Travel", "color": "#ff0000"]]])
            let travel = try #require(cal["created"]?["k1"]?["id"]?.stringValue)
            try await account.pimSet("CalendarEvent/set", ["update": [eventId: ["calendarIds": [travel: true]]],
                                                           "sendSchedulingMessages": false])
            let scriptC = try await account.upload(Data("discard;\r\n".utf8))
            // Cyrus 3.10 answers "updated" to a SieveScript name change but keeps the old name, so
            // the rename is a new script with the same body and the old one destroyed.
            let keep = try await account.upload(Data("keep;\r\n".utf8))
            let moved = try await account.pimSet("SieveScript/set", ["create": ["s2": ["name": "other", "blobId": .string(scriptC)],
                                                                                "s3": ["name": "renamed", "blobId": .string(keep)]],
                                                                     "onSuccessActivateScript": "#s2"])
            try await account.pimSet("SieveScript/set", ["destroy": [.string(scriptId)]])
            let renamedId = try #require(moved["created"]?["s3"]?["id"]?.stringValue)
            summary = try await mirror.sync(account)
            #expect(summary.failed.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: root + "/contacts/Default/contact-1.vcf"))
            #expect(read(root + "/contacts/Work/contact-1.vcf").contains("King"))
            #expect(!FileManager.default.fileExists(atPath: root + "/calendars/\(calendar)/event-1.ics"))
            #expect(read(root + "/calendars/Travel/event-1.ics").contains("Design review v2"))
            #expect(read(root + "/calendars/Travel/color") == "#ff0000")
            #expect(!FileManager.default.fileExists(atPath: root + "/sieve/main.sieve"))
            #expect(read(root + "/sieve/renamed.sieve") == "keep;\r\n")
            #expect(read(root + "/sieve/active") == "other")
            parsed = try pimCheck(["parse"] + pimFiles(root).map { root + "/" + $0 })
            #expect(parsed.status == 0, "\(parsed.output)")

            // Delete
            // RFC 9661 says onSuccessDeactivateScript; Cyrus 3.10 wants onSuccessActivateScript: null.
            try await account.pimSet("SieveScript/set", ["onSuccessActivateScript": .null])
            summary = try await mirror.sync(account)
            #expect(!FileManager.default.fileExists(atPath: root + "/sieve/active"))
            try await account.pimSet("Contact/set", ["destroy": [.string(contactId)]])
            try await account.pimSet("CalendarEvent/set", ["destroy": [.string(eventId)], "sendSchedulingMessages": false])
            try await account.pimSet("SieveScript/set", ["destroy": [.string(renamedId)]])
            summary = try await mirror.sync(account)
            #expect(summary.items["Contact"]?.destroyed == 1 && summary.items["CalendarEvent"]?.destroyed == 1)
            #expect(!FileManager.default.fileExists(atPath: root + "/contacts/Work/contact-1.vcf"))
            #expect(!FileManager.default.fileExists(atPath: root + "/calendars/Travel/event-1.ics"))
            #expect(!FileManager.default.fileExists(atPath: root + "/sieve/renamed.sieve"))
            #expect(FileManager.default.fileExists(atPath: root + "/sieve/other.sieve"))
        }

        /// Differences allowed between a mirrored file and CalDAV: none, since Cyrus's events are
        /// written from its own iCalendar (before, CLASS:PRIVATE was lost through JSCalendar).
        static let knownDifferences: [String: Set<String>] = [:]

        @Test("DAV round trip: each mirrored file says what Cyrus serves over CalDAV and CardDAV")
        func davRoundTrip() async throws {
            let account = try await ServerAccount.fresh(server)
            let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/dav").path
            var names: [String: String] = [:]  // uid → DAV resource name
            for file in try FileManager.default.contentsOfDirectory(atPath: fixtures).sorted() {
                let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + file))
                let uid = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                    .first { $0.hasPrefix("UID:") }.map { String($0.dropFirst(4)) } ?? file
                let name = (file as NSString).deletingPathExtension
                names[uid] = name
                if file.hasSuffix(".ics") { try await account.putEvent(data, name: name) } else { try await account.putCard(data, name: name) }
            }
            let mirror = try TestMirror()
            let root = mirror.dir + "/\(mirror.name)"
            let summary = try await mirror.sync(account)
            #expect(summary.failed.isEmpty)
            let files = pimFiles(root)
            #expect(files.count == names.count, "\(files)")
            let parsed = try pimCheck(["parse"] + files.map { root + "/" + $0 })
            #expect(parsed.status == 0, "\(parsed.output)")

            for rel in files {
                let mirrored = root + "/" + rel
                let text = read(mirrored)
                let uid = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("UID:") }.map { String($0.dropFirst(4)) } ?? ""
                let davUID = uid.hasPrefix("urn:uuid:") && names[uid] == nil ? String(uid.dropFirst(9)) : uid
                let name = try #require(names[davUID] ?? names[uid], "no fixture for \(rel)")
                let isCard = rel.hasSuffix(".vcf")
                // Cyrus serves a card in the vCard version the client asks for; ask for the one it stored.
                let version = text.contains("VERSION:4.0") ? "4.0" : "3.0"
                let dav = try await account.dav("GET", isCard ? "addressbooks/user/\(account.user)/Default/\(name).vcf"
                                                    : "calendars/user/\(account.user)/Default/\(name).ics",
                                                accept: isCard ? "text/vcard; version=\(version)" : nil)
                #expect(dav.status == 200)
                let davFile = FileManager.default.temporaryDirectory.appendingPathComponent("dav-\(UUID().uuidString)-\(name)" + (isCard ? ".vcf" : ".ics")).path
                try dav.body.write(to: URL(fileURLWithPath: davFile))
                let result = try pimCheck(["compare", mirrored, davFile])
                let diffs = Set(result.output.split(separator: "\n").filter { $0 != "same" }.map { line in
                    line.split(separator: ":")[0].split(separator: " ").prefix(2).joined(separator: " ")
                })
                let key = (rel as NSString).lastPathComponent.replacingOccurrences(of: ".ics", with: "").replacingOccurrences(of: ".vcf", with: "")
                #expect(diffs == (ItemSyncTests.knownDifferences[key] ?? []), "\(rel): \(result.output)")
            }
        }
    }
}

extension Integration.ItemSyncTests {
    @Test("a render cut short (journal entry left, a stale file, a temporary file) is repaired by the next sync")
    func interruptedRender() async throws {
        let account = try await ServerAccount.fresh(server)
        try await account.putEvent(sampleEvent("ev-a", title: "Alpha"), name: "ev-a")
        try await account.putCard(sampleCard("card-a", name: "Anna"), name: "card-a")
        let mirror = try TestMirror()
        let root = mirror.dir + "/\(mirror.name)"
        _ = try await mirror.sync(account)
        let calendar = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/calendars").first)
        let good = read(root + "/calendars/\(calendar)/ev-a.ics")
        #expect(good.contains("SUMMARY:Alpha"))

        // What a kill -9 in the middle of ItemViews.render leaves: the data committed with its
        // journal entry, an old file not yet rewritten, a temporary file not yet renamed, and a file
        // of a destroyed event not yet removed.
        try Data("stale".utf8).write(to: URL(fileURLWithPath: root + "/calendars/\(calendar)/ev-a.ics"))
        try Data("half".utf8).write(to: URL(fileURLWithPath: root + "/calendars/\(calendar)/.jmirror-tmp-AbC123"))
        try Data("gone".utf8).write(to: URL(fileURLWithPath: root + "/calendars/\(calendar)/destroyed.ics"))
        try FileManager.default.removeItem(atPath: root + "/contacts/Default/card-a.vcf")
        let catalog = try Catalog(path: mirror.dir + "/.jmirror/catalog.sqlite")  // not the lock: sync takes that
        try catalog.markViewDirty(account: mirror.name, view: "calendars")
        try catalog.markViewDirty(account: mirror.name, view: "contacts")

        let summary = try await mirror.sync(account)
        #expect(summary.apiRequests == 1)
        #expect(read(root + "/calendars/\(calendar)/ev-a.ics") == good)
        #expect(!FileManager.default.fileExists(atPath: root + "/calendars/\(calendar)/.jmirror-tmp-AbC123"))
        #expect(!FileManager.default.fileExists(atPath: root + "/calendars/\(calendar)/destroyed.ics"))
        #expect(read(root + "/contacts/Default/card-a.vcf").contains("FN:Anna"))
        #expect(try catalog.dirtyViews(account: mirror.name).isEmpty)
    }
}

extension Integration.ItemSyncTests {
    @Test("an empty calendar is a vdir collection too: its folder, displayname and color")
    func emptyCalendar() async throws {
        let account = try await ServerAccount.fresh(server)
        let cal = try await account.pimSet("Calendar/set", ["create": ["k1": ["name": "Nothing yet", "color": "#00ff00"]]])
        #expect(cal["created"]?["k1"]?["id"]?.stringValue != nil)
        let mirror = try TestMirror()
        _ = try await mirror.sync(account)
        let folder = mirror.dir + "/\(mirror.name)/calendars/Nothing yet"
        #expect(read(folder + "/displayname") == "Nothing yet")
        #expect(read(folder + "/color") == "#00ff00")
        #expect(pimFiles(folder).isEmpty)
    }
}

extension Integration.ItemSyncTests {
    @Test("a mirror whose calendar files were conversions (before catalog v10) gets the server's own iCalendar at the next sync")
    func calendarFilesUpgraded() async throws {
        let account = try await ServerAccount.fresh(server)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/dav").path
        try await account.putEvent(try Data(contentsOf: URL(fileURLWithPath: fixtures + "/two-zones.ics")), name: "two-zones")
        let mirror = try TestMirror()
        _ = try await mirror.sync(account)
        let root = mirror.dir + "/\(mirror.name)/calendars"
        let rel = try #require(pimFiles(root).first)
        let exact = try #require(FileManager.default.contents(atPath: root + "/" + rel))
        // As 0.4 left it: the conversion in the file, and a catalog before v10.
        let event = try #require(try MirrorStore(root: mirror.dir).catalog.items(account: mirror.name, type: "CalendarEvent").values.first)
        try Data(ICalendarWriter.event(try JSONValue.decode(event.json)).utf8).write(to: URL(fileURLWithPath: root + "/" + rel))
        try await DatabaseQueue(path: mirror.dir + "/.jmirror/catalog.sqlite").write { db in
            try db.execute(sql: "ALTER TABLE replay_journal DROP COLUMN settled")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v10%'")
        }
        #expect(FileManager.default.contents(atPath: root + "/" + rel) != exact)
        _ = try await mirror.sync(account)
        #expect(FileManager.default.contents(atPath: root + "/" + rel) == exact)
    }

    @Test("a contact group written by 0.6 (vCard 4.0) is rewritten in Cyrus's own form by the next sync")
    func groupFilesUpgraded() async throws {
        let account = try await ServerAccount.fresh(server)
        try await account.pimSet("ContactGroup/set", ["create": ["g": ["uid": "group-old", "name": "Alte Freunde", "contactIds": []]]])
        let mirror = try TestMirror()
        _ = try await mirror.sync(account)
        let file = mirror.dir + "/\(mirror.name)/contacts/Default/group-old.vcf"
        let exact = try #require(FileManager.default.contents(atPath: file))
        #expect(read(file).contains("X-ADDRESSBOOKSERVER-KIND:group"))
        try Data("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:group-old\r\nKIND:group\r\nFN:Alte Freunde\r\nEND:VCARD\r\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        try await DatabaseQueue(path: mirror.dir + "/.jmirror/catalog.sqlite").write { db in
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v12%'")
        }
        _ = try await mirror.sync(account)
        #expect(FileManager.default.contents(atPath: file) == exact)
    }
}
