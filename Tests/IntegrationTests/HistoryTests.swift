import Digest
import Foundation
import JMAP
import Store
import TestSupport
import Testing

/// Runs the jmirror binary; output in files under `dir` (stdout, stdout.err).
struct CLI {
    let dir: String
    let config: String

    @discardableResult
    func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let pid = try spawn([jmirrorBinary, "--config", config] + args, stdout: dir + "/stdout")
        let code = waitExit(pid)
        return (code, (try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? "",
                (try? String(contentsOfFile: dir + "/stdout.err", encoding: .utf8)) ?? "")
    }

    /// The last line of stdout, as JSON.
    func json(_ args: [String]) throws -> (code: Int32, value: JSONValue) {
        let r = try run(args + ["--json"])
        let last = r.out.split(separator: "\n").last.map(String.init) ?? ""
        return (r.code, (try? JSONValue.decode(Data(last.utf8))) ?? .null)
    }

    static func scratch(_ label: String) throws -> String {
        let d = scratchRun + "/\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// One directory per test run, kept for a look after it; the runs before it are removed
    /// first (a full run leaves about 2 GB of mirrors, and /tmp filled up over a day of runs).
    static let scratchRun: String = {
        let tmp = FileManager.default.temporaryDirectory.path
        for old in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where old.hasPrefix("jmirror-tests-") {
            // A run still going (its process alive) keeps its directory.
            if let pid = Int32(old.dropFirst("jmirror-tests-".count)), kill(pid, 0) == 0, pid != getpid() { continue }
            try? FileManager.default.removeItem(atPath: tmp + "/" + old)
        }
        return tmp + "/jmirror-tests-\(getpid())"
    }()
}

/// Every regular file under `root` (relative path → bytes), skipping `skip` prefixes.
func tree(_ root: String, skip: [String] = []) -> [String: Data] {
    var out: [String: Data] = [:]
    for rel in (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? [] where !skip.contains(where: rel.hasPrefix) {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
            out[rel] = FileManager.default.contents(atPath: root + "/" + rel)
        }
    }
    return out
}

func flipByte(_ path: String, at offset: Int) throws {
    chmod(path, 0o600)
    let fd = open(path, O_RDWR)
    guard fd >= 0 else { throw TestServerUnavailable(description: "open \(path)") }
    defer { close(fd) }
    var b: UInt8 = 0
    pread(fd, &b, 1, off_t(offset))
    b ^= 0x55
    pwrite(fd, &b, 1, off_t(offset))
}

extension Integration {
    @Suite("Snapshots, restore, retention, check and archives against the real Cyrus")
    struct HistoryTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        /// An account with mail in several mailboxes (one message in three), custom keywords, a
        /// contact, an event and two Sieve scripts.
        func seeded() async throws -> (account: ServerAccount, ids: [String], old: String, scripts: [String]) {
            let account = try await ServerAccount.fresh(server, prefix: "h")
            let inbox = try await account.mailboxId(role: "inbox")
            let archive = try await account.mailboxId(role: "archive")
            let projects = try #require(try await account.setMailbox(create: "Projects & Plans"))
            let old = try #require(try await account.setMailbox(create: "Old"))
            var ids: [String] = []
            for i in 0..<6 {
                let boxes = i == 0 ? [inbox, archive, projects] : [[inbox, archive, projects, old][i % 4]]
                ids.append(try await account.importMessage(sampleMessage("message \(i)", body: String(repeating: "body \(i) ", count: 50 * (i + 1))),
                                                           mailboxIds: boxes, keywords: i % 2 == 0 ? ["$seen", "project-x"] : []))
            }
            try await account.putCard(sampleCard("card-1", name: "Ada Lovelace"), name: "card-1")
            try await account.putEvent(sampleEvent("event-1", title: "Review"), name: "event-1")
            let a = try await account.upload(Data("keep;\r\n".utf8))
            let b = try await account.upload(Data("discard;\r\n".utf8))
            let r = try await account.pimSet("SieveScript/set", ["create": ["a": ["name": "main", "blobId": .string(a)],
                                                                            "b": ["name": "strict", "blobId": .string(b)]],
                                                                 "onSuccessActivateScript": "#a"])
            let scripts = [r["created"]?["a"]?["id"]?.stringValue ?? "", r["created"]?["b"]?["id"]?.stringValue ?? ""]
            return (account, ids, old, scripts)
        }

        @Test("sync records snapshots; restore, diff, forget and prune, archives and damage all work end to end")
        func lifecycle() async throws {
            let (account, ids, old, scripts) = try await seeded()
            let dir = try CLI.scratch("history")
            let mirror = dir + "/mirror"
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: mirror, account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            var r = try cli.json(["sync"])
            #expect(r.code == 0)
            let first = try cli.json(["snapshots"]).value["snapshots"]?.arrayValue ?? []
            #expect(first.count == 1)
            let snapA = try #require(first.first?["id"]?.stringValue)
            #expect(first.first?["messages"]?.intValue == 6)
            // What the server held then, and the PIM files the live mirror had.
            let expectedA = try await account.expectedMaildir()
            #expect(try maildirSnapshot(mirror + "/main/mail") == expectedA)
            let pimA = tree(mirror + "/main", skip: ["mail"])
            #expect(pimA.keys.contains { $0.hasPrefix("contacts/") && $0.hasSuffix(".vcf") })
            #expect(pimA.keys.contains { $0.hasPrefix("calendars/") && $0.hasSuffix(".ics") })
            #expect(pimA["sieve/active"] == Data("main".utf8))

            // A sync with no change records nothing.
            r = try cli.json(["sync"])
            let afterQuiet = try cli.json(["snapshots"]).value["snapshots"]?.arrayValue?.count
            #expect(r.code == 0 && afterQuiet == 1)

            // Mutations: deliver, move, flag, destroy a message and a mailbox (with its message),
            // change the contact and the event, switch the active script.
            let inbox = try await account.mailboxId(role: "inbox")
            let trash = try await account.mailboxId(role: "trash")
            let delivered = try await account.importMessage(sampleMessage("new one"), mailboxIds: [inbox])
            try await account.updateEmail(ids[1], ["mailboxIds": [trash: true]])
            try await account.updateEmail(ids[2], ["keywords/$flagged": true])
            try await account.destroyEmails([ids[5]])
            try await account.setMailbox(destroy: old, removeEmails: true)
            try await account.putCard(sampleCard("card-1", name: "Ada King"), name: "card-1")
            try await account.putEvent(sampleEvent("event-1", title: "Review, moved", day: 3), name: "event-1")
            try await account.pimSet("SieveScript/set", ["onSuccessActivateScript": .string(scripts[1])])
            r = try cli.json(["sync", "--tag", "after"])
            #expect(r.code == 0)
            // The sync's --json lines: one per account (with the snapshot it recorded), then a summary.
            let syncOut = try String(contentsOfFile: dir + "/stdout", encoding: .utf8)
            let firstLine = syncOut.split(separator: "\n").first.map(String.init) ?? ""
            let accountLine = try JSONValue.decode(Data(firstLine.utf8))
            let snapB = try #require(accountLine["snapshot"]?.stringValue)
            let list = try cli.json(["snapshots"]).value["snapshots"]?.arrayValue ?? []
            #expect(list.count == 2 && list.last?["tags"] == ["after"])

            // restore of the first snapshot equals what the server held then.
            var out = try cli.run(["restore", String(snapA.prefix(8)), "--to", dir + "/restoreA"])
            #expect(out.code == 0, "\(out.err)")
            #expect(try maildirSnapshot(dir + "/restoreA/main/mail") == expectedA)
            #expect(tree(dir + "/restoreA/main", skip: ["mail"]) == pimA)
            // ...and the latest equals the server now, by account@latest.
            out = try cli.run(["restore", "main@latest", "--to", dir + "/restoreB"])
            #expect(out.code == 0, "\(out.err)")
            #expect(try maildirSnapshot(dir + "/restoreB/main/mail") == (try await account.expectedMaildir()))
            #expect(tree(dir + "/restoreB/main", skip: ["mail"]) == tree(mirror + "/main", skip: ["mail"]))
            // A real reader: notmuch indexes the restored Maildir as it would the live one; the
            // message in three mailboxes is one message with three files, and the Maildir flags
            // become its tags.
            out = try cli.run(["restore", snapA, "--only", "mail", "--to", dir + "/restoreN"])
            #expect(out.code == 0, "\(out.err)")
            let nm = dir + "/notmuch-config"
            try "[database]\npath=\(dir)/restoreN/main/mail\n[new]\ntags=inbox\n[maildir]\nsynchronize_flags=true\n"
                .write(toFile: nm, atomically: true, encoding: .utf8)
            try ServerAccount.run(["/usr/bin/notmuch", "--config=" + nm, "new", "--quiet"])
            func notmuch(_ args: String...) throws -> Int {
                Int(try ServerAccount.run(["/usr/bin/notmuch", "--config=" + nm, "count"] + args).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }
            #expect(try notmuch("--output=files", "*") == expectedA.values.map(\.count).reduce(0, +))
            #expect(try notmuch("*") == 6)
            #expect(try notmuch("tag:unread") == 3)

            // --only: just those kinds.
            out = try cli.run(["restore", snapA, "--only", "contacts,sieve", "--to", dir + "/restoreOnly"])
            #expect(out.code == 0, "\(out.err)")
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/restoreOnly/main")) == ["contacts", "sieve"])
            #expect(try cli.run(["restore", snapA, "--only", "mail,photos", "--to", dir + "/restoreBad"]).code == 64)
            // Hard links into the store on the same filesystem.
            let restoredFile = try #require(tree(dir + "/restoreA/main/mail").keys.first { $0.hasPrefix("cur/") })
            var st = stat()
            stat(dir + "/restoreA/main/mail/" + restoredFile, &st)
            #expect(st.st_nlink > 1)

            // diff lists exactly the mutations.
            let diff = try cli.json(["diff", snapA, snapB]).value["diff"]
            func idsOf(_ key: String) -> Set<String> { Set((diff?[key]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }) }
            #expect(idsOf("messagesAdded") == [delivered])
            #expect(idsOf("messagesRemoved") == [ids[5], ids[3]])
            #expect(idsOf("messagesMoved") == [ids[1]])
            #expect(idsOf("keywordsChanged") == [ids[2]])
            #expect(idsOf("mailboxesDestroyed") == [old])
            #expect(idsOf("mailboxesCreated").isEmpty && idsOf("mailboxesRenamed").isEmpty)
            let changedTypes = (diff?["itemsChanged"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
            #expect(changedTypes.contains("CalendarEvent") && changedTypes.contains("SieveScript")
                && (changedTypes.contains("Contact") || changedTypes.contains("ContactCard")))
            // Against the current state: nothing since B.
            #expect(try cli.json(["diff", snapB]).value["diff"]?["messagesAdded"]?.arrayValue?.isEmpty == true)

            // Archives: deterministic, listed by tar, verified, imported into an empty mirror.
            out = try cli.run(["archive", "export", snapA, "-o", dir + "/a.tar.zst"])
            #expect(out.code == 0, "\(out.err)")
            out = try cli.run(["archive", "export", snapA, "-o", dir + "/a2.tar.zst"])
            #expect(FileManager.default.contents(atPath: dir + "/a.tar.zst") == FileManager.default.contents(atPath: dir + "/a2.tar.zst"))
            out = try cli.run(["archive", "export", snapB, "--base", dir + "/a.tar.zst", "-o", dir + "/b.tar.zst"])
            #expect(out.code == 0, "\(out.err)")
            let listing = try ServerAccount.run(["/usr/bin/tar", "--zstd", "-tf", dir + "/b.tar.zst"])
            #expect(listing.hasPrefix("manifest.json\n") && listing.contains("snapshots/\(snapB).jsonl"))
            // The incremental archive holds only the new message's blob (and the changed items' blobs).
            let incremental = listing.split(separator: "\n").filter { $0.hasPrefix("objects/") }.count
            let full = try ServerAccount.run(["/usr/bin/tar", "--zstd", "-tf", dir + "/a.tar.zst"]).split(separator: "\n")
                .filter { $0.hasPrefix("objects/") }.count
            #expect(incremental >= 1 && incremental < full)
            #expect(try cli.run(["archive", "verify", dir + "/b.tar.zst"]).code == 0)
            #expect(try cli.json(["archive", "list", dir + "/b.tar.zst"]).value["base"] != nil)

            let dir2 = try CLI.scratch("imported")
            let other = CLI(dir: dir2, config: writeConfig(in: dir2, mirror: dir2 + "/mirror", account: "unrelated", url: server.hostPort,
                                                          user: account.user, password: account.password))
            // Given in the wrong order: the base is imported first.
            out = try other.run(["archive", "import", dir + "/b.tar.zst", dir + "/a.tar.zst"])
            #expect(out.code == 0, "\(out.err)")
            #expect(try other.json(["snapshots"]).value["snapshots"]?.arrayValue?.count == 2)
            out = try other.run(["restore", "main@" + snapA.prefix(10), "--to", dir2 + "/rA"])
            #expect(out.code == 0, "\(out.err)")
            #expect(tree(dir2 + "/rA") == tree(dir + "/restoreA"))
            out = try other.run(["restore", "main@latest", "--to", dir2 + "/rB"])
            #expect(tree(dir2 + "/rB") == tree(dir + "/restoreB"))
            let again = try other.json(["archive", "import", dir + "/a.tar.zst", dir + "/b.tar.zst"]).value
            #expect(again["archives"]?.arrayValue?.allSatisfy { $0["snapshotsImported"]?.arrayValue?.isEmpty == true } == true)
            #expect(try other.run(["check", "--read-data"]).code == 0)

            // Encrypted round trip through age: export | age -e, then age -d | import.
            let key = dir + "/age.key"
            try ServerAccount.run(["/usr/bin/age-keygen", "-o", key])
            let recipient = try ServerAccount.run(["/usr/bin/age-keygen", "-y", key]).trimmingCharacters(in: .whitespacesAndNewlines)
            try ServerAccount.run(["/bin/sh", "-c", "'\(jmirrorBinary)' --config '\(cli.config)' archive export \(snapA) -o - "
                + "| age -r \(recipient) > '\(dir)/a.age'"])
            let dir3 = try CLI.scratch("age")
            let third = CLI(dir: dir3, config: writeConfig(in: dir3, mirror: dir3 + "/mirror", account: "unrelated", url: server.hostPort,
                                                          user: account.user, password: account.password))
            try ServerAccount.run(["/bin/sh", "-c", "age -d -i '\(key)' '\(dir)/a.age' | '\(jmirrorBinary)' --config '\(third.config)' "
                + "archive import - --as restored"])
            out = try third.run(["restore", "restored@latest", "--to", dir3 + "/r"])
            #expect(out.code == 0, "\(out.err)")
            #expect(try maildirSnapshot(dir3 + "/r/restored/mail") == expectedA)

            // PDPA: the first snapshot in the draft's layout, valid against its schemas, every
            // message of every folder there with its keywords; deterministic too.
            out = try cli.run(["archive", "export", snapA, "--format", "pdpa", "-o", dir + "/a.pdpa.tar.zst"])
            #expect(out.code == 0, "\(out.err)")
            out = try cli.run(["archive", "export", snapA, "--format", "pdpa", "-o", dir + "/a2.pdpa.tar.zst"])
            #expect(FileManager.default.contents(atPath: dir + "/a.pdpa.tar.zst") == FileManager.default.contents(atPath: dir + "/a2.pdpa.tar.zst"))
            #expect(try cli.run(["archive", "verify", dir + "/a.pdpa.tar.zst"]).code == 0)
            #expect(try cli.json(["archive", "list", dir + "/a.pdpa.tar.zst"]).value["format"] == "pdpa")
            let pdpaDir = dir + "/pdpa"
            try FileManager.default.createDirectory(atPath: pdpaDir, withIntermediateDirectories: true)
            let pdpaListing = try ServerAccount.run(["/usr/bin/tar", "--zstd", "-tf", dir + "/a.pdpa.tar.zst"])
            #expect(pdpaListing.hasPrefix("archive.json\n") && pdpaListing.contains("mail/INBOX/folder.json"))
            try ServerAccount.run(["/usr/bin/tar", "--zstd", "-xf", dir + "/a.pdpa.tar.zst", "-C", pdpaDir])
            let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            var validation = "{}"
            do {
                validation = try ServerAccount.run(["/usr/bin/env", "python3", here.appendingPathComponent("../TestSupport/pdpa_check.py").standardized.path,
                                                    here.appendingPathComponent("Fixtures/pdpa").path, pdpaDir])
            } catch {
                Issue.record("PDPA validation: \(error)")
            }
            let report = try JSONValue.decode(Data(validation.utf8))
            #expect(report["errors"]?.arrayValue?.isEmpty == true, "\(report["errors"] ?? .null)")
            #expect((report["counts"]?["contacts"]?.intValue ?? 0) >= 1 && (report["counts"]?["events"]?.intValue ?? 0) >= 1)
            let pdpaMessages = report["messages"]?.arrayValue ?? []
            #expect(pdpaMessages.count == expectedA.values.map(\.count).reduce(0, +))
            #expect(Set(pdpaMessages.compactMap { $0.arrayValue?[1].stringValue })
                == Set(expectedA.values.flatMap { $0.map { String($0.prefix(64)) } }))
            #expect(pdpaMessages.contains { ($0.arrayValue?[2].arrayValue ?? []).contains("project-x") })

            // ...and imported back (here into the mirror that imported the jmirror archives, under
            // another name): the restored Maildir equals the server's state then, folder for folder,
            // flag for flag; the card, the event and both scripts are there.
            out = try other.run(["archive", "import", dir + "/a.pdpa.tar.zst", "--as", "frompdpa"])
            #expect(out.code == 0, "\(out.err)")
            #expect(try other.json(["archive", "import", dir + "/a.pdpa.tar.zst", "--as", "frompdpa"]).value["archives"]?.arrayValue?.first?["snapshotsImported"]?.arrayValue?.isEmpty == true)
            out = try other.run(["restore", "frompdpa@latest", "--to", dir2 + "/rP"])
            #expect(out.code == 0, "\(out.err)")
            #expect(try maildirSnapshot(dir2 + "/rP/frompdpa/mail") == expectedA)
            let pdpaRestored = tree(dir2 + "/rP/frompdpa", skip: ["mail"]).keys
            #expect(pdpaRestored.filter { $0.hasSuffix(".vcf") }.count == 1 && pdpaRestored.filter { $0.hasSuffix(".ics") }.count == 1)
            #expect(pdpaRestored.filter { $0.hasSuffix(".sieve") }.count == 2)

            // A flipped byte in an archive is caught.
            try FileManager.default.copyItem(atPath: dir + "/a.tar.zst", toPath: dir + "/bad.tar.zst")
            let size = (try FileManager.default.attributesOfItem(atPath: dir + "/bad.tar.zst")[.size] as? Int) ?? 0
            try flipByte(dir + "/bad.tar.zst", at: size / 2)
            #expect(try cli.run(["archive", "verify", dir + "/bad.tar.zst"]).code == 66)

            // forget --keep-last 1 --prune frees the destroyed message's object.
            let removedSha = try #require((diff?["messagesRemoved"]?.arrayValue ?? []).first { $0["id"]?.stringValue == ids[5] }?["sha256"]?.stringValue)
            let objectPath = mirror + "/.jmirror/objects/sha256/\(removedSha.prefix(2))/\(removedSha)"
            #expect(FileManager.default.fileExists(atPath: objectPath))
            let forget = try cli.json(["forget", "--keep-last", "1", "--prune"]).value
            #expect(forget["forgotten"]?.intValue == 1 && (forget["prune"]?["objects"]?.intValue ?? 0) >= 1)
            #expect(!FileManager.default.fileExists(atPath: objectPath))
            #expect(try cli.run(["check", "--read-data"]).code == 0)

            // A corrupt object of a current message: check finds it, the next sync fetches it again.
            let victim = try #require(try maildirSnapshot(mirror + "/main/mail")[""]?.first?.split(separator: " ").first.map(String.init))
            try flipByte(mirror + "/.jmirror/objects/sha256/\(victim.prefix(2))/\(victim)", at: 10)
            let check = try cli.json(["check", "--read-data"])
            #expect(check.code == 66)
            #expect(check.value["result"]?["problems"]?.arrayValue?.contains { $0["kind"] == "object-damaged" } == true)
            #expect(try cli.run(["sync"]).code == 0)
            #expect(try cli.run(["check", "--read-data"]).code == 0)
            #expect(try maildirSnapshot(mirror + "/main/mail") == (try await account.expectedMaildir()))

            // A missing object never wedges the account: put back from a Maildir file that still
            // has its bytes, or, when nothing has them any more, fetched again from the server.
            func inboxFiles() throws -> [String] {
                try FileManager.default.contentsOfDirectory(atPath: mirror + "/main/mail/cur").sorted()
            }
            func idOf(_ file: String) -> String { String(file.dropFirst(5).prefix { $0 != ":" }) }
            let files = try inboxFiles()
            #expect(files.count >= 2)
            for (i, file) in files.prefix(2).enumerated() {
                let sha = try SHA256Hasher.hex(ofFileAt: mirror + "/main/mail/cur/" + file).sha256
                unlink(mirror + "/.jmirror/objects/sha256/\(sha.prefix(2))/\(sha)")
                if i == 1 {
                    for f in tree(mirror + "/main/mail").keys where f.hasSuffix("/jmap-" + idOf(file) + ":" + (file.split(separator: ":").last ?? "")) || f.contains("jmap-\(idOf(file)):") {
                        unlink(mirror + "/main/mail/" + f)
                    }
                }
                try await account.updateEmail(idOf(file), ["keywords/$answered": true])
                out = try cli.run(["sync"])
                #expect(out.code == 0, "\(out.err)")
                #expect(FileManager.default.fileExists(atPath: mirror + "/.jmirror/objects/sha256/\(sha.prefix(2))/\(sha)"))
                #expect(try maildirSnapshot(mirror + "/main/mail") == (try await account.expectedMaildir()))
            }
            #expect(try cli.run(["check", "--read-data"]).code == 0)

            // Everything in the mirror is private: directories 0700, files 0600 (objects 0400).
            for rel in (FileManager.default.enumerator(atPath: mirror)?.allObjects as? [String] ?? []) + [""] {
                var st = stat()
                guard lstat(mirror + "/" + rel, &st) == 0 else { continue }
                #expect(st.st_mode & 0o077 == 0, "\(rel): mode \(String(st.st_mode & 0o777, radix: 8))")
            }
        }
    }
}
