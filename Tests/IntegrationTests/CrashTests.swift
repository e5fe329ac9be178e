import Digest
import Foundation
import JMAP
import TestSupport
import Testing

/// Runs a command with posix_spawn (Foundation's Process can hang in waitUntilExit on Linux when
/// the child is killed) and returns its pid.
func spawn(_ args: [String], stdout: String = "/dev/null") throws -> pid_t {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stdout + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = args.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let rc = posix_spawn(&pid, args[0], &actions, nil, argv, environ)
    guard rc == 0 else { throw TestServerUnavailable(description: "spawn \(args[0]): \(rc)") }
    return pid
}

func waitExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

extension Integration {
    @Suite("Crash safety")
    struct CrashTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("kill -9 at random points of a sync, repeated, then a final sync equals the server")
        func killNine() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "k")
            let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../contrib/test-server/seed.py").standardized.path
            let env = ProcessInfo.processInfo.environment["JMIRROR_TEST_SERVER_ENV"] ?? "/tmp/jmirror-test-server/server.env"
            _ = try spawn(["/usr/bin/python3", seed, "--env", env, "--user", account.user, "--count", "300", "--big-share", "0.01",
                           "--folders", "INBOX,Projects,Projects/2024"])
            // Wait for the seeding to finish by polling the count.
            for _ in 0..<600 where try await account.allEmailIds().count < 300 { try await Task.sleep(nanoseconds: 100_000_000) }
            #expect(try await account.allEmailIds().count == 300)
            for i in 0..<30 {
                try await account.putEvent(sampleEvent("ev-\(i)", title: "Event \(i)", day: i), name: "ev-\(i)")
                try await account.putCard(sampleCard("card-\(i)", name: "Person \(i)"), name: "card-\(i)")
            }

            let mirror = try TestMirror()
            let config = writeConfig(in: mirror.dir, mirror: mirror.dir, account: "acct", url: server.httpBase.absoluteString + "/jmap",
                                     user: account.user, password: account.password)

            // SIGTERM mid-sync: the documented exit code, and a message.
            let interrupted = try spawn([jmirrorBinary, "--config", config, "sync"], stdout: mirror.dir + "/out.term")
            try await Task.sleep(nanoseconds: 300_000_000)
            kill(interrupted, SIGTERM)
            let termCode = waitExit(interrupted)
            if termCode != 0 {  // 0 only if the sync had already finished
                #expect(termCode == 130)
                #expect(((try? String(contentsOfFile: mirror.dir + "/out.term.err", encoding: .utf8)) ?? "").contains("interrupted"))
            }

            var generator = SystemRandomNumberGenerator()
            let ids = try await account.allEmailIds()
            let archive = try await account.mailboxId(role: "archive")
            var killedMidway = 0
            for round in 0..<8 {
                if round >= 3 {
                    // Changes between crashes, so deltas are interrupted too.
                    let id = ids[Int.random(in: 0..<ids.count, using: &generator)]
                    try await account.updateEmail(id, ["keywords/$flagged": true])
                    let other = ids[Int.random(in: 0..<ids.count, using: &generator)]
                    try await account.updateEmail(other, ["mailboxIds/\(archive)": true])
                    try await account.putEvent(sampleEvent("ev-\(round)", title: "Changed in round \(round)"), name: "ev-\(round)")
                    try await account.putEvent(sampleEvent("new-\(round)", title: "New in round \(round)"), name: "new-\(round)")
                    _ = try await account.dav("DELETE", "addressbooks/user/\(account.user)/Default/card-\(round).vcf")
                }
                let pid = try spawn([jmirrorBinary, "--config", config, "sync"], stdout: mirror.dir + "/out.\(round)")
                let delay = UInt64.random(in: 20_000_000...900_000_000, using: &generator)
                try await Task.sleep(nanoseconds: delay)
                if kill(pid, SIGKILL) == 0 { killedMidway += 1 }
                _ = waitExit(pid)
            }
            #expect(killedMidway >= 3, "most runs should have been killed while working")

            let final = try spawn([jmirrorBinary, "--config", config, "sync"], stdout: mirror.dir + "/out.final")
            #expect(waitExit(final) == 0, "\((try? String(contentsOfFile: mirror.dir + "/out.final.err", encoding: .utf8)) ?? "")")
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            // No partial file is visible: tmp/ folders are empty and no half-moved folder remains.
            let all = FileManager.default.enumerator(atPath: mirror.mailRoot)?.allObjects as? [String] ?? []
            #expect(all.filter { $0.contains("/tmp/") || $0.hasPrefix("tmp/") }.isEmpty)
            #expect(all.filter { $0.contains("~jmirror-move") }.isEmpty)
            // Contacts and events: exactly the server's, each file complete and parseable.
            let root = mirror.dir + "/acct"
            let events = try await account.pimList("CalendarEvent")
            let calendar = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/calendars").first)
            let icsFiles = Set(try FileManager.default.contentsOfDirectory(atPath: root + "/calendars/\(calendar)").filter { $0.hasSuffix(".ics") })
            #expect(icsFiles == Set(events.compactMap { $0["uid"]?.stringValue.map { $0 + ".ics" } }))
            for e in events {
                let title = e["title"]?.stringValue ?? ""
                let uid = e["uid"]?.stringValue ?? ""
                let file = read(root + "/calendars/\(calendar)/\(uid).ics")
                #expect(file.contains("SUMMARY:" + title), "\(uid)")
            }
            let cards = try await account.pimList("Contact")
            let vcfFiles = Set(try FileManager.default.contentsOfDirectory(atPath: root + "/contacts/Default").filter { $0.hasSuffix(".vcf") })
            #expect(vcfFiles == Set(cards.compactMap { $0["uid"]?.stringValue.map { $0 + ".vcf" } }))
            let everything = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []
            #expect(everything.filter { $0.contains(".jmirror-tmp-") }.isEmpty)
            let parsed = try pimCheck(["parse"] + pimFiles(root).map { root + "/" + $0 })
            #expect(parsed.status == 0, "\(parsed.output)")
            // Every stored object is intact.
            let objects = mirror.dir + "/.jmirror/objects/sha256"
            for path in FileManager.default.enumerator(atPath: objects)?.allObjects as? [String] ?? [] where path.count > 64 {
                let name = String(path.suffix(64))
                #expect(try SHA256Hasher.hex(ofFileAt: objects + "/" + path).sha256 == name)
            }
        }
    }
}
