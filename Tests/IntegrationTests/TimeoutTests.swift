import Foundation
import JMAP
import TestSupport
import Testing
import Transport

extension Integration {
    @Suite("A server that stalls or trickles ends the run")
    struct TimeoutTests {
        @Test("with [mirror] timeout = 2: exit 69 within seconds, for a silent and for a trickling server",
              arguments: ["silent", "trickle"])
        func stalled(mode: String) async throws {
            let dir = try CLI.scratch("timeout")
            let (pid, port) = try await misbehaving([mode], in: dir)
            defer { kill(pid, SIGKILL); _ = waitExit(pid) }
            let cfg = config(dir, url: "http://127.0.0.1:\(port)/jmap/session")
            try (try String(contentsOfFile: cfg, encoding: .utf8)).replacingOccurrences(of: "timeout = 5", with: "timeout = 2")
                .write(toFile: cfg, atomically: true, encoding: .utf8)
            chmod(cfg, 0o600)
            let started = Date()
            let r = try CLI(dir: dir, config: cfg).run(["sync"])
            let elapsed = Date().timeIntervalSince(started)
            #expect(r.code == 69, "\(r.err)")
            #expect(elapsed < 20, "took \(elapsed) s")
            #expect(r.err.contains("main") && r.err.lowercased().contains("time"), "\(r.err)")
        }

        @Test("cancelled requests end at once: queued ones never start, running ones stop (what a daemon's SIGTERM relies on)")
        func cancellation() async throws {
            let dir = try CLI.scratch("cancel")
            let (pid, port) = try await misbehaving(["silent"], in: dir)
            defer { kill(pid, SIGKILL); _ = waitExit(pid) }
            var options = TransportOptions()
            options.allowInsecureLoopbackHTTP = true
            let client = CurlHTTPClient(options: options)  // 8 transfers in flight at most: 20 requests queue
            let url = URL(string: "http://127.0.0.1:\(port)/")!
            let tasks = (0..<20).map { _ in
                Task { try await client.perform(HTTPRequest(url: url), sink: .memory(limit: 1 << 16)) }
            }
            try await Task.sleep(nanoseconds: 500_000_000)
            let started = Date()
            for t in tasks { t.cancel() }
            for t in tasks {
                do {
                    _ = try await t.value
                    Issue.record("a request to a silent server finished")
                } catch {
                    #expect(error is CancellationError, "\(error)")
                }
            }
            let took = Date().timeIntervalSince(started)
            #expect(took < 2, "20 cancelled requests took \(took) s to end")
        }

        /// Starts stall_server.py in `mode`; returns its pid and port.
        func misbehaving(_ args: [String], in dir: String) async throws -> (pid_t, String) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../TestSupport/stall_server.py")
                .standardized.path
            let pid = try spawn(["/usr/bin/env", "python3", script] + args, stdout: dir + "/port")
            var port = ""
            for _ in 0..<50 where port.isEmpty {
                try await Task.sleep(nanoseconds: 100_000_000)
                port = ((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return (pid, port)
        }

        func config(_ dir: String, url: String, insecure: Bool = true) -> String {
            FileManager.default.createFile(atPath: dir + "/pw", contents: Data("x".utf8), attributes: [.posixPermissions: 0o600])
            let config = dir + "/config.toml"
            FileManager.default.createFile(atPath: config, contents: Data("""
                [mirror]
                path = "\(dir)/mirror"
                timeout = 5
                [account.main]
                url = "\(url)"
                username = "u"
                password_file = "\(dir)/pw"
                allow_insecure_http = \(insecure)
                """.utf8), attributes: [.posixPermissions: 0o600])
            return config
        }

        @Test("a web page where the Session should be: 76 (an answer jmirror cannot use), not 69")
        func htmlSession() async throws {
            let dir = try CLI.scratch("html")
            let (pid, port) = try await misbehaving(["html"], in: dir)
            defer { kill(pid, SIGKILL); _ = waitExit(pid) }
            let r = try CLI(dir: dir, config: config(dir, url: "http://127.0.0.1:\(port)/jmap/session")).run(["sync"])
            #expect(r.code == 76 && r.err.contains("not JSON") && r.err.contains("text/html"), "\(r.code) \(r.err)")
        }

        @Test("a certificate that does not verify: 79, its own meaning; http:// without the opt-out: 64")
        func tlsAndPlainHTTP() async throws {
            let dir = try CLI.scratch("tls")
            try ServerAccount.run(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                                   "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
            let (pid, port) = try await misbehaving(["tls", dir + "/cert.pem", dir + "/key.pem"], in: dir)
            defer { kill(pid, SIGKILL); _ = waitExit(pid) }
            var r = try CLI(dir: dir, config: config(dir, url: "https://127.0.0.1:\(port)/jmap/session")).run(["sync"])
            #expect(r.code == 79 && r.err.contains("TLS"), "\(r.code) \(r.err)")
            r = try CLI(dir: dir, config: config(dir, url: "http://127.0.0.1:\(port)/jmap/session", insecure: false)).run(["sync"])
            #expect(r.code == 64 && r.err.contains("plain-HTTP"), "\(r.code) \(r.err)")
        }

        @Test("a mirror path that cannot be created: exit 74, one plain line naming the path, and a JSON line with --json")
        func mirrorPath() throws {
            let dir = try CLI.scratch("localio")
            let cfg = config(dir, url: "http://127.0.0.1:9/jmap/session")
            var text = try String(contentsOfFile: cfg, encoding: .utf8)
            text = text.replacingOccurrences(of: "path = \"\(dir)/mirror\"", with: "path = \"/proc/jmirror-nope/mirror\"")
            try text.write(toFile: cfg, atomically: true, encoding: .utf8)
            chmod(cfg, 0o600)
            let cli = CLI(dir: dir, config: cfg)
            let r = try cli.run(["sync"])
            #expect(r.code == 74 && r.err.contains("/proc/jmirror-nope") && !r.err.contains("Domain=") && r.err.split(separator: "\n").count == 1,
                    "\(r.err)")
            let j = try cli.json(["snapshots"])
            #expect(j.code == 74 && j.value["kind"] == "local-io")
        }

        @Test("a server that streams forever above the low-speed limit is ended by the total deadline (10 × timeout)")
        func endlessStream() async throws {
            let dir = try CLI.scratch("stream")
            let (pid, port) = try await misbehaving(["stream"], in: dir)
            defer { kill(pid, SIGKILL); _ = waitExit(pid) }
            let cfg = config(dir, url: "http://127.0.0.1:\(port)/jmap/session")
            try (try String(contentsOfFile: cfg, encoding: .utf8)).replacingOccurrences(of: "timeout = 5", with: "timeout = 1")
                .write(toFile: cfg, atomically: true, encoding: .utf8)
            chmod(cfg, 0o600)
            let started = Date()
            let r = try CLI(dir: dir, config: cfg).run(["sync"])
            let elapsed = Date().timeIntervalSince(started)
            #expect(r.code == 69 && elapsed < 40, "\(r.code) after \(elapsed) s: \(r.err)")
        }

        @Test("deadlines grow with the bytes a request moves")
        func deadlines() {
            let o = TransportOptions()
            #expect(o.deadline(expectedBytes: nil) == 300)
            #expect(o.deadline(expectedBytes: 16 * 1024 * 100) == 400)
        }

        @Test("the defaults bound a stalled request: 30 s without 1 KB/s, retried once")
        func defaults() {
            let o = TransportOptions()
            #expect(o.connectTimeout == 30 && o.idleTimeout == 30 && o.lowSpeedLimit == 1024 && o.timeoutRetries == 1)
            // Two attempts and the longest first backoff stay within the two minutes promised.
            #expect(2 * o.idleTimeout + o.retry.baseDelay < 120)
        }
    }
}
