import Foundation
import JMAP
import Search
import TestSupport
import Testing

/// The real-world messages of `Fixtures/mail` (SOURCE.md says where they come from).
func mailCorpus() throws -> [String] {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/mail").path
    return try FileManager.default.contentsOfDirectory(atPath: dir).filter { !["SOURCE.md", "MIT-LICENSE"].contains($0) }.sorted()
        .map { dir + "/" + $0 }
}

func words(_ s: String) -> String {
    s.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
}

extension Integration {
    @Suite("Search against the real Cyrus and real-world messages")
    struct SearchTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("GMime reads the real-world corpus as Python's email package does: subjects, attachment names, text")
        func decodedLikePython() throws {
            let files = try mailCorpus()
            let oracle = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../TestSupport/mail_oracle.py").standardized.path
            let lines = try ServerAccount.run(["/usr/bin/env", "python3", oracle] + files).split(separator: "\n")
            var subjects = 0, subjectsSame = 0, names = 0, namesSame = 0, bodies = 0, bodiesSame = 0
            var differ: [String] = []
            var unreadable: [String] = []
            for line in lines {
                let py = try JSONValue.decode(Data(line.utf8))
                guard let file = py["file"]?.stringValue, py["error"] == nil else { continue }
                let name = (file as NSString).lastPathComponent
                guard let ours = try? MessageText.read(path: file) else {
                    unreadable.append(name)
                    continue
                }
                if let s = py["subject"]?.stringValue {
                    subjects += 1
                    if words(s) == words(ours.subject) { subjectsSame += 1 } else { differ.append("\(name): subject \(s) | \(ours.subject)") }
                }
                let pyNames = Set((py["attachments"]?.arrayValue ?? []).compactMap(\.stringValue))
                if !pyNames.isEmpty {
                    names += 1
                    if pyNames.isSubset(of: Set(ours.attachmentNames)) { namesSame += 1 } else {
                        differ.append("\(name): attachments \(pyNames.sorted()) | \(ours.attachmentNames)")
                    }
                }
                // The first words of Python's body text are in ours (HTML bodies are compared by their words).
                if let body = py["body"]?.stringValue, py["bodyType"]?.stringValue == "text/plain" {
                    let sample = body.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).filter { $0.count >= 3 }.prefix(8).map(String.init)
                    if !sample.isEmpty {
                        bodies += 1
                        let flat = ours.body.lowercased()
                        if sample.allSatisfy({ flat.contains($0.lowercased()) }) { bodiesSame += 1 } else {
                            differ.append("\(name): body starts \(sample.joined(separator: " ")) | \(ours.body.prefix(80))")
                        }
                    }
                }
            }
            print("mail corpus: \(files.count) files; subjects \(subjectsSame)/\(subjects) the same, attachment names \(namesSame)/\(names), "
                + "plain bodies \(bodiesSame)/\(bodies); not readable by GMime: \(unreadable); differences: \(differ)")
            #expect(subjects >= 100 && names >= 20 && bodies >= 80)
            // Every difference, with why; a new one fails the test. Where the two disagree GMime
            // is mostly the better reader of broken mail: it reads an unquoted name with spaces
            // whole, decodes an undeclared Latin-1 subject, takes RFC 822's obsolete `Subject :`
            // syntax; with two Subject headers it takes the last, Python the first. One is a
            // GMime quirk that costs words: a subject of padded base64 encoded-words is decoded as
            // one run, and the padding inside drops the middle words.
            let known: Set<String> = [
                "attachment_emails_attachment_with_unquoted_name.eml: attachments", "error_emails_bad_subject.eml: subject",
                "error_emails_invalid_subject_characters.eml: subject", "mime_emails_raw_email_with_binary_encoded.eml: subject",
                "mime_emails_raw_email_with_multipart_mixed_quoted_boundary.eml: subject",
                "plain_emails_raw_email_incorrect_header.eml: subject", "plain_emails_raw_email_incorrect_header.eml: body",
                "rfc2822_example13.eml: subject", "rfc2822_example13.eml: body",
            ]
            #expect(Set(differ.map { String($0.split(separator: " ").prefix(2).joined(separator: " ")) }) == known, "\(differ)")
            #expect(unreadable == ["sample_output_multipart"])  // an empty file

            // What the corpus is there for, by name.
            let dir = (files[0] as NSString).deletingLastPathComponent
            #expect(try MessageText.read(path: dir + "/multi_charset_japanese_iso_2022.eml").subject == "まみむめも")
            #expect(try MessageText.read(path: dir + "/multi_charset_japanese_shift_jis.eml").body.contains("このメールはテスト用のメールです"))
            #expect(try MessageText.read(path: dir + "/multi_charset_ks_c_5601-1987.eml").body.contains("스티해"))
            #expect(try MessageText.read(path: dir + "/attachment_emails_attachment_nonascii_filename.eml").attachmentNames.contains("ciële.txt"))
        }

        @Test("a mirror of the corpus: search equals notmuch on the same Maildir; deletions, moves and flags follow syncs")
        func endToEnd() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "se")
            let inbox = try await account.mailboxId(role: "inbox")
            let archive = try await account.mailboxId(role: "archive")
            let year = try #require(try await account.setMailbox(create: "2024", patch: ["parentId": .string(archive)]))
            var imported: [(id: String, file: String, year: Int)] = []
            for (i, file) in try mailCorpus().enumerated() {
                let raw = try Data(contentsOf: URL(fileURLWithPath: file))
                let box = i % 3 == 0 ? year : inbox
                let keywords = i % 4 == 0 ? ["$seen", "$flagged"] : i % 2 == 0 ? ["$seen"] : []
                let received = String(format: "%04d-%02d-10T12:00:00Z", 2019 + i % 6, 1 + i % 12)
                if let id = try? await account.importMessage(raw, mailboxIds: [box], keywords: keywords, receivedAt: received) {
                    imported.append((id, file, 2019 + i % 6))
                }
            }
            #expect(imported.count >= 90, "Cyrus took \(imported.count) messages")
            let dir = try CLI.scratch("search")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            var r = try cli.run(["sync"])
            #expect(r.code == 0, "\(r.err)")
            r = try cli.run(["search", "anything"])
            #expect(r.code == 64 && r.err.contains("--reindex"), "\(r.err)")
            r = try cli.run(["search", "--reindex"])
            #expect(r.code == 0 && r.err.contains("indexed \(Set(imported.map(\.id)).count) messages"), "\(r.err)")
            // A quiet sync leaves the index alone (the catalog's generation did not move).
            r = try cli.run(["sync", "-v"])
            #expect(r.code == 0 && !r.err.contains("search index:"), "\(r.err)")

            func ours(_ q: String, _ extra: [String] = []) throws -> Set<String> {
                let r = try cli.run(["search", "--output", "ids"] + extra + [q])
                #expect(r.code == 0, "\(q): \(r.err)")
                return Set(r.out.split(separator: "\n").map { String($0.split(separator: "/").last ?? "") })
            }
            // notmuch on the same Maildir, read as its users have it.
            let nm = dir + "/notmuch-config"
            try "[database]\npath=\(dir)/mirror/main/mail\n[new]\ntags=unread\nignore=dovecot-keywords;dovecot-uidlist\n[maildir]\nsynchronize_flags=true\n"
                .write(toFile: nm, atomically: true, encoding: .utf8)
            try ServerAccount.run(["/usr/bin/notmuch", "--config=" + nm, "new", "--quiet"])
            func emailId(_ path: Substring) -> String? {
                let name = (String(path) as NSString).lastPathComponent
                guard name.hasPrefix("jmap-"), let colon = name.firstIndex(of: ":") else { return nil }
                return String(name[name.index(name.startIndex, offsetBy: 5)..<colon])
            }
            func theirs(_ q: String) throws -> Set<String> {
                let files = try ServerAccount.run(["/usr/bin/notmuch", "--config=" + nm, "search", "--output=files", q])
                return Set(files.split(separator: "\n").compactMap(emailId))
            }
            // notmuch's message is a Message-ID, with all its files; ours is a JMAP Email. The
            // corpus has messages sharing one (copies of one fixture) and messages without: the
            // comparison is over the messages that are one file to notmuch too.
            let grouped = try ServerAccount.run(["/usr/bin/env", "python3", "-c", """
                import json, subprocess, sys
                out = subprocess.run(["notmuch", "--config=" + sys.argv[1], "show", "--format=json", "--body=false", "*"],
                                     capture_output=True, check=True).stdout
                def walk(x):
                    if isinstance(x, dict) and "filename" in x:
                        f = x["filename"]; f = f if isinstance(f, list) else [f]
                        if len(f) == 1: print(f[0])
                    elif isinstance(x, list):
                        for y in x: walk(y)
                walk(json.loads(out))
                """, nm])
            let single = Set(grouped.split(separator: "\n").compactMap(emailId))
            #expect(single.count >= 60, "\(single.count) messages are one file to notmuch")
            // Where both languages say the same thing. Both stem free words ("test" finds
            // "testing"); notmuch does not stem a word given with a field and we do, so the field
            // pairs use words that are their own stem.
            let pairs: [(String, String)] = [
                ("attachment", "attachment"), ("subject:hello", "subject:hello"), ("from:mikel", "from:mikel"),
                ("\"just testing\"", "\"just testing\""), ("is:unread", "tag:unread"),
                ("is:flagged", "tag:flagged"), ("in:Archive/2024", "folder:.Archive.2024"), ("test AND NOT is:unread", "test and not tag:unread"),
                ("subject:outlook OR from:example.com", "subject:outlook or from:example.com"),
            ]
            for (q, n) in pairs {
                let a = try ours(q).intersection(single), b = try theirs(n).intersection(single)
                #expect(!a.isEmpty && a == b, "\(q): only ours \(a.subtracting(b).sorted()), only notmuch's \(b.subtracting(a).sorted())")
            }
            // What notmuch cannot say, against what we put there.
            let shiftJIS = try #require(imported.first { $0.file.hasSuffix("multi_charset_japanese_shift_jis.eml") }?.id)
            #expect(try ours("テスト").contains(shiftJIS))
            #expect(try ours("メール") .contains(shiftJIS))
            let y2019 = Set(imported.filter { $0.year == 2019 }.map(\.id))
            #expect(try ours("date:2019") == y2019)
            #expect(try ours("date:2019..2020").isSuperset(of: y2019))
            #expect(try ours("has:attachment").count >= 10)

            // Files for mutt: paths that exist, in cur/.
            r = try cli.run(["search", "--output", "files", "in:Archive/2024"])
            let paths = r.out.split(separator: "\n").map(String.init)
            #expect(!paths.isEmpty && paths.allSatisfy { $0.contains("/.Archive.2024/cur/") && FileManager.default.fileExists(atPath: $0) })
            // show: the text, and the bytes as stored.
            r = try cli.run(["show", "main/\(shiftJIS)", "--text"])
            #expect(r.code == 0 && r.out.contains("このメールはテスト用のメールです"))
            let raw = dir + "/raw"
            #expect(waitExit(try spawn([jmirrorBinary, "--config", cli.config, "show", shiftJIS, "--raw"], stdout: raw)) == 0)
            let file = try #require(imported.first { $0.id == shiftJIS }?.file)
            #expect(try Data(contentsOf: URL(fileURLWithPath: raw)) == Data(contentsOf: URL(fileURLWithPath: file)))
            // A reader that goes away first (`| true` reads nothing and is gone before the first
            // line): exit 0 and nothing on stderr, for a search and for a message's bytes.
            for args in ["search --output ids ''", "show \(shiftJIS) --raw", "show \(shiftJIS)"] {
                let piped = try spawn(["/bin/bash", "-c", "'\(jmirrorBinary)' --config '\(cli.config)' \(args) | true; exit ${PIPESTATUS[0]}"],
                                      stdout: dir + "/piped")
                #expect(waitExit(piped) == 0, "\(args)")
                #expect((try? String(contentsOfFile: dir + "/piped.err", encoding: .utf8)) ?? "" == "", "\(args)")
            }

            // A search makes no request: libcurl and its thirty libraries are not even loaded.
            let traced = try spawn(["/usr/bin/env", "LD_DEBUG=libs", jmirrorBinary, "--config", cli.config, "search", "hello"],
                                   stdout: dir + "/traced")
            #expect(waitExit(traced) == 0)
            let loaded = (try? String(contentsOfFile: dir + "/traced.err", encoding: .utf8)) ?? ""
            #expect(loaded.contains("libsqlite3") && !loaded.contains("libcurl"), "\(loaded.suffix(2000))")

            // The server changes: a deletion, a move, a flag. The next sync updates the index.
            let gone = imported[1].id, moved = imported[2].id, flagged = imported[3].id
            try await account.destroyEmails([gone])
            try await account.updateEmail(moved, ["mailboxIds": .object([year: true])])
            try await account.updateEmail(flagged, ["keywords/$flagged": true])
            r = try cli.run(["sync", "-v"])
            #expect(r.code == 0 && r.err.contains("search index: 0 indexed, 2 updated, 1 deleted"), "\(r.err)")
            // Only what the catalog's journal names is compared, not the whole account.
            func compared(_ log: String) -> Int? {
                log.split(separator: "\n").last { $0.contains("search index:") }?
                    .split(separator: " ").first { $0.hasPrefix("compared=") }.flatMap { Int($0.dropFirst(9)) }
            }
            #expect(compared(r.err) == 3, "\(r.err)")
            #expect(try !ours("").contains(gone))
            #expect(try ours("", ["--history"]).contains(gone))
            #expect(try ours("deleted:yes", ["--history"]) == [gone])
            // The first snapshot (before the deletion) still holds it; the latest does not.
            let snaps = try cli.run(["snapshots", "--json"])
            let first = try #require(try JSONValue.decode(Data(snaps.out.utf8))["snapshots"]?.arrayValue?.first?["id"]?.stringValue)
            #expect(try ours("", ["--snapshot", String(first.prefix(8))]).contains(gone))
            #expect(try !ours("", ["--snapshot", "main@latest"]).contains(gone))
            #expect(try ours("in:Archive/2024").contains(moved))
            #expect(try ours("is:flagged").contains(flagged))
            // A snapshot is searched as it was: the moved message in its old folder, the flag not yet set.
            let firstSnap = ["--snapshot", String(first.prefix(8))]
            #expect(try !ours("in:Archive/2024", firstSnap).contains(moved))
            #expect(try ours("in:Archive/2024", ["--snapshot", "main@latest"]).contains(moved))
            #expect(try !ours("is:flagged", firstSnap).contains(flagged))
            #expect(try ours("is:flagged", ["--snapshot", "main@latest"]).contains(flagged))
            #expect(try ours("deleted:yes", firstSnap) == [gone])
            // thread: takes the id --output json gives.
            r = try cli.run(["search", "--output", "json", "--limit", "1", "is:flagged"])
            let hit = try JSONValue.decode(Data(r.out.utf8))
            let thread = try #require(hit["threadId"]?.stringValue)
            let inThread = try ours("thread:\(thread)")
            #expect(inThread.contains(try #require(hit["id"]?.stringValue)))
            #expect(inThread.count < imported.count)

            // A renamed folder changes the folder of every message in it: the next update compares them all.
            try await account.setMailbox(update: year, patch: ["name": "2025"])
            r = try cli.run(["sync", "-v"])
            #expect(r.code == 0 && compared(r.err) == Set(imported.map(\.id)).count - 1, "\(r.err)")
            #expect(try ours("in:Archive/2025").contains(moved))
            #expect(try ours("in:Archive/2024").isEmpty)
            // With the index gone the catalog stops noting changes; a new one walks everything once.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/mirror/.jmirror/search.sqlite" + suffix) }
            try await account.updateEmail(flagged, ["keywords/$flagged": .null])
            #expect(try cli.run(["sync"]).code == 0)
            #expect(try cli.run(["search", "--reindex"]).code == 0)
            try await account.updateEmail(flagged, ["keywords/$flagged": true])
            r = try cli.run(["sync", "-v"])
            #expect(r.code == 0 && compared(r.err) == 1, "\(r.err)")
            #expect(try ours("is:flagged").contains(flagged))
        }
        @Test("--threads: one line per thread (the server's threadId), its newest match, with the thread's count")
        func threads() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "th")
            let inbox = try await account.mailboxId(role: "inbox")
            func message(_ id: String, _ subject: String, replyTo: [String], day: Int) -> Data {
                let refs = replyTo.map { "<\($0)@example.org>" }.joined(separator: " ")
                return Data(("From: Ann <ann@example.org>\r\nTo: bob@example.com\r\nSubject: \(subject)\r\n"
                    + "Date: \(day) Mar 2024 10:00:00 +0000\r\nMessage-ID: <\(id)@example.org>\r\n"
                    + (replyTo.isEmpty ? "" : "In-Reply-To: <\(replyTo.last!)@example.org>\r\nReferences: \(refs)\r\n")
                    + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nabout the quarterly budget\r\n").utf8)
            }
            var ids: [String] = []
            for (id, subject, refs, day) in [("root", "Budget", [String](), 4), ("r1", "Re: Budget", ["root"], 5),
                                             ("r2", "Re: Budget", ["root", "r1"], 6), ("lone", "Holiday budget", [], 7)] {
                ids.append(try await account.importMessage(message(id, subject, replyTo: refs, day: day), mailboxIds: [inbox],
                                                           receivedAt: "2024-03-0\(day)T10:00:00Z"))
            }
            let dir = try CLI.scratch("threads")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            #expect(try cli.run(["sync"]).code == 0)
            #expect(try cli.run(["search", "--reindex"]).code == 0)
            var r = try cli.run(["search", "--threads", "budget"])
            let lines = r.out.split(separator: "\n").map(String.init)
            #expect(r.code == 0 && lines.count == 2, "\(r.out)")
            #expect(lines.first?.hasPrefix("main/\(ids[3])") == true && lines.first?.contains("[") == false, "\(r.out)")
            #expect(lines.last?.hasPrefix("main/\(ids[2])") == true && lines.last?.contains("Re: Budget [3]") == true, "\(r.out)")
            r = try cli.run(["search", "--threads", "--output", "ids", "--limit", "1", "budget"])
            #expect(r.out == "main/\(ids[3])\n", "\(r.out)")
            r = try cli.run(["search", "--output", "ids", "budget"])
            #expect(r.out.split(separator: "\n").count == 4)
        }

        @Test("kill -9 while indexing (a sync's update, a --reindex), then a sync: the index equals a fresh --reindex")
        func killWhileIndexing() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "sk")
            let inbox = try await account.mailboxId(role: "inbox")
            let files = try mailCorpus()
            var ids: [String] = []
            for file in files.prefix(50) {
                if let id = try? await account.importMessage(try Data(contentsOf: URL(fileURLWithPath: file)), mailboxIds: [inbox]) { ids.append(id) }
            }
            let dir = try CLI.scratch("search-kill")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            #expect(try cli.run(["sync"]).code == 0)
            #expect(try cli.run(["search", "--reindex"]).code == 0)
            func dump() throws -> [String] {
                let r = try cli.run(["search", "--output", "json", "--history", ""])
                #expect(r.code == 0, "\(r.err)")
                return r.out.split(separator: "\n").map(String.init).sorted()
            }
            var killed = 0
            for round in 0..<6 {
                // The server changes (new messages, a flag, a deletion); a sync that indexes them is killed…
                for file in files.dropFirst(50 + round * 8).prefix(8) {
                    if let id = try? await account.importMessage(try Data(contentsOf: URL(fileURLWithPath: file)), mailboxIds: [inbox]) { ids.append(id) }
                }
                try await account.updateEmail(ids[round], ["keywords/$flagged": true])
                try await account.destroyEmails([ids[10 + round]])  // synced before the kills: a snapshot holds it
                for args in [["sync"], ["search", "--reindex"]] {
                    let pid = try spawn([jmirrorBinary, "--config", cli.config] + args, stdout: dir + "/killed")
                    usleep(UInt32.random(in: 10_000...250_000))
                    kill(pid, SIGKILL)
                    if waitExit(pid) != 0 { killed += 1 }
                }
            }
            #expect(try cli.run(["sync"]).code == 0)
            let afterKills = try dump()
            #expect(try cli.run(["search", "--reindex"]).code == 0)
            let fresh = try dump()
            // A fresh index also finds the messages deleted on the server that snapshots keep.
            let onServer = { (lines: [String]) in lines.filter { $0.contains("\"deleted\":false") } }
            #expect(!fresh.isEmpty && afterKills == fresh)
            #expect(fresh.filter { $0.contains("\"deleted\":true") }.count == 6)
            print("search index: \(killed) of 12 indexing runs killed midway; after a sync the index equals a fresh one "
                + "(\(onServer(fresh).count) messages, and the 6 deleted ones kept)")
        }
        @Test("contacts and events by their words: real-world vCards, accents and CJK in event titles")
        func contactsAndEvents() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "sc")
            // The address-book exports the calendar tests use, one card per resource; each card
            // Cyrus takes must then be found by the longest word of its FN.
            var words: [String] = []
            for card in try Integration.CalendarCorpusTests.vcards() {
                let r = try await account.dav("PUT", "addressbooks/user/\(account.user)/Default/\(card.name).vcf", body: Data(card.text.utf8),
                                              contentType: "text/vcard; charset=utf-8")
                guard (200..<300).contains(r.status),
                      let fn = card.text.split(whereSeparator: \.isNewline).first(where: { $0.uppercased().hasPrefix("FN:") }) else { continue }
                let longest = fn.dropFirst(3).split(whereSeparator: { !$0.isLetter }).max { $0.count < $1.count }
                if let longest, longest.count >= 4 { words.append(String(longest)) }
            }
            try await account.putEvent(sampleEvent("ev-1", title: "Réunion budget", day: 3), name: "ev-1")
            try await account.putEvent(sampleEvent("ev-2", title: "四半期の会議", day: 4), name: "ev-2")
            try await account.putEvent(sampleEvent("ev-3", title: "Dentist", day: 5), name: "ev-3")
            let work = try CLI.scratch("search-pim")
            let cli = CLI(dir: work, config: writeConfig(in: work, mirror: work + "/mirror", account: "main", url: server.hostPort,
                                                        user: account.user, password: account.password))
            #expect(try cli.run(["sync"]).code == 0)
            let r = try cli.run(["search", "--reindex"])
            #expect(r.code == 0, "\(r.err)")
            func titles(_ type: String, _ q: String) throws -> [String] {
                let r = try cli.run(["search", "--type", type, "--output", "json", q])
                #expect(r.code == 0, "\(q): \(r.err)")
                return r.out.split(separator: "\n").compactMap { try? JSONValue.decode(Data($0.utf8))["title"]?.stringValue }
            }
            print("search: real-world cards found by a word of their name: \(words)")
            #expect(words.count >= 8)
            #expect(try titles("contacts", "").count >= 10)
            for w in words { #expect(try !titles("contacts", w).isEmpty, "\(w)") }
            #expect(try titles("contacts", "zzzznotaname").isEmpty)
            #expect(try titles("events", "reunion") == ["Réunion budget"])
            #expect(try titles("events", "会議") == ["四半期の会議"])
            #expect(try titles("events", "title:dentist OR budget").sorted() == ["Dentist", "Réunion budget"])
            let bad = try cli.run(["search", "--type", "events", "is:unread"])
            #expect(bad.code == 64 && bad.err.contains("facts of messages"))
            // A change on the server reaches the index with the next sync.
            try await account.putEvent(sampleEvent("ev-3", title: "Orthodontist", day: 5), name: "ev-3")
            #expect(try cli.run(["sync"]).code == 0)
            #expect(try titles("events", "dentist").isEmpty && titles("events", "orthodontist") == ["Orthodontist"])
        }
    }
}
