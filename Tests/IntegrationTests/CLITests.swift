import Foundation
import JMAP
import Store
import TestSupport
import Testing

extension Integration {
    @Suite("The jmirror command against the real Cyrus")
    struct CLITests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        func config(_ dir: String, user: String, password: String) -> String {
            writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort, user: user, password: password)
        }

        func scratch() throws -> String {
            let d = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-cli-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            return d
        }

        func run(_ args: [String], in dir: String) throws -> (code: Int32, out: String, err: String) {
            let pid = try spawn([jmirrorBinary] + args, stdout: dir + "/stdout")
            let code = waitExit(pid)
            return (code, (try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? "",
                    (try? String(contentsOfFile: dir + "/stdout.err", encoding: .utf8)) ?? "")
        }

        @Test("a first sync lists the account page by page as it fetches (a server paging by 7): every message, once")
        func pagedListing() async throws {
            let account = try await ServerAccount.fresh(server)
            try account.seed(count: 40, bigShare: 0, folders: "INBOX,Lists")
            let proxy = try FaultProxy(upstream: server.httpBase, maxObjectsInGet: 7)
            let dir = try scratch()
            let cfg = writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: proxy.url.absoluteString + "/jmap/",
                                  user: account.user, password: account.password)
            let r = try run(["--config", cfg, "sync"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            #expect(try maildirSnapshot(dir + "/mirror/main/mail") == (try await account.expectedMaildir()))
            #expect(try Catalog(path: dir + "/mirror/.jmirror/catalog.sqlite").emailCount(account: "main") == 40)
        }

        @Test("debug download-floor fetches every message again, by Blob/get and by download, and writes nothing")
        func downloadFloor() async throws {
            let account = try await ServerAccount.fresh(server)
            try account.seed(count: 30, bigShare: 0.2, folders: "INBOX")
            let dir = try scratch()
            let cfg = writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.httpBase.absoluteString + "/jmap/",
                                  user: account.user, password: account.password)
            var r = try run(["--config", cfg, "sync"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            let catalog = try Catalog(path: dir + "/mirror/.jmirror/catalog.sqlite")
            let blobs = try catalog.emailBlobs(account: "main")
            #expect(blobs.count == 30 && blobs.contains { $0.size > 1 << 20 } && blobs.contains { $0.size < 1 << 20 })
            let before = tree(dir + "/mirror")
            r = try run(["--config", cfg, "debug", "download-floor", "main", "--json"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            let floor = try JSONValue.decode(Data(r.out.utf8))
            #expect(floor["messages"]?.intValue == 30)
            #expect(floor["bytes"]?.intValue == blobs.reduce(0) { $0 + $1.size })
            #expect(tree(dir + "/mirror", skip: [".jmirror/catalog.sqlite", ".jmirror/lock"]).keys.sorted()
                == before.keys.filter { !$0.hasPrefix(".jmirror/catalog.sqlite") && $0 != ".jmirror/lock" }.sorted())
        }

        @Test("sync keeps the Session between runs: one HTTP request when nothing changed; a stale one is fetched again")
        func keptSession() async throws {
            let account = try await ServerAccount.fresh(server)
            try await account.importMessage(sampleMessage("kept"), mailboxIds: [try await account.mailboxId(role: "inbox")])
            let proxy = try FaultProxy(upstream: server.httpBase)
            let dir = try scratch()
            let cfg = writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: proxy.url.absoluteString + "/jmap/",
                                  user: account.user, password: account.password)
            var r = try run(["--config", cfg, "sync"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            var before = try await proxy.requestCount()
            r = try run(["--config", cfg, "sync"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            #expect(try await proxy.requestCount() - before == 1)

            // The endpoint "moved": the kept Session's apiUrl now answers 404. The run fetches the
            // Session again, retries, succeeds, and keeps the new one.
            let catalog = try Catalog(path: dir + "/mirror/.jmirror/catalog.sqlite")
            let source = proxy.url.absoluteString + "/jmap/\n" + account.user
            let kept = try #require(try catalog.keptSession(account: "main", source: source))
            guard case var .object(json) = try JSONValue.decode(kept.json) else { throw TestServerUnavailable(description: "session") }
            json["apiUrl"] = "/moved-away/"
            try catalog.keepSession(account: "main", source: source, sessionURL: kept.sessionURL, json: JSONValue.object(json).encoded())
            before = try await proxy.requestCount()
            r = try run(["--config", cfg, "sync"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            #expect(try await proxy.requestCount() - before == 3)  // the failed POST, the Session, the POST again
            before = try await proxy.requestCount()
            r = try run(["--config", cfg, "sync"], in: dir)
            let after = try await proxy.requestCount()
            #expect(r.code == 0 && after - before == 1)
        }

        @Test("a wrong password exits 77 and never prints the password")
        func wrongPassword() throws {
            let dir = try scratch()
            let cfg = config(dir, user: "alice", password: "wrong-password-xyz")
            for cmd in [["doctor"], ["sync"], ["doctor", "--json"], ["sync", "--json"]] {
                let r = try run(["--config", cfg] + cmd, in: dir)
                #expect(r.code == 77, "\(cmd): \(r.err)")
                #expect(!(r.out + r.err).contains("wrong-password-xyz"))
                #expect(r.err.contains("authentication failed"))
            }
        }

        @Test("doctor --json lists accounts, dialects and what is backed up")
        func doctorJSON() throws {
            let dir = try scratch()
            let r = try run(["--config", config(dir, user: "alice", password: server.password("alice")), "doctor", "--json"], in: dir)
            #expect(r.code == 0, "\(r.err)")
            let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            let report = (json?["accounts"] as? [[String: Any]])?.first
            #expect(report?["username"] as? String == "alice")
            let coverage = ((report?["accounts"] as? [[String: Any]])?.first?["coverage"] as? [[String: Any]]) ?? []
            let mail = coverage.first { $0["kind"] as? String == "mail" }
            #expect(mail?["backedUp"] as? Bool == true)
            #expect(mail?["dialect"] as? String == "ietf")
            let contacts = coverage.first { $0["kind"] as? String == "contacts" }
            #expect(contacts?["dialect"] as? String == "cyrus")
            #expect(contacts?["backedUp"] as? Bool == true)
            let sieve = coverage.first { $0["kind"] as? String == "sieve" }
            #expect(sieve?["dialect"] as? String == "cyrus" && sieve?["backedUp"] as? Bool == true)
            let quota = coverage.first { $0["kind"] as? String == "quota" }
            #expect(quota?["backedUp"] as? Bool == false)
        }

        @Test("sync --json ends with a summary line; the safety guard exits 65; a bad config exits 64")
        func syncExitCodes() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            for i in 0..<2 { try await account.importMessage(sampleMessage("x\(i)"), mailboxIds: [inbox]) }
            let dir = try scratch()
            let cfg = config(dir, user: account.user, password: account.password)
            let first = try run(["--config", cfg, "sync", "--json"], in: dir)
            #expect(first.code == 0, "\(first.err)")
            let lines = first.out.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(lines.count == 2)
            #expect(lines.last??["event"] as? String == "summary")
            #expect(lines.last??["created"] as? Int == 2)

            try await account.destroyEmails(try await account.allEmailIds())
            let refused = try run(["--config", cfg, "sync"], in: dir)
            #expect(refused.code == 65)
            #expect(refused.err.contains("--force"))
            #expect(try run(["--config", cfg, "sync", "--force"], in: dir).code == 0)

            FileManager.default.createFile(atPath: dir + "/bad.toml", contents: Data("[mirror]\npath = 3\n".utf8))
            let bad = try run(["--config", dir + "/bad.toml", "sync"], in: dir)
            #expect(bad.code == 64)
            #expect(bad.err.contains("mirror.path"))
            #expect(try run(["--config", cfg, "sync", "--no-such-flag"], in: dir).code == 64)
        }
    }
}
