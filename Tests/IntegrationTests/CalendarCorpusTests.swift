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
    @Suite("Real-world calendars")
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

        @Test("every event of a real-world corpus is mirrored as CalDAV serves it; the JSCalendar conversion is measured")
        func corpus() async throws {
            let sources = try ServerAccount.run(["/usr/bin/env", "python3", Self.script, "source"]).split(separator: "\n").map(String.init)
            let files = sources.flatMap { source in
                ((FileManager.default.enumerator(atPath: source)?.allObjects as? [String]) ?? [])
                    .filter { $0.hasSuffix(".ics") }.sorted().map { source + "/" + $0 }
            }
            let work = try CLI.scratch("corpus")
            try FileManager.default.createDirectory(atPath: work + "/res", withIntermediateDirectories: true)
            let listing = try JSONValue.decode(Data(try ServerAccount.run(["/usr/bin/env", "python3", Self.script, "split", work + "/res"] + files).utf8))
            let account = try await ServerAccount.fresh(server)
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
            #expect(accepted.count >= 100)

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
            #expect(converted.count >= 116)
            print("corpus: mirrored files equal to CalDAV: \(exact.count)/\(accepted.count); conversion alone equal: \(converted.count)/\(accepted.count)")
            for (p, names) in conversionDiffs.sorted(by: { $0.value.count > $1.value.count }) {
                print("corpus: conversion differs in \(p): \(names.count): \(names.sorted().joined(separator: " "))")
            }
        }
    }
}
