import Foundation
import Formats
import JMAP
import Store
import Testing
import TestSupport

extension Integration {
    /// Calendars nobody here wrote: the test calendars of the `icalendar` package and of khal (their
    /// users' bug reports, Outlook/Google/Thunderbird/Apple exports, RFC examples, broken ones), one CalDAV
    /// resource per UID, put into Cyrus and mirrored. Each mirrored file is compared with what
    /// CalDAV serves for the same event (pim_check.py's normalisation); so is the conversion of
    /// Cyrus's JSCalendar alone, which is what servers without an iCalendar blob get.
    @Suite("Real-world calendars and cards")
    struct CalendarCorpusTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TestSupport/ics_corpus.py").path

        /// Differences between a file and the DAV rendering ("main DTSTART", or the parser's error
        /// when a file does not parse), or nil when they are equal.
        func differences(_ file: String, _ dav: String) throws -> Set<String>? {
            let r = try pimCheck(["compare", file, dav])
            if r.status == 0 { return nil }
            let lines = r.output.split(separator: "\n").map(String.init)
            if let error = lines.last(where: { $0.range(of: #"^[A-Za-z]+Error: "#, options: .regularExpression) != nil }) {
                return ["unparsable (\(error.prefix(80)))"]
            }
            // "<main or the override's RECURRENCE-ID> <PROPERTY>: mirror … dav …"
            return Set(lines.compactMap { line in
                guard let r = line.range(of: ": mirror ") else { return nil }
                let head = line[..<r.lowerBound].split(separator: " ")
                return (head.first == "main" ? "main " : "override ") + (head.last.map(String.init) ?? "?")
            })
        }

        /// Puts every resource of the calendar corpus into `account` over CalDAV; returns the ones
        /// Cyrus took (uid → resource name) and the work directory holding them.
        func putCalendars(into account: ServerAccount) async throws -> (accepted: [String: String], work: String) {
            let sources = try ServerAccount.run(["/usr/bin/env", "python3", Self.script, "source"]).split(separator: "\n").map(String.init)
            let files = sources.flatMap { source in
                ((FileManager.default.enumerator(atPath: source)?.allObjects as? [String]) ?? [])
                    .filter { $0.hasSuffix(".ics") }.sorted().map { source + "/" + $0 }
            }
            let work = try CLI.scratch("corpus")
            try FileManager.default.createDirectory(atPath: work + "/res", withIntermediateDirectories: true)
            let listing = try JSONValue.decode(Data(try ServerAccount.run(["/usr/bin/env", "python3", Self.script, "split", work + "/res"] + files).utf8))
            var accepted: [String: String] = [:]  // uid → resource name
            var refused: [String] = []
            for entry in listing.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue, let uid = entry["uid"]?.stringValue else { continue }
                let data = try Data(contentsOf: URL(fileURLWithPath: work + "/res/" + name + ".ics"))
                let r = try await account.dav("PUT", "calendars/user/\(account.user)/Default/\(name).ics", body: data,
                                              contentType: "text/calendar; charset=utf-8")
                if (200..<300).contains(r.status) {
                    accepted[uid] = name
                } else {
                    refused.append("\(name) (\(r.status) \(String(decoding: r.body.prefix(200), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")))")
                }
            }
            print("corpus: \(listing.arrayValue?.count ?? 0) resources from \(files.count) files; Cyrus took \(accepted.count), refused \(refused.count): \(refused.joined(separator: ", "))")
            return (accepted, work)
        }

        @Test("every event of a real-world corpus is mirrored as CalDAV serves it; the JSCalendar conversion is measured")
        func corpus() async throws {
            let account = try await ServerAccount.fresh(server)
            let (accepted, work) = try await putCalendars(into: account)
            #expect(accepted.count >= 150)
            let mirror = try TestMirror()
            let summary = try await mirror.sync(account)
            #expect(summary.failed.isEmpty, "\(summary.failed)")
            let root = mirror.dir + "/\(mirror.name)/calendars"
            let store = try MirrorStore(root: mirror.dir)
            let events = try store.catalog.items(account: mirror.name, type: "CalendarEvent").compactMapValues { try? JSONValue.decode($0.json) }
            let mirrored = pimFiles(root)
            var exact = Set<String>(), converted = Set<String>()
            var conversionDiffs: [String: [String]] = [:]  // property → events
            for (_, event) in events.sorted(by: { $0.key < $1.key }) {
                guard let uid = event["uid"]?.stringValue, let name = accepted[uid] else {
                    Issue.record("event \(event["uid"]?.stringValue ?? "?") is not one the test put")
                    continue
                }
                let dav = try await account.dav("GET", "calendars/user/\(account.user)/Default/\(name).ics")
                #expect(dav.status == 200)
                let davFile = work + "/" + name + ".dav.ics"
                try dav.body.write(to: URL(fileURLWithPath: davFile))
                let wanted = MaildirNames.component(uid, suffix: ".ics")
                let rel = try #require(mirrored.first { ($0 as NSString).lastPathComponent == wanted }, "\(name): no file")
                let file = root + "/" + rel
                if let d = try differences(file, davFile) {
                    Issue.record("\(name): the mirrored file differs from CalDAV: \(d.sorted())")
                } else {
                    exact.insert(name)
                }
                var json = event.objectValue ?? [:]
                json["blobId"] = nil
                let conversion = work + "/" + name + ".converted.ics"
                try Data(ICalendarWriter.event(.object(json)).utf8).write(to: URL(fileURLWithPath: conversion))
                if let d = try differences(conversion, davFile) {
                    for p in d { conversionDiffs[p, default: []].append(name) }
                } else {
                    converted.insert(name)
                }
            }
            #expect(exact.count == accepted.count)
            // The conversion is not yet exact (issue 10: zones Cyrus's JSON does not carry, RDATEs
            // the rule also generates, RSCALE): this floor, measured on 2026-12-01, catches it getting worse.
            #expect(converted.count >= 117)
            print("corpus: mirrored files equal to CalDAV: \(exact.count)/\(accepted.count); conversion alone equal: \(converted.count)/\(accepted.count)")
            for (p, names) in conversionDiffs.sorted(by: { $0.value.count > $1.value.count }) {
                print("corpus: conversion differs in \(p): \(names.count): \(names.sorted().joined(separator: " "))")
            }
        }

        /// Address-book exports (Tests/IntegrationTests/Fixtures/vcards/SOURCE.md), one card per
        /// CardDAV resource, a UID added where a card has none.
        static func vcards() throws -> [(name: String, uid: String, text: String)] {
            let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/vcards").path
            var out: [(String, String, String)] = []
            for file in try FileManager.default.contentsOfDirectory(atPath: dir).filter({ $0.hasSuffix(".vcf") }).sorted() {
                let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
                var card: [Substring] = []
                var n = 0
                for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
                    if line.uppercased().hasPrefix("BEGIN:VCARD") { card = [] }
                    card.append(line)
                    guard line.uppercased().hasPrefix("END:VCARD") else { continue }
                    let name = (file as NSString).deletingPathExtension + "-\(n)"
                    n += 1
                    var uid = card.first { $0.uppercased().hasPrefix("UID:") }.map { String($0.dropFirst(4)) }
                    if uid == nil {
                        uid = "jmirror-corpus-" + name
                        card.insert(Substring("UID:" + uid!), at: card.count - 1)
                    }
                    out.append((name, uid!, card.joined(separator: "\r\n") + "\r\n"))
                }
            }
            return out
        }

        /// Puts the cards into `account` over CardDAV; returns the ones Cyrus took (uid → resource name).
        func putCards(_ cards: [(name: String, uid: String, text: String)], into account: ServerAccount) async throws -> [String: String] {
            var accepted: [String: String] = [:]  // uid → resource name
            var refused: [String] = []
            for card in cards {
                let r = try await account.dav("PUT", "addressbooks/user/\(account.user)/Default/\(card.name).vcf", body: Data(card.text.utf8),
                                              contentType: "text/vcard; charset=utf-8")
                if (200..<300).contains(r.status) {
                    accepted[card.uid] = card.name
                } else {
                    refused.append("\(card.name) (\(r.status) \(String(decoding: r.body.prefix(200), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")))")
                }
            }
            print("corpus: \(cards.count) cards; Cyrus took \(accepted.count), refused \(refused.count): \(refused.joined(separator: ", "))")
            return accepted
        }

        @Test("every card of real-world address-book exports is mirrored as CardDAV serves it")
        func cards() async throws {
            let cards = try Self.vcards()
            let account = try await ServerAccount.fresh(server)
            let accepted = try await putCards(cards, into: account)
            // What the issue asks the corpus to hold, among the cards the server took: groups,
            // photos and non-ASCII names.
            let taken = cards.filter { accepted[$0.uid] == $0.name }.map(\.text)
            #expect(taken.filter { $0.contains("X-ADDRESSBOOKSERVER-KIND:group") || $0.contains("KIND:group") }.count >= 2)
            #expect(taken.filter { $0.contains("\nPHOTO") }.count >= 5)
            #expect(taken.filter { card in
                card.split(whereSeparator: \.isNewline).contains { $0.hasPrefix("FN:") && $0.unicodeScalars.contains { !$0.isASCII } }
            }.count >= 4)
            let mirror = try TestMirror()
            let summary = try await mirror.sync(account)
            #expect(summary.failed.isEmpty, "\(summary.failed)")
            let root = mirror.dir + "/\(mirror.name)/contacts"
            let mirrored = pimFiles(root)
            #expect(mirrored.count == accepted.count, "\(mirrored)")
            var equal = 0, jmapCannotSay: [String] = []
            for (uid, name) in accepted.sorted(by: { $0.key < $1.key }) {
                let wanted = MaildirNames.component(uid, suffix: ".vcf")
                guard let rel = mirrored.first(where: { ($0 as NSString).lastPathComponent == wanted }) else {
                    Issue.record("\(name): no mirrored file \(wanted)")
                    continue
                }
                let text = read(root + "/" + rel)
                let dav = try await account.dav("GET", "addressbooks/user/\(account.user)/Default/\(name).vcf",
                                                accept: "text/vcard; version=" + (text.contains("VERSION:4.0") ? "4.0" : "3.0"))
                // The same bytes, or the same card after normalisation. (vobject, khard's parser,
                // cannot read Lotus Notes' card with an embedded AGENT vCard, whichever the source.)
                if FileManager.default.contents(atPath: root + "/" + rel) == dav.body { equal += 1; continue }
                let davFile = mirror.dir + "/" + name + ".dav.vcf"
                try dav.body.write(to: URL(fileURLWithPath: davFile))
                let r = try pimCheck(["compare", root + "/" + rel, davFile])
                let differences = r.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if r.status == 0 {
                    equal += 1
                } else if differences.allSatisfy({ $0.hasPrefix("only in dav: ('MEMBER', '") && !$0.contains("'urn:uuid:") }) {
                    // A group member that is not a `urn:uuid:` reference (Apple: a bare address)
                    // is not in Cyrus's ContactGroup JSON, and Cyrus gives no blob for a group.
                    jmapCannotSay.append(name)
                } else {
                    Issue.record("\(name): \(r.output)")
                }
            }
            print("corpus: mirrored cards equal to CardDAV: \(equal)/\(accepted.count); differing only in what the JMAP data cannot say: \(jmapCannotSay)")
            #expect(equal + jmapCannotSay.count == accepted.count)
            #expect(jmapCannotSay == ["apple-ccs-vcardput-17-0"])
        }

        @Test("replay of the real-world events and cards to another Cyrus: carried or refused with the server's reason, nothing sent, a rerun does nothing")
        func replayCorpus() async throws {
            let second = try TestServer.load(second: true)
            let source = try await ServerAccount.fresh(server, prefix: "cs")
            let target = try await ServerAccount.fresh(second, prefix: "ct")
            let (events, _) = try await putCalendars(into: source)
            let cards = try await putCards(try Self.vcards(), into: source)
            let dir = try CLI.scratch("corpus-replay")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", accounts: [
                ("src", server, source.user), ("dst", second, target.user)]))
            #expect(try cli.run(["sync", "src"]).code == 0)
            let sentBefore = sentMail(server, mentioning: "") + sentMail(second, mentioning: "")
            // Exit 1: Cyrus refuses some events as JMAP input (no start, a custom zone name); each
            // is reported with the server's answer, everything else is carried and verified.
            let r = try cli.json(["replay", "src", "--to", "dst", "--only", "contacts,calendars"])
            #expect(r.code == 1, "\(r.value)")
            var refusedUids = Set<String>()
            for kind in r.value["report"]?["kinds"]?.arrayValue ?? [] {
                let refused = kind["refused"]?.arrayValue ?? []
                let reasons = Dictionary(grouping: refused.compactMap { $0["reason"]?.stringValue }, by: { $0 }).mapValues(\.count)
                print("corpus replay: \(kind["kind"]?.stringValue ?? "?"): planned \(kind["planned"]?.intValue ?? -1), verified \(kind["verified"]?.intValue ?? -1), refused \(refused.count): \(reasons)")
                #expect((kind["verified"]?.intValue ?? 0) + refused.count == kind["planned"]?.intValue, "\(kind)")
                #expect(refused.allSatisfy { $0["reason"]?.stringValue?.hasPrefix("the target refused it: invalidProperties") == true })
                #expect((kind["verifyFailures"]?.arrayValue ?? []).isEmpty)
                refusedUids.formUnion(refused.compactMap { $0["item"]?.stringValue })
            }
            #expect(r.value["report"]?["kinds"]?.arrayValue?.first { $0["kind"] == "contacts" }?["verified"]?.intValue == cards.count)
            // Photos travel too, also those Cyrus does not report as `avatar` (Apple's `PHOTO;BASE64:`):
            // the target reports each as an `avatar` of the photo's size.
            let carried = Dictionary(try await target.pimList("Contact").compactMap { c in c["uid"]?.stringValue.map { ($0, c) } },
                                     uniquingKeysWith: { a, _ in a })
            let accepted = Set(try await source.pimList("Contact").compactMap { $0["uid"]?.stringValue })
            let photos = try Self.vcards().filter { accepted.contains($0.uid) }.compactMap { card in
                VCardPhoto.inline(in: Data(card.text.utf8)).map { (card.uid, $0.bytes.count) }
            }
            #expect(photos.count >= 5)
            for (uid, size) in photos { #expect(carried[uid]?["avatar"]?["size"]?.intValue == size, "photo of \(uid)") }
            // A rerun does nothing, also for the few events Cyrus rewrites on every write (an invalid
            // UNTIL made valid, participants of an event the account does not organise): the journal
            // remembers both sides as they were right after the write.
            let again = try cli.json(["replay", "src", "--to", "dst", "--only", "contacts,calendars"])
            for kind in again.value["report"]?["kinds"]?.arrayValue ?? [] {
                print("corpus replay: rerun \(kind["kind"]?.stringValue ?? "?"): created \(kind["created"]?.intValue ?? -1), updated \(kind["updated"]?.intValue ?? -1)")
                #expect(kind["created"]?.intValue == 0 && kind["updated"]?.intValue == 0, "rerun: \(kind)")
            }
            // The target's own iCalendar and vCards, mirrored: every carried item is there; what it
            // says differs only where the JSON could not carry it (the conversion figures).
            #expect(try cli.run(["sync", "dst"]).code == 0)
            var same = 0, missing: [String] = [], differ = 0
            for sub in ["calendars", "contacts"] {
                let dst = Set(pimFiles(dir + "/mirror/dst/" + sub).map { ($0 as NSString).lastPathComponent })
                for rel in pimFiles(dir + "/mirror/src/" + sub) {
                    let file = (rel as NSString).lastPathComponent
                    guard dst.contains(file) else { missing.append(file); continue }
                    let c = try pimCheck(["compare", dir + "/mirror/src/\(sub)/" + rel, dir + "/mirror/dst/\(sub)/" + rel])
                    if c.status == 0 { same += 1 } else { differ += 1 }
                }
            }
            print("corpus replay: \(same) items say the same on the target, \(differ) differ, \(missing.count) not carried (refused): \(missing.sorted())")
            #expect(missing.count <= refusedUids.count)
            #expect(sentMail(server, mentioning: "") + sentMail(second, mentioning: "") == sentBefore, "a message was sent")
        }
    }
}
