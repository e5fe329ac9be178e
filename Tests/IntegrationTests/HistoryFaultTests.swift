import Foundation
import JMAP
import TestSupport
import Testing

extension Integration {
    @Suite("Snapshots and archives: kill -9 and bad input")
    struct HistoryFaultTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        func seed(_ account: ServerAccount, count: Int) async throws {
            let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../contrib/test-server/seed.py").standardized.path
            let env = ProcessInfo.processInfo.environment["JMIRROR_TEST_SERVER_ENV"] ?? "/tmp/jmirror-test-server/server.env"
            try ServerAccount.run(["/usr/bin/python3", seed, "--env", env, "--user", account.user, "--count", "\(count)",
                                   "--big-share", "0.01", "--folders", "INBOX,Projects"])
        }

        /// Runs `args`, kills it with SIGKILL after a random share of `typical` seconds, and
        /// returns whether it was killed before it finished.
        func killed(_ cli: CLI, _ args: [String], typical: Double) async throws -> Bool {
            let pid = try spawn([jmirrorBinary, "--config", cli.config] + args, stdout: cli.dir + "/killed")
            try await Task.sleep(nanoseconds: UInt64(Double.random(in: 0..<typical) * 1e9))
            kill(pid, SIGKILL)
            return waitExit(pid) == 128 + SIGKILL
        }

        /// Runs to completion; returns how long it took.
        func timed(_ cli: CLI, _ args: [String]) throws -> Double {
            let start = Date()
            let r = try cli.run(args)
            #expect(r.code == 0, "\(args): \(r.err)")
            return Date().timeIntervalSince(start)
        }

        @Test("kill -9 during snapshot, export, import and prune: check --read-data passes and nothing needed is gone")
        func killNine() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "hk")
            try await seed(account, count: 200)
            let dir = try CLI.scratch("history-kill")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            // SIGINT during a --json run: exit 130, and stdout still ends with a JSON line.
            try FileManager.default.createDirectory(atPath: dir + "/sigint", withIntermediateDirectories: true)
            let interrupted = try spawn([jmirrorBinary, "--config", writeConfig(in: dir + "/sigint", mirror: dir + "/sigint/mirror", account: "main",
                                                                               url: server.hostPort, user: account.user, password: account.password),
                                         "sync", "--json"], stdout: dir + "/sigint/out")
            try await Task.sleep(nanoseconds: 150_000_000)
            kill(interrupted, SIGINT)
            #expect(waitExit(interrupted) == 130)
            let lastLine = ((try? String(contentsOfFile: dir + "/sigint/out", encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init) ?? ""
            #expect((try? JSONValue.decode(Data(lastLine.utf8)))?["exitCode"]?.intValue == 130, "\(lastLine)")

            #expect(try cli.run(["sync"]).code == 0)
            let ids = try await account.allEmailIds()
            var killedCount = 0
            for round in 0..<4 {
                // Some of the mail goes, so that forget and prune have objects to free.
                try await account.destroyEmails(Array(ids[(round * 20)..<(round * 20 + 20)]))
                #expect(try cli.run(["sync"]).code == 0)

                var t = try timed(cli, ["snapshot", "--tag", "r\(round)"])
                if try await killed(cli, ["snapshot"], typical: t) { killedCount += 1 }
                #expect(try cli.run(["check", "--read-data"]).code == 0, "after snapshot, round \(round)")

                let archive = dir + "/round\(round).tar.zst"
                t = try timed(cli, ["archive", "export", "main@latest", "-o", archive])
                try FileManager.default.removeItem(atPath: archive)
                if try await killed(cli, ["archive", "export", "main@latest", "-o", archive], typical: t) {
                    killedCount += 1
                    // A killed export never leaves a partial archive under the name.
                    if FileManager.default.fileExists(atPath: archive) { #expect(try cli.run(["archive", "verify", archive]).code == 0) }
                }
                #expect(try cli.run(["check", "--read-data"]).code == 0, "after export, round \(round)")
                #expect(try cli.run(["archive", "export", "main@latest", "-o", archive]).code == 0)

                // Timed into one fresh mirror, killed while importing into another.
                func fresh(_ name: String) throws -> CLI {
                    let d = dir + "/" + name
                    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
                    return CLI(dir: d, config: writeConfig(in: d, mirror: d + "/mirror", account: "other", url: server.hostPort,
                                                         user: account.user, password: account.password))
                }
                t = try timed(try fresh("timing\(round)"), ["archive", "import", archive])
                let other = try fresh("import\(round)")
                let dir2 = other.dir
                if try await killed(other, ["archive", "import", archive], typical: t) { killedCount += 1 }
                #expect(try other.run(["check", "--read-data"]).code == 0, "after import, round \(round)")
                #expect(try other.run(["archive", "import", archive]).code == 0)
                #expect(try other.run(["check", "--read-data"]).code == 0)
                #expect(try other.run(["restore", "main@latest", "--to", dir2 + "/r"]).code == 0)
                #expect(try maildirSnapshot(dir2 + "/r/main/mail") == (try await account.expectedMaildir()))

                if try await killed(cli, ["forget", "--keep-last", "2", "--prune"], typical: 0.3) { killedCount += 1 }
                #expect(try cli.run(["check", "--read-data"]).code == 0, "after forget --prune, round \(round)")
                if try await killed(cli, ["prune"], typical: 0.2) { killedCount += 1 }
                #expect(try cli.run(["check", "--read-data"]).code == 0, "after prune, round \(round)")
            }
            #expect(killedCount >= 4, "too few runs were actually killed mid-way (\(killedCount))")
            // Every kept snapshot still restores completely.
            #expect(try cli.run(["prune"]).code == 0)
            let snaps = try cli.json(["snapshots"]).value["snapshots"]?.arrayValue ?? []
            #expect(snaps.count >= 2)
            for (i, s) in snaps.enumerated() {
                let r = try cli.json(["restore", s["id"]?.stringValue ?? "", "--to", dir + "/final\(i)"])
                #expect(r.code == 0 && r.value["result"]?["missing"]?.arrayValue?.isEmpty == true)
            }
            #expect(try maildirSnapshot(dir + "/final\(snaps.count - 1)/main/mail") == (try await account.expectedMaildir()))
        }

        @Test("bad input: clear one-line errors, documented exit codes, nothing in the mirror changed")
        func badInput() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "hb")
            try await account.importMessage(sampleMessage("only"), mailboxIds: [try await account.mailboxId(role: "inbox")])
            let dir = try CLI.scratch("history-bad")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            #expect(try cli.run(["sync"]).code == 0)
            for _ in 0..<17 { #expect(try cli.run(["snapshot"]).code == 0) }
            let snaps = (try cli.json(["snapshots"]).value["snapshots"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            #expect(snaps.count == 18)
            func unchanged() throws {
                #expect(try cli.json(["snapshots"]).value["snapshots"]?.arrayValue?.count == 18)
                #expect(try cli.run(["check", "--read-data"]).code == 0)
            }

            var r = try cli.run(["restore", "0123456789abcdef", "--to", dir + "/x"])
            #expect(r.code == 64 && r.err.contains("no snapshot matches"))
            // 18 ids over 16 hex digits: some first digit is shared.
            let shared = try #require(Dictionary(grouping: snaps, by: { $0.prefix(1) }).first { $0.value.count > 1 })
            r = try cli.run(["restore", String(shared.key), "--to", dir + "/x"])
            #expect(r.code == 64 && r.err.contains("ambiguous") && r.err.contains(String(shared.value[0].prefix(12))))
            FileManager.default.createFile(atPath: dir + "/full/file", contents: nil)
            try FileManager.default.createDirectory(atPath: dir + "/full", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/full/file", contents: Data("x".utf8))
            r = try cli.run(["restore", "latest", "--to", dir + "/full"])
            #expect(r.code == 64 && r.err.contains("not empty"))
            let j = try cli.json(["restore", "latest", "--to", dir + "/full"])
            #expect(j.code == 64 && j.value["exitCode"]?.intValue == 64 && j.value["error"]?.stringValue?.contains("not empty") == true)
            r = try cli.run(["forget"])
            #expect(r.code == 64 && r.err.contains("no retention policy"))
            r = try cli.run(["forget", "--keep-last", "0"])
            #expect(r.code == 64)
            try unchanged()

            // Archives: truncated, damaged, newer format, incremental without its base, a clash.
            #expect(try cli.run(["archive", "export", "main@latest", "-o", dir + "/a.tar.zst"]).code == 0)
            #expect(try cli.run(["archive", "export", "main@latest", "--base", dir + "/a.tar.zst", "-o", dir + "/inc.tar.zst"]).code == 0)
            let whole = try #require(FileManager.default.contents(atPath: dir + "/a.tar.zst"))
            FileManager.default.createFile(atPath: dir + "/cut.tar.zst", contents: whole.prefix(whole.count * 2 / 3))
            for args in [["archive", "verify", dir + "/cut.tar.zst"], ["archive", "import", dir + "/cut.tar.zst", "--as", "cut"]] {
                r = try cli.run(args)
                #expect(r.code == 66 && (r.err.contains("truncated") || r.err.contains("damaged")), "\(args): \(r.err)")
            }
            let newer = dir + "/newer"
            try FileManager.default.createDirectory(atPath: newer, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: newer + "/manifest.json", contents: Data(#"{"format":"jmirror-archive","version":99}"#.utf8))
            try ServerAccount.run(["/usr/bin/tar", "--zstd", "-C", newer, "-cf", dir + "/newer.tar.zst", "manifest.json"])
            r = try cli.run(["archive", "verify", dir + "/newer.tar.zst"])
            #expect(r.code == 66 && r.err.contains("newer"))
            r = try cli.run(["archive", "import", dir + "/a.tar.zst"])
            #expect(r.code == 64 && r.err.contains("--as"))
            try unchanged()

            // check finds a file in the Maildir that the catalog does not name (exit 1, a view problem).
            FileManager.default.createFile(atPath: dir + "/mirror/main/mail/cur/stray:2,S", contents: Data("x".utf8))
            let stray = try cli.json(["check"])
            #expect(stray.code == 1 && stray.value["result"]?["problems"]?.arrayValue?.contains { $0["detail"]?.stringValue?.contains("stray") == true } == true)
            unlink(dir + "/mirror/main/mail/cur/stray:2,S")
            #expect(try cli.json(["check", "--read-data-subset", "50%"]).code == 0)
            #expect(try cli.run(["check", "--read-data-subset", "0"]).code == 64)

            // Off a terminal, a text sync still prints its summary line (cron logs); --quiet prints
            // nothing; a --json run that fails early still ends with a JSON line.
            var text = try cli.run(["sync"])
            #expect(text.code == 0 && text.out.hasPrefix("main: "), "\(text.out)")
            text = try cli.run(["sync", "--quiet"])
            #expect(text.code == 0 && text.out.isEmpty)
            let unknown = try cli.json(["sync", "nosuchaccount"])
            #expect(unknown.code == 64 && unknown.value["exitCode"]?.intValue == 64 && unknown.value["kind"] == "config")
            // (the sync above records no snapshot: nothing changed)

            // A mirror root others can read gets a warning (jmirror creates it 0700).
            var rootStat = stat()
            stat(dir + "/mirror", &rootStat)
            #expect(rootStat.st_mode & 0o077 == 0)
            chmod(dir + "/mirror", 0o755)
            text = try cli.run(["sync", "--quiet"])
            #expect(text.code == 0 && text.err.contains("readable by other users"), "\(text.err)")
            chmod(dir + "/mirror", 0o700)

            let version = try spawn([jmirrorBinary, "--version"], stdout: dir + "/version")
            #expect(waitExit(version) == 0 && ((try? String(contentsOfFile: dir + "/version", encoding: .utf8)) ?? "").hasPrefix("jmirror "))

            // verify and list need no mirror and no configuration.
            let bare = try spawn([jmirrorBinary, "archive", "verify", dir + "/a.tar.zst"], stdout: dir + "/bare")
            #expect(waitExit(bare) == 0)
            let bareList = try spawn([jmirrorBinary, "archive", "list", "--json", dir + "/a.tar.zst"], stdout: dir + "/bare")
            #expect(waitExit(bareList) == 0 && ((try? String(contentsOfFile: dir + "/bare", encoding: .utf8)) ?? "").contains(snaps[snaps.count - 1]))

            let dir2 = dir + "/fresh"
            try FileManager.default.createDirectory(atPath: dir2, withIntermediateDirectories: true)
            let fresh = CLI(dir: dir2, config: writeConfig(in: dir2, mirror: dir2 + "/mirror", account: "other", url: server.hostPort,
                                                          user: account.user, password: account.password))
            r = try fresh.run(["archive", "import", dir + "/inc.tar.zst"])
            #expect(r.code == 64 && r.err.contains("base"))
            #expect(try fresh.json(["snapshots"]).value["snapshots"]?.arrayValue?.isEmpty == true)
            r = try fresh.run(["archive", "import", dir + "/inc.tar.zst", dir + "/a.tar.zst"])
            #expect(r.code == 0, "\(r.err)")
            #expect(try fresh.json(["snapshots"]).value["snapshots"]?.arrayValue?.count == 1)

            // forget --dry-run changes nothing and says why each kept snapshot is kept; the
            // config's [retention] applies when no flag is given.
            let dry = try cli.json(["forget", "--keep-last", "3", "--dry-run"]).value
            let decisions = dry["decisions"]?.arrayValue ?? []
            #expect(decisions.filter { $0["keep"]?.boolValue == true }.count == 3 && dry["forgotten"]?.intValue == 15)
            #expect(decisions.first?["reasons"]?.arrayValue?.contains("latest") == true)
            try unchanged()
            let withPolicy = cli.config + ".retention"
            try (String(contentsOfFile: cli.config, encoding: .utf8) + "\n[retention]\nkeep_last = 5\n").write(toFile: withPolicy, atomically: true, encoding: .utf8)
            chmod(withPolicy, 0o600)
            let policy = CLI(dir: dir, config: withPolicy)
            #expect(try policy.json(["forget"]).value["forgotten"]?.intValue == 13)
            #expect(try policy.json(["snapshots"]).value["snapshots"]?.arrayValue?.count == 5)
            let pruneDry = try policy.json(["prune", "--dry-run"]).value
            #expect(pruneDry["result"]?["dryRun"]?.boolValue == true && pruneDry["result"]?["objects"]?.intValue == 0)
            #expect(try policy.run(["check", "--read-data"]).code == 0)
        }
    }
}
