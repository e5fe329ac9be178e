import Digest
import Formats
import Foundation
import JMAP
import Store
import History
import Replay
import TestSupport
import Testing

/// A config with several accounts (a replay's source and targets), each on its own server.
func writeConfig(in dir: String, mirror: String, accounts: [(name: String, server: TestServer, user: String)],
                 url: [String: String] = [:]) -> String {
    var text = "[mirror]\npath = \"\(mirror)\"\n"
    for a in accounts {
        let pw = dir + "/pw-" + a.name
        FileManager.default.createFile(atPath: pw, contents: Data(a.server.password(a.user).utf8), attributes: [.posixPermissions: 0o600])
        text += "[account.\(a.name)]\nurl = \"\(url[a.name] ?? a.server.hostPort)\"\nusername = \"\(a.user)\"\npassword_file = \"\(pw)\"\nallow_insecure_http = true\n"
    }
    let path = dir + "/config.toml"
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
    return path
}

/// A Maildir as content, not names: per folder, the SHA-256 and flag letters of each file.
func maildirContent(_ root: String) -> [String: [String]] {
    var out: [String: [String]] = [:]
    for (rel, data) in tree(root) where rel.contains("/cur/") || rel.hasPrefix("cur/") || rel.contains("/new/") || rel.hasPrefix("new/") {
        let parts = rel.split(separator: "/")
        let folder = parts.count > 2 ? String(parts[0]) : ""
        let flags = rel.range(of: ":2,").map { String(rel[$0.upperBound...]) } ?? ""
        out[folder, default: []].append(SHA256Hasher.hex(of: data) + ":" + flags)
    }
    return out.mapValues { $0.sorted() }
}

/// An iCalendar object whose one-hour VEVENTs (each given by its own lines) `organizer` (a test
/// server user) organises, inviting `attendee`.
func invitation(organizer: String, attendee: String, _ events: [[String]]) -> Data {
    var lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//jmirror tests//EN"]
    for e in events {
        lines += ["BEGIN:VEVENT", "DTSTAMP:20260101T000000Z", "DURATION:PT1H"] + e
            + ["ORGANIZER:mailto:\(organizer)@internal", "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:\(attendee)", "END:VEVENT"]
    }
    return Data((lines + ["END:VCALENDAR"]).map { $0 + "\r\n" }.joined().utf8)
}

/// How many times Cyrus logged an iTIP invitation to `address` (its "iTIP scheduling request
/// from … to …" line).
func scheduling(_ log: String, _ address: String) -> Int {
    ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        .filter { $0.contains("iTIP scheduling request") && $0.contains(address) }.count
}

/// Files the test server's sendmail stub saved that mention `needle` (mail Cyrus tried to send).
func sentMail(_ server: TestServer, mentioning needle: String) -> Int {
    let outbox = server.base + "/outbox"
    return ((try? FileManager.default.contentsOfDirectory(atPath: outbox)) ?? []).filter { name in
        (FileManager.default.contents(atPath: outbox + "/" + name).map { String(decoding: $0, as: UTF8.self) } ?? "").contains(needle)
    }.count
}

extension Integration {
    @Suite("Replay into real Cyrus accounts")
    struct ReplayTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        /// Mail with awkward folder names, a message in three folders, custom keywords and an old
        /// receivedAt; a contact and a group; a recurring event with an override and an attendee
        /// at `attendee`; two Sieve scripts, one active; an enabled vacation response.
        func richSource(attendee: String) async throws -> ServerAccount {
            let a = try await ServerAccount.fresh(server, prefix: "rs")
            let inbox = try await a.mailboxId(role: "inbox")
            let archive = try await a.mailboxId(role: "archive")
            let uber = try #require(try await a.setMailbox(create: "Überweisungen"))
            let dotted = try #require(try await a.setMailbox(create: "a.b & c"))
            let receipts = try #require(try await a.setMailbox(create: "Receipts", patch: ["parentId": .string(inbox)]))
            let tilde = try #require(try await a.setMailbox(create: "~tilde"))
            try await a.importMessage(sampleMessage("in three", body: "three folders"), mailboxIds: [inbox, uber, receipts],
                                      keywords: ["$seen", "$flagged", "work", "$label1"], receivedAt: "2019-05-06T07:08:09Z")
            for i in 0..<12 {
                let box = [inbox, archive, uber, dotted, receipts, tilde][i % 6]
                try await a.importMessage(sampleMessage("message \(i)", body: String(repeating: "line \(i) ", count: 40 * (i + 1))),
                                          mailboxIds: [box], keywords: i % 3 == 0 ? ["$seen", "project-x"] : [],
                                          receivedAt: "2023-0\(i % 9 + 1)-1\(i % 10)T10:00:00Z")
            }
            try await a.putCard(sampleCard("card-ada", name: "Ada Lovelace"), name: "card-ada")
            try await a.putCard(sampleCard("card-bob", name: "Bob Builder"), name: "card-bob")
            try await a.pimSet("ContactGroup/set", ["create": ["g": ["name": "Friends", "contactIds": ["card-ada", "card-bob"]]]])
            try await a.putEvent(invitation(organizer: a.user, attendee: attendee, [
                ["UID:weekly-1", "DTSTART;TZID=Europe/Berlin:20260105T100000", "RRULE:FREQ=WEEKLY;COUNT=5", "SUMMARY:Weekly"],
                ["UID:weekly-1", "RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000", "DTSTART;TZID=Europe/Berlin:20260112T110000",
                 "SUMMARY:Weekly (moved)"],
            ]), name: "weekly-1")
            try await a.putEvent(sampleEvent("plain-1", title: "Dentist"), name: "plain-1")
            let s1 = try await a.upload(Data("require [\"fileinto\"];\r\nif header :contains \"subject\" \"x\" { fileinto \"Archive\"; }\r\n".utf8))
            let s2 = try await a.upload(Data("discard;\r\n".utf8))
            try await a.pimSet("SieveScript/set", ["create": ["a": ["name": "main", "blobId": .string(s1)],
                                                              "b": ["name": "strict", "blobId": .string(s2)]],
                                                   "onSuccessActivateScript": "#a"])
            try await a.pimSet("VacationResponse/set", ["update": ["singleton": ["isEnabled": true, "subject": "Away",
                                                                                 "textBody": "Back on Monday."]]])
            return a
        }

        @Test("alice → bob on one Cyrus and alice → carol on another: everything arrives, nothing is sent, a rerun does nothing, mirror → replay → mirror is a fixed point")
        func acrossAccountsAndServers() async throws {
            let second = try TestServer.load(second: true)
            let attendee = "attendee-\(UUID().uuidString.prefix(8).lowercased())@example.org"
            let source = try await richSource(attendee: attendee)
            let bob = try await ServerAccount.fresh(server, prefix: "rb")
            let carol = try await ServerAccount.fresh(second, prefix: "rc")
            let dir = try CLI.scratch("replay")
            // bob through a proxy that records every method call and answers the first two
            // requests 429 with Retry-After: rate limits slow a replay down, never fail it.
            let proxy = try FaultProxy(upstream: server.httpBase, fail: 2, status: 429, retryAfter: "1", record: dir + "/calls.jsonl")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", accounts: [
                ("alice", server, source.user), ("bob", server, bob.user), ("carol", second, carol.user)],
                url: ["bob": proxy.url.absoluteString + "/jmap/"]))
            #expect(try cli.run(["sync", "alice"]).code == 0)

            // The plan changes nothing.
            let plan = try cli.json(["replay", "alice", "--to", "bob", "--dry-run"])
            #expect(plan.code == 0)
            let mail = plan.value["report"]?["kinds"]?.arrayValue?.first { $0["kind"] == "mail" }
            #expect(mail?["toCreate"]?.intValue == 13 && mail?["present"]?.intValue == 0)
            #expect(plan.value["report"]?["mailboxes"]?.arrayValue?.contains { $0["source"] == "Inbox/Receipts" && $0["reason"] == "create" } == true)
            #expect(try await bob.allEmailIds().isEmpty)

            for (name, target) in [("bob", bob), ("carol", carol)] {
                let r = try cli.json(["replay", "alice", "--to", name])
                #expect(r.code == 0, "\(name): \(r.value)")
                let kinds = r.value["report"]?["kinds"]?.arrayValue ?? []
                for k in ["mail", "contacts", "calendars", "sieve", "vacation"] {
                    let kind = kinds.first { $0["kind"]?.stringValue == k }
                    #expect(kind?["verified"]?.intValue == kind?["planned"]?.intValue && (kind?["planned"]?.intValue ?? 0) > 0, "\(name) \(k): \(String(describing: kind))")
                }
                #expect(try await target.allEmailIds().count == 13)
                let vacation = try await target.pimList("VacationResponse").first
                #expect(vacation?["isEnabled"]?.boolValue == false && vacation?["subject"]?.stringValue == "Away")
                // Cyrus made its generated vacation script the active one when the source's
                // response was enabled; the user's scripts are carried, the generated one is not.
                let scripts = try await target.pimList("SieveScript").compactMap { $0["name"]?.stringValue }
                #expect(Set(scripts).isSuperset(of: ["main", "strict"]))

                // A rerun finds everything there.
                let again = try cli.json(["replay", "alice", "--to", name])
                #expect(again.code == 0)
                for k in again.value["report"]?["kinds"]?.arrayValue ?? [] {
                    #expect(k["created"]?.intValue == 0 && k["updated"]?.intValue == 0, "rerun \(name): \(k)")
                }
            }
            #expect(try await bob.allEmailIds().count == 13)

            // mirror → replay → mirror: the targets' mirrors hold what the source's holds.
            #expect(try cli.run(["sync", "bob"]).code == 0)
            #expect(try cli.run(["sync", "carol"]).code == 0)
            let src = maildirContent(dir + "/mirror/alice/mail")
            #expect(src.values.map(\.count).reduce(0, +) == 15)
            #expect(maildirContent(dir + "/mirror/bob/mail") == src)
            #expect(maildirContent(dir + "/mirror/carol/mail") == src)
            // The user's scripts byte for byte (Cyrus's generated vacation script differs: disabled).
            for script in ["sieve/main.sieve", "sieve/strict.sieve"] {
                let want = FileManager.default.contents(atPath: dir + "/mirror/alice/" + script)
                #expect(want != nil && FileManager.default.contents(atPath: dir + "/mirror/bob/" + script) == want)
                #expect(FileManager.default.contents(atPath: dir + "/mirror/carol/" + script) == want)
            }
            for sub in ["contacts", "calendars"] {
                let names = Set(tree(dir + "/mirror/alice/" + sub).keys)
                #expect(!names.isEmpty)
                #expect(Set(tree(dir + "/mirror/bob/" + sub).keys) == names)
                #expect(Set(tree(dir + "/mirror/carol/" + sub).keys) == names)
            }
            let group = try await carol.pimList("ContactGroup").first
            #expect(group?["contactIds"]?.arrayValue?.count == 2)
            let weekly = try await carol.pimList("CalendarEvent").first { $0["uid"] == "weekly-1" }
            #expect(weekly?["recurrenceOverrides"]?.objectValue?.count == 1)

            // Nothing was sent: the sendmail stubs saw nothing for the attendee, and every call
            // jmirror made to bob's server (recorded by the proxy) is no submission, and every
            // event write says sendSchedulingMessages: false.
            #expect(sentMail(server, mentioning: attendee) == 0)
            #expect(sentMail(second, mentioning: attendee) == 0)
            let calls = try String(contentsOfFile: dir + "/calls.jsonl", encoding: .utf8).split(separator: "\n")
                .compactMap { try? JSONValue.decode(Data($0.utf8)).arrayValue }
            #expect(calls.contains { $0.first == "Email/import" })
            #expect(!calls.contains { $0.first?.stringValue?.hasPrefix("EmailSubmission") == true })
            let eventWrites = calls.filter { $0.first == "CalendarEvent/set" }
            #expect(!eventWrites.isEmpty && eventWrites.allSatisfy { $0.count == 2 && $0[1] == false })

        }
    
        @Test("restore in place: messages, a folder and a contact deleted on the server come back from the earlier snapshot, nothing doubles, the active script is restored")
        func restoreInPlace() async throws {
            let a = try await ServerAccount.fresh(server, prefix: "ri")
            let inbox = try await a.mailboxId(role: "inbox")
            let folder = try #require(try await a.setMailbox(create: "Keep me"))
            var ids: [String] = []
            for i in 0..<8 {
                ids.append(try await a.importMessage(sampleMessage("restore \(i)"), mailboxIds: [i < 5 ? inbox : folder],
                                                     keywords: i == 0 ? ["$seen"] : []))
            }
            // An event this account organises, with an outside attendee: Cyrus invites on a write of
            // it unless told not to, and logs each invitation it tries ("iTIP scheduling request").
            let guest = "guest-\(UUID().uuidString.prefix(8).lowercased())@example.org"
            try await a.putEvent(invitation(organizer: a.user, attendee: guest,
                                            [["UID:meeting-1", "DTSTART:20260610T090000Z", "SUMMARY:Planning"]]), name: "meeting-1")
            try await a.putCard(sampleCard("card-x", name: "Xavier"), name: "card-x")
            try await a.putCard(sampleCard("card-y", name: "Yvonne"), name: "card-y")
            let s1 = try await a.upload(Data("keep;\r\n".utf8))
            let s2 = try await a.upload(Data("discard;\r\n".utf8))
            try await a.pimSet("SieveScript/set", ["create": ["a": ["name": "main", "blobId": .string(s1)],
                                                              "b": ["name": "strict", "blobId": .string(s2)]],
                                                   "onSuccessActivateScript": "#a"])
            let dir = try CLI.scratch("restore-in-place")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", accounts: [("main", server, a.user)]))
            #expect(try cli.run(["sync", "--tag", "before"]).code == 0)
            let before = try #require(try cli.json(["snapshots"]).value["snapshots"]?.arrayValue?.last?["id"]?.stringValue)

            // Losses on the server: two messages, a folder with its three, a contact; the
            // strict script made active; a keyword changed.
            try await a.destroyEmails([ids[1], ids[2]])
            try await a.setMailbox(destroy: folder, removeEmails: true)
            _ = try await a.dav("DELETE", "addressbooks/user/\(a.user)/Default/card-y.vcf")
            _ = try await a.dav("DELETE", "calendars/user/\(a.user)/Default/meeting-1.ics")
            try await a.updateEmail(ids[0], ["keywords/$seen": .null, "keywords/$flagged": true])
            let strict = try #require(try await a.pimList("SieveScript").first { $0["name"] == "strict" }?["id"]?.stringValue)
            try await a.pimSet("SieveScript/set", ["onSuccessActivateScript": .string(strict)])
            #expect(try cli.run(["sync"]).code == 0)
            #expect(try await a.allEmailIds().count == 3)

            let log = try #require(server.syslog, "Cyrus's syslog is not readable here (see contrib/test-server/start.sh)")
            let invited = scheduling(log, guest)
            #expect(invited > 0, "the PUT's invitation was not logged: the log cannot witness anything")
            let r = try cli.json(["replay", "main@" + String(before.prefix(8)), "--to", "main"])
            #expect(r.code == 0, "\(r.value)")
            // The organiser's own event came back, and Cyrus tried to invite no one.
            #expect(try await a.pimList("CalendarEvent").contains { $0["uid"] == "meeting-1" })
            #expect(scheduling(log, guest) == invited)
            let mail = r.value["report"]?["kinds"]?.arrayValue?.first { $0["kind"] == "mail" }
            #expect(mail?["created"]?.intValue == 5 && mail?["present"]?.intValue == 2 && mail?["updated"]?.intValue == 1)
            #expect(try await a.allEmailIds().count == 8)
            let boxes = try await a.mailboxes().compactMap { $0["name"]?.stringValue }
            #expect(boxes.filter { $0 == "Keep me" }.count == 1)
            #expect(Set(try await a.pimList("Contact").compactMap { $0["uid"]?.stringValue }) == ["card-x", "card-y"])
            let first = try await a.call("Email/get", ["accountId": .string(a.accountId), "ids": [.string(ids[0])], "properties": ["keywords"]])
            #expect(first["list"]?.arrayValue?.first?["keywords"] == ["$seen": true])
            #expect(try await a.pimList("SieveScript").first { $0["isActive"] == true }?["name"] == "main")

            // Again: nothing to do.
            let again = try cli.json(["replay", "main@" + String(before.prefix(8)), "--to", "main"])
            #expect(again.code == 0)
            #expect(again.value["report"]?["kinds"]?.arrayValue?.allSatisfy { $0["created"] == 0 && $0["updated"] == 0 } == true)
            #expect(try await a.allEmailIds().count == 8)
        }

        @Test("kill -9 at random points of a replay, repeated, then a final run: every message exactly once; then from an archive imported into a brand-new mirror")
        func killNineAndArchive() async throws {
            let source = try await ServerAccount.fresh(server, prefix: "rk")
            try source.seed(count: 400, bigShare: 0.01, folders: "INBOX,Projects,Projects/2024")
            let target = try await ServerAccount.fresh(server, prefix: "rt")
            let dir = try CLI.scratch("replay-kill")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", accounts: [("src", server, source.user),
                                                                                                  ("dst", server, target.user)]))
            #expect(try cli.run(["sync", "src"]).code == 0)
            var killed = 0
            for delay in [300, 700, 1200, 500] {
                let pid = try spawn([jmirrorBinary, "--config", cli.config, "replay", "src", "--to", "dst", "--only", "mail"])
                try await Task.sleep(nanoseconds: UInt64(delay) * 1_000_000)
                if kill(pid, SIGKILL) == 0 { killed += 1 }
                _ = waitExit(pid)
            }
            let r = try cli.json(["replay", "src", "--to", "dst", "--only", "mail"])
            #expect(r.code == 0, "\(r.value)")
            #expect(killed > 0)
            let shas = try await target.allEmailIds().count
            #expect(shas == 400)
            let again = try cli.json(["replay", "src", "--to", "dst", "--only", "mail"])
            #expect(again.value["report"]?["kinds"]?.arrayValue?.first?["created"] == 0 && again.value["report"]?["kinds"]?.arrayValue?.first?["present"] == 400)

            // An archive of the source, imported on "another machine" (a new mirror with only the
            // target configured), replays into a third account: all 400, no duplicate.
            #expect(try cli.run(["archive", "export", "src@latest", "-o", dir + "/src.tar.zst"]).code == 0)
            let third = try await ServerAccount.fresh(server, prefix: "ra")
            let dir2 = try CLI.scratch("replay-archive")
            let other = CLI(dir: dir2, config: writeConfig(in: dir2, mirror: dir2 + "/mirror", accounts: [("new", server, third.user)]))
            #expect(try other.run(["archive", "import", dir + "/src.tar.zst"]).code == 0)
            let fromArchive = try other.json(["replay", "src", "--to", "new"])
            #expect(fromArchive.code == 0, "\(fromArchive.value)")
            #expect(try await third.allEmailIds().count == 400)
            // And into the account that already has them all, from that other machine's empty journal.
            let other2 = CLI(dir: dir2, config: writeConfig(in: dir2, mirror: dir2 + "/mirror", accounts: [("dst", server, target.user)]))
            let noDup = try other2.json(["replay", "src", "--to", "dst", "--only", "mail"])
            #expect(noDup.code == 0 && noDup.value["report"]?["kinds"]?.arrayValue?.first?["created"] == 0)
            #expect(try await target.allEmailIds().count == 400)
            // And through a proxy that hides Cyrus's blob extension, as a server without digests:
            // nothing remembered for that origin, so the inventory downloads the target's messages
            // to hash them, and still finds all 400.
            let proxy = try FaultProxy(upstream: server.httpBase, record: dir2 + "/calls.jsonl", hideCapability: Capability.cyrusBlob)
            let other3 = CLI(dir: dir2, config: writeConfig(in: dir2, mirror: dir2 + "/mirror", accounts: [("dst", server, target.user)],
                                                           url: ["dst": proxy.url.absoluteString + "/jmap/"]))
            let byDownload = try other3.json(["replay", "src", "--to", "dst", "--only", "mail"])
            let mail = byDownload.value["report"]?["kinds"]?.arrayValue?.first
            #expect(byDownload.code == 0 && mail?["created"] == 0 && mail?["present"] == 400, "\(byDownload.value)")
            let calls = try String(contentsOfFile: dir2 + "/calls.jsonl", encoding: .utf8).split(separator: "\n")
                .compactMap { try? JSONValue.decode(Data($0.utf8)).arrayValue?.first?.stringValue }
            #expect(!calls.contains("Blob/get") && !calls.contains("Email/import"), "\(Set(calls))")
            #expect(try await target.allEmailIds().count == 400)
        }

        @Test("bad input: unknown target, snapshot, folder and --map; an unreachable target; --dry-run changes nothing")
        func badInput() async throws {
            let a = try await ServerAccount.fresh(server, prefix: "rx")
            try await a.importMessage(sampleMessage("one"), mailboxIds: [try await a.mailboxId(role: "inbox")])
            let b = try await ServerAccount.fresh(server, prefix: "ry")
            let dir = try CLI.scratch("replay-bad")
            let cfg = writeConfig(in: dir, mirror: dir + "/mirror", accounts: [("a", server, a.user), ("b", server, b.user), ("gone", server, b.user)],
                                  url: ["gone": "http://127.0.0.1:1/jmap/"])
            let cli = CLI(dir: dir, config: cfg)
            #expect(try cli.run(["sync", "a"]).code == 0)
            for (args, code, text) in [(["replay", "a", "--to", "nobody"], Int32(64), "no account named"),
                                       (["replay", "a@ffffffff", "--to", "b"], 64, "no snapshot"),
                                       (["replay", "a", "--to", "b", "--mailbox", "Nope"], 64, "no such folder"),
                                       (["replay", "a", "--to", "b", "--map", "Nope=X"], 64, "no folder Nope"),
                                       (["replay", "a", "--to", "b", "--only", "mail,stamps"], 64, "unknown kind"),
                                       (["replay", "a", "--to", "gone"], 69, "cannot reach")] {
                let r = try cli.run(args)
                #expect(r.code == code, "\(args): \(r.err)")
                #expect(r.err.contains(text), "\(args): \(r.err)")
                let j = try cli.json(args)
                #expect(j.value["exitCode"]?.intValue == Int(code) && j.value["event"] == "error")
            }
            let plan = try cli.json(["replay", "a", "--to", "b", "--dry-run", "--into", "Old account"])
            #expect(plan.code == 0)
            #expect(plan.value["report"]?["mailboxes"]?.arrayValue?.allSatisfy { $0["reason"] == "into" && ($0["target"]?.stringValue?.hasPrefix("Old account/") ?? false) } == true)
            #expect(try await b.allEmailIds().isEmpty)
            #expect(try await b.mailboxes().allSatisfy { $0["name"] != "Old account" })
            let r = try cli.json(["replay", "a", "--to", "b", "--into", "Old account"])
            #expect(r.code == 0)
            #expect(try await b.mailboxes().contains { $0["name"] == "Old account" })
        }
    }
}

extension Integration.ReplayTests {
    @Test("RFC 9610 cards (a snapshot from an IETF server) replayed into Cyrus's vendor contacts: translated, group members mapped, idempotent")
    func ietfCardsIntoCyrus() async throws {
        let target = try await ServerAccount.fresh(server, prefix: "rv")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-rv-\(UUID().uuidString)").path
        let store = try MirrorStore(root: root)
        let mac = try #require(FileManager.default.contents(atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/vcards/John_Doe_MAC_ADDRESS_BOOK.vcf").path))
        let photo = try #require(VCardPhoto.inline(in: mac)?.bytes)
        // RFC 9553 §2.1.9 and §2.2's examples, as an RFC 9610 server would list them.
        let john: JSONValue = ["@type": "Card", "version": "1.0", "id": "c1", "addressBookIds": ["b1": true],
                               "uid": "urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065", "kind": "individual",
                               "name": ["components": [["kind": "given", "value": "John"], ["kind": "surname", "value": "Doe"]], "isOrdered": true],
                               "emails": ["e1": ["address": "jdoe@example.com", "contexts": ["work": true], "pref": 1]],
                               "phones": ["p1": ["number": "+1-555-555-5555", "features": ["mobile": true]]],
                               "organizations": ["o1": ["name": "ABC, Inc.", "units": [["name": "North American Division"]]]],
                               "addresses": ["a1": ["components": [["kind": "name", "value": "Main Street"], ["kind": "number", "value": "54321"],
                                                                  ["kind": "locality", "value": "Oak Park"], ["kind": "region", "value": "IL"],
                                                                  ["kind": "postcode", "value": "60302"], ["kind": "country", "value": "USA"]],
                                                   "contexts": ["private": true]]],
                               // A photo in the card itself (RFC 9553 §2.6.4), the bytes of a real export's.
                               "media": ["p1": ["@type": "Media", "kind": "photo", "uri": .string("data:image/jpeg;base64," + photo.base64EncodedString())]]]
        let family: JSONValue = ["@type": "Card", "version": "1.0", "id": "g1", "addressBookIds": ["b1": true],
                                 "uid": "urn:uuid:ab4310aa-fa43-11e9-8f0b-362b9e155667", "kind": "group", "name": ["full": "The Doe family"],
                                 "members": ["urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065": true]]
        let state = AccountState(account: "ietf", versions: [
            VersionRow(type: "AddressBook", id: "b1", json: JSONValue.object(["id": "b1", "name": "Personal"]).encoded()),
            VersionRow(type: "ContactCard", id: "c1", json: john.encoded()),
            VersionRow(type: "ContactCard", id: "g1", json: family.encoded()),
        ])
        var options = ReplayOptions()
        options.only = [.contacts]
        let replayer = Replayer(catalog: store.catalog, objects: store.objects)
        let r = try await replayer.run(state, snapshot: "ietf@x", into: try await ReplayTarget.open(target.client, name: "cyrus"), options: options)
        #expect(r.ok, "\(r)")
        let contacts = try await target.pimList("Contact")
        let c = try #require(contacts.first { $0["uid"] == "urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065" })
        #expect(c["firstName"] == "John" && c["lastName"] == "Doe" && c["company"] == "ABC, Inc.")
        #expect(c["emails"]?.arrayValue?.first?["value"] == "jdoe@example.com")
        #expect(c["addresses"]?.arrayValue?.first?["street"] == "Main Street 54321" && c["addresses"]?.arrayValue?.first?["postcode"] == "60302")
        let group = try #require(try await target.pimList("ContactGroup").first)
        // Cyrus reports a member id without the urn:uuid: its vCard MEMBER has.
        #expect(group["name"] == "The Doe family" && group["contactIds"] == ["22B2C7DF-9120-4969-8460-05956FE6B065"])
        #expect(c["id"] == "urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065")
        // The photo: Cyrus's avatar, and in the vCard CardDAV serves.
        #expect(c["avatar"]?["size"]?.intValue == photo.count, "\(c["avatar"] ?? .null)")
        let href = try #require(c["x-href"]?.stringValue)
        let vcf = try await target.dav("GET", String(href.dropFirst("/dav/".count)))
        #expect(VCardPhoto.inline(in: vcf.body)?.bytes == photo)
        let again = try await replayer.run(state, snapshot: "ietf@x", into: try await ReplayTarget.open(target.client, name: "cyrus"), options: options)
        let k = again.kinds.first { $0.kind == "contacts" }
        #expect(again.ok && k?.created == 0 && k?.updated == 0 && k?.present == 2, "\(again)")
    }
}

extension Integration.ReplayTests {
    @Test("a target that refuses some items: each reported with the server's reason, the rest carried over, not ok")
    func partialRefusal() async throws {
        let target = try await ServerAccount.fresh(server, prefix: "rp")
        let store = try MirrorStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-rp-\(UUID().uuidString)").path)
        // Cyrus refuses a vendor contact whose address lacks region and postcode (test-server.md).
        let good: JSONValue = ["id": "ok", "uid": "ok-uid", "firstName": "Good", "lastName": "Card", "emails": [], "phones": [], "addresses": []]
        let bad: JSONValue = ["id": "bad", "uid": "bad-uid", "firstName": "Bad", "lastName": "Address", "emails": [], "phones": [],
                              "addresses": [["type": "home", "street": "1 Road", "locality": "Town", "country": "X"]]]
        let state = AccountState(account: "src", versions: [VersionRow(type: "Contact", id: "ok", json: good.encoded()),
                                                           VersionRow(type: "Contact", id: "bad", json: bad.encoded())])
        var options = ReplayOptions()
        options.only = [.contacts]
        let r = try await Replayer(catalog: store.catalog, objects: store.objects)
            .run(state, snapshot: "src@x", into: try await ReplayTarget.open(target.client, name: "t"), options: options)
        let k = try #require(r.kinds.first { $0.kind == "contacts" })
        #expect(!r.ok && k.created == 1 && k.verified == 1)
        #expect(k.refused.count == 1 && k.refused.first?.item == "bad-uid" && k.refused.first?.reason.contains("invalidProperties") == true,
                "\(k.refused)")
        #expect(try await target.pimList("Contact").compactMap { $0["uid"]?.stringValue } == ["ok-uid"])
    }
}

extension Integration.ReplayTests {
    @Test("--dry-run names what the target would refuse, with the server's words: a broken Sieve script, identities Cyrus cannot create")
    func dryRunRefusals() async throws {
        let target = try await ServerAccount.fresh(server, prefix: "rd")
        let store = try MirrorStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-rd-\(UUID().uuidString)").path)
        func stored(_ text: String) throws -> String {
            let data = Data(text.utf8)
            let sha = SHA256Hasher.hex(of: data)
            let (path, fd) = try store.objects.makeTemporaryFile()
            _ = data.withUnsafeBytes { write(fd, $0.baseAddress, data.count) }
            close(fd)
            try store.objects.adopt(temporaryPath: path, sha256: sha)
            return sha
        }
        let good = try stored("keep;\r\n"), bad = try stored("this is not sieve {\r\n")
        let state = AccountState(account: "src", versions: [
            VersionRow(type: "SieveScript", id: "s1", json: JSONValue.object(["id": "s1", "name": "fine", "blobId": "B1", "isActive": true]).encoded(),
                       blobs: ["B1": good]),
            VersionRow(type: "SieveScript", id: "s2", json: JSONValue.object(["id": "s2", "name": "broken", "blobId": "B2", "isActive": false]).encoded(),
                       blobs: ["B2": bad]),
            VersionRow(type: "Identity", id: "i1", json: JSONValue.object(["id": "i1", "name": "Work", "email": "me@work.example"]).encoded()),
        ])
        var options = ReplayOptions()
        options.only = [.sieve, .identities]
        options.dryRun = true
        let r = try await Replayer(catalog: store.catalog, objects: store.objects)
            .run(state, snapshot: "src@x", into: try await ReplayTarget.open(target.client, name: "t"), options: options)
        let sieve = try #require(r.kinds.first { $0.kind == "sieve" })
        #expect(sieve.toCreate == 2 && sieve.refused.map(\.item) == ["broken"], "\(sieve.refused)")
        #expect(sieve.refused.first?.reason.contains("the target would refuse the script") == true)
        let ids = try #require(r.kinds.first { $0.kind == "identities" })
        #expect(ids.refused.map(\.item) == ["Work <me@work.example>"] && ids.refused.first?.reason.contains("Identity/set") == true)
        #expect(!r.ok)
        #expect(try await target.pimList("SieveScript").isEmpty)
    }
}

extension Integration.ReplayTests {
    /// jscalendarbis-15's examples, with the organiser made this account and an attendee at a
    /// fresh outside address: Cyrus would invite that address on any write made without
    /// `sendSchedulingMessages: false`.
    func bisSnapshot(organizer: String, guest: String) -> AccountState {
        let events: [JSONValue] = [
            ["@type": "Event", "id": "e1", "calendarIds": ["w": true], "uid": "calculus-1@example.com", "updated": "2020-01-02T18:23:04Z",
             "title": "Calculus I", "start": "2020-01-08T09:00:00", "timeZone": "Europe/London", "duration": "PT1H30M",
             "locations": ["mlab": ["name": "Math lab room 1"]],
             "recurrenceRule": ["frequency": "weekly", "until": "2020-06-24T09:00:00"],
             "recurrenceOverrides": ["2020-04-01T09:00:00": ["excluded": true],
                                     "2020-06-25T09:00:00": ["title": "Calculus I Exam", "start": "2020-06-25T10:00:00", "duration": "PT2H"]]],
            ["@type": "Event", "id": "e2", "calendarIds": ["w": true], "uid": "foobar-team@example.com", "updated": "2020-01-02T18:23:04Z",
             "title": "FooBar team meeting", "start": "2030-01-08T09:00:00", "timeZone": "Africa/Johannesburg", "duration": "PT1H",
             "recurrenceRule": ["frequency": "weekly", "count": 20],
             "organizerCalendarAddress": .string("mailto:\(organizer)@internal"),
             "participants": ["tom": ["name": "Tom Tool", "calendarAddress": .string("mailto:\(guest)"), "participationStatus": "accepted",
                                      "roles": ["required": true], "expectReply": true],
                              "zoe": ["name": "Zoe Zelda", "calendarAddress": .string("mailto:\(organizer)@internal"),
                                      "participationStatus": "accepted", "roles": ["owner": true, "chair": true]]],
             "recurrenceOverrides": ["2030-03-05T09:00:00": ["participants/tom/participationStatus": "declined"]]],
            ["@type": "Event", "id": "e3", "calendarIds": ["w": true], "uid": "flight-1@example.com", "updated": "2020-01-02T18:23:04Z",
             "title": "Flight XY51 to London", "start": "2030-04-01T09:00:00", "timeZone": "America/Los_Angeles", "duration": "PT10H30M",
             "endTimeZone": "Europe/London"],
        ]
        return AccountState(account: "bis", versions: [VersionRow(type: "Calendar", id: "w", json: JSONValue.object(["id": "w", "name": "Work"]).encoded())]
            + events.map { VersionRow(type: "CalendarEvent", id: $0["id"]!.stringValue!, json: $0.encoded()) })
    }

    @Test("JSCalendar 2.0 events (a snapshot from a 2.0 server) replayed into Cyrus, which takes only 1.0's names: translated, nobody invited, idempotent")
    func bisEventsIntoCyrus() async throws {
        let target = try await ServerAccount.fresh(server, prefix: "rj")
        let store = try MirrorStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-rj-\(UUID().uuidString)").path)
        let guest = "guest-\(UUID().uuidString.prefix(8).lowercased())@example.org"
        let state = bisSnapshot(organizer: target.user, guest: guest)
        var options = ReplayOptions()
        options.only = [.calendars]
        let replayer = Replayer(catalog: store.catalog, objects: store.objects)
        let r = try await replayer.run(state, snapshot: "bis@x", into: try await ReplayTarget.open(target.client, name: "cyrus"), options: options)
        let k = try #require(r.kinds.first { $0.kind == "calendars" })
        #expect(r.ok && k.created == 3 && k.verified == 3, "\(r)")

        let calendars = try await target.pimList("Calendar")
        let work = try #require(calendars.first { $0["name"] == "Work" }?["id"]?.stringValue)
        let events = Dictionary(try await target.pimList("CalendarEvent").map { ($0["uid"]?.stringValue ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let calculus = try #require(events["calculus-1@example.com"])
        #expect(calculus["calendarIds"] == .object([work: true]))
        #expect(calculus["recurrenceRules"]?.arrayValue?.first?["until"] == "2020-06-24T09:00:00")
        #expect(calculus["recurrenceOverrides"]?["2020-04-01T09:00:00"] == ["excluded": true])
        #expect(calculus["recurrenceOverrides"]?["2020-06-25T09:00:00"]?["title"] == "Calculus I Exam")
        let team = try #require(events["foobar-team@example.com"])
        #expect(team["replyTo"]?["imip"] == .string("mailto:\(target.user)@internal"))
        let tom = team["participants"]?.objectValue?.values.first { $0["sendTo"]?["imip"] == .string("mailto:\(guest)") }
        #expect(tom?["roles"] == ["attendee": true] && tom?["name"] == "Tom Tool")
        #expect(team["recurrenceOverrides"]?.objectValue?.count == 1)
        let flight = try #require(events["flight-1@example.com"])
        #expect(flight["locations"]?.objectValue?.values.contains { $0["relativeTo"] == "end" && $0["timeZone"] == "Europe/London" } == true)

        // Cyrus logs every invitation it tries; its sendmail stub keeps what it would send.
        let log = try #require(server.syslog, "Cyrus's syslog is not readable here (see contrib/test-server/start.sh)")
        #expect(scheduling(log, guest) == 0 && sentMail(server, mentioning: guest) == 0)

        let again = try await replayer.run(state, snapshot: "bis@x", into: try await ReplayTarget.open(target.client, name: "cyrus"), options: options)
        let k2 = try #require(again.kinds.first { $0.kind == "calendars" })
        #expect(again.ok && k2.created == 0 && k2.updated == 0 && k2.present == 3, "\(again)")
        #expect(scheduling(log, guest) == 0)
        // The witness sees an invitation when there is one.
        try await target.putEvent(invitation(organizer: target.user, attendee: guest, [["UID:control-1", "DTSTART:20300610T090000Z",
                                                                                          "SUMMARY:Control"]]), name: "control-1")
        #expect(scheduling(log, guest) > 0)
    }
}
