import Daemon
import Foundation
import JMAP
import Mirror
import TestSupport
import Transport
import Testing

/// A `jmirror daemon` process with its own mirror and config.
final class DaemonProcess {
    let dir: String
    let mirror: String
    var config: String
    private(set) var pid: pid_t = 0
    private(set) var exitCode: Int32?

    init(accounts: [(name: String, url: String, user: String, password: String)], daemon: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-daemon-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        mirror = dir + "/mirror"
        config = dir + "/config.toml"
        write(accounts: accounts, daemon: daemon)
    }

    func write(accounts: [(name: String, url: String, user: String, password: String)], daemon: String, raw: String? = nil) {
        var text = "[mirror]\npath = \"\(mirror)\"\n[daemon]\n\(daemon)\n"
        for a in accounts {
            let pw = dir + "/pw-\(a.name)"
            if !FileManager.default.fileExists(atPath: pw) { setPassword(a.name, a.password) }
            text += "[account.\(a.name)]\nurl = \"\(a.url)\"\nusername = \"\(a.user)\"\npassword_file = \"\(pw)\"\nallow_insecure_http = true\n"
        }
        FileManager.default.createFile(atPath: config, contents: Data((raw ?? text).utf8), attributes: [.posixPermissions: 0o600])
    }

    func setPassword(_ account: String, _ password: String) {
        FileManager.default.createFile(atPath: dir + "/pw-\(account)", contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
    }

    func start(environment: [String: String] = [:]) throws {
        exitCode = nil
        var args = [jmirrorBinary, "--config", config, "daemon", "-v"]
        if !environment.isEmpty { args = ["/usr/bin/env"] + environment.map { "\($0.key)=\($0.value)" } + args }
        pid = try spawn(args, stdout: dir + "/daemon.out")
    }

    var log: String { (try? String(contentsOfFile: dir + "/daemon.out.err", encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits up to `seconds` for the process to end; its exit code, or nil if it still runs.
    func waitExit(_ seconds: Double) async -> Int32? {
        let end = ContinuousClock.now + .seconds(seconds)  // not the wall clock: it can be stepped mid-test
        while ContinuousClock.now < end {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return exitCode
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return nil
    }

    func status() -> StatusReport? { StatusReader.fromDaemon(mirror: mirror, accounts: []) }

    func account(_ name: String) -> AccountStatus? { status()?.accounts.first { $0.account == name }?.daemon }

    /// Message files in the account's inbox.
    func inbox(_ account: String) -> [String] {
        let root = mirror + "/\(account)/mail"
        var out: [String] = []
        for sub in ["cur", "new"] {
            let names: [String] = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + sub)) ?? []
            for n in names { out.append(root + "/" + sub + "/" + n) }
        }
        return out
    }

    func inboxHas(_ account: String, subject: String) -> Bool {
        inbox(account).contains { path in
            (try? String(contentsOfFile: path, encoding: .utf8))?.contains("Subject: \(subject)\r\n") == true
        }
    }

    deinit {
        if exitCode == nil && pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

extension Integration {
    @Suite("The daemon against the real Cyrus")
    struct DaemonTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        func waitFor(_ seconds: Double, _ what: String, _ daemon: DaemonProcess, _ condition: () async throws -> Bool) async throws {
            let end = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < end {
                if try await condition() { return }
                try await Task.sleep(nanoseconds: 25_000_000)
            }
            if try await condition() { return }
            Issue.record("timed out after \(seconds) s waiting for \(what); daemon log:\n\(daemon.log.suffix(3000))")
            throw TestServerUnavailable(description: "timed out: \(what)")
        }

        /// Seconds from a delivery until its message file is in the mirror's inbox.
        func deliverAndTime(_ account: ServerAccount, _ daemon: DaemonProcess, subject: String, within: Double) async throws -> Double {
            try server.deliver(to: account.user, subject: subject)
            let delivered = ContinuousClock.now
            try await waitFor(within, "\(subject) on disk", daemon) { daemon.inboxHas("main", subject: subject) }
            let d = ContinuousClock.now - delivered
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }

        @Test("push: deliveries appear within 2 s; a dropped, refused or silently dead connection is reopened and nothing is missed")
        func push() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "dp")
            let front = try PushFront(upstream: server.httpBase)
            let daemon = try DaemonProcess(accounts: [("main", front.url.absoluteString + "/jmap", account.user, account.password)],
                                           daemon: "poll_interval = \"1h\"\nping_interval = \"1s\"")
            try daemon.start()
            try await waitFor(15, "push connected", daemon) { daemon.account("main")?.push == "connected" }

            var latencies: [Double] = []
            for i in 0..<10 {
                latencies.append(try await deliverAndTime(account, daemon, subject: "push-\(i)", within: 10))
            }
            latencies.sort()
            print("push latency over \(latencies.count) deliveries: p50 \(latencies[latencies.count / 2]) s, max \(latencies.last!) s")
            #expect(latencies.allSatisfy { $0 < 2 }, "\(latencies)")

            // The server closes the connection: reopened; what came meanwhile is caught up.
            try await front.refuse(seconds: 2)
            try server.deliver(to: account.user, subject: "while-refused")
            try await waitFor(20, "reconnected after refusals", daemon) {
                (daemon.account("main")?.pushReconnects ?? 0) >= 1 && daemon.account("main")?.push == "connected"
            }
            try await waitFor(10, "caught up after reconnect", daemon) { daemon.inboxHas("main", subject: "while-refused") }

            // The connection goes silent without closing (a suspend, a changed network): after
            // two missed pings (2 × 1 s + 5 s) it is dropped and reopened, and the catch-up sync
            // brings what was delivered meanwhile.
            let reconnects = daemon.account("main")?.pushReconnects ?? 0
            try await front.silence()
            try server.deliver(to: account.user, subject: "while-silent")
            try await waitFor(20, "dead connection replaced", daemon) { (daemon.account("main")?.pushReconnects ?? 0) > reconnects }
            try await waitFor(10, "caught up after a dead connection", daemon) { daemon.inboxHas("main", subject: "while-silent") }
            #expect(try await front.pushConnections() >= 3)

            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(12) == 0, "\(daemon.log.suffix(2000))")
            #expect(try maildirSnapshot(daemon.mirror + "/main/mail") == (try await account.expectedMaildir()))
        }

        @Test("push from a server that sends no event ids and reports its ping in milliseconds (Stalwart's way)")
        func pushWithoutIds() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "ds")
            let front = try PushFront(upstream: server.httpBase, ids: false, pingInMilliseconds: true)
            let daemon = try DaemonProcess(accounts: [("main", front.url.absoluteString + "/jmap", account.user, account.password)],
                                           daemon: "poll_interval = \"1h\"\nping_interval = \"1s\"")
            try daemon.start()
            try await waitFor(15, "push connected", daemon) { daemon.account("main")?.push == "connected" }
            _ = try await deliverAndTime(account, daemon, subject: "no-ids", within: 2)
            try await Task.sleep(nanoseconds: 4_000_000_000)  // pings of "1000" must not count as late
            #expect(daemon.account("main")?.pushReconnects == 0)
            try await front.drop()
            try server.deliver(to: account.user, subject: "no-ids-dropped")
            try await waitFor(15, "caught up without Last-Event-ID", daemon) { daemon.inboxHas("main", subject: "no-ids-dropped") }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(12) == 0)
        }

        @Test("polling where the server has no push (Debian's Cyrus answers 204): a delivery appears within the interval")
        func polling() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "dl")
            let daemon = try DaemonProcess(accounts: [("main", server.httpBase.absoluteString + "/jmap", account.user, account.password)],
                                           daemon: "poll_interval = \"2s\"")
            try daemon.start()
            try await waitFor(15, "started, push found unavailable", daemon) {
                daemon.account("main")?.push == "unavailable" && daemon.account("main")?.state == "idle"
            }
            for i in 0..<3 {
                let t = try await deliverAndTime(account, daemon, subject: "poll-\(i)", within: 6)
                #expect(t < 2 + 1.5, "\(t) s")  // the interval, plus one sync
            }
            daemon.signal(SIGINT)
            #expect(await daemon.waitExit(12) == 0)
        }

        @Test("a server that goes away: backoff, then recovery with nothing missed")
        func outage() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "do")
            let front = try PushFront(upstream: server.httpBase, push: false)
            let daemon = try DaemonProcess(accounts: [("main", front.url.absoluteString + "/jmap", account.user, account.password)],
                                           daemon: "poll_interval = \"1s\"")
            try daemon.start()
            try await waitFor(15, "first sync", daemon) { daemon.account("main")?.lastSuccess != nil }
            front.stop()
            try server.deliver(to: account.user, subject: "during-outage")
            try await waitFor(40, "two failures in a row", daemon) { (daemon.account("main")?.consecutiveFailures ?? 0) >= 2 }
            let s = try #require(daemon.account("main"))
            #expect(s.state == "retrying" && s.lastErrorKind == "unreachable")
            let next = try #require(s.nextSync)
            #expect(next.timeIntervalSinceNow > 1)  // backing off, not polling every second
            try front.start()
            try await waitFor(60, "recovered", daemon) { daemon.inboxHas("main", subject: "during-outage") }
            // (The file is on disk before the sync that brought it has returned.)
            try await waitFor(10, "the failure count reset", daemon) { daemon.account("main")?.consecutiveFailures == 0 }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(12) == 0)
        }

        @Test("wrong password: marked, no tight loop (requests counted), recovers after SIGHUP with the right one")
        func wrongPassword() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "dw")
            try server.deliver(to: account.user, subject: "before-fix")
            let front = try PushFront(upstream: server.httpBase)
            let daemon = try DaemonProcess(accounts: [("main", front.url.absoluteString + "/jmap", account.user, "wrong-password-q7")],
                                           daemon: "poll_interval = \"1s\"\nping_interval = \"1s\"")
            try daemon.start()
            try await waitFor(15, "needs attention", daemon) { daemon.account("main")?.state == "needs-attention" }
            #expect(daemon.account("main")?.lastErrorKind == "authentication")
            let before = try await front.requests()
            try await Task.sleep(nanoseconds: 5_000_000_000)
            #expect(try await front.requests() - before == 0)
            #expect(!daemon.log.contains("wrong-password-q7"))
            daemon.setPassword("main", account.password)
            daemon.signal(SIGHUP)
            try await waitFor(15, "recovered after reload", daemon) { daemon.inboxHas("main", subject: "before-fix") }
            try await waitFor(15, "push after recovery", daemon) { daemon.account("main")?.push == "connected" }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(12) == 0)
        }

        @Test("SIGHUP adds and removes accounts, refuses a broken config; sync and status reach the running daemon")
        func reloadAndControl() async throws {
            let a = try await ServerAccount.fresh(server, prefix: "da")
            let b = try await ServerAccount.fresh(server, prefix: "db")
            try server.deliver(to: a.user, subject: "for-a")
            try server.deliver(to: b.user, subject: "for-b")
            let url = server.httpBase.absoluteString + "/jmap"
            let one = [("main", url, a.user, a.password)]
            let two = one + [("second", url, b.user, b.password)]
            let daemon = try DaemonProcess(accounts: one, daemon: "poll_interval = \"1h\"")
            try daemon.start()
            try await waitFor(15, "first account synced", daemon) { daemon.inboxHas("main", subject: "for-a") }
            var socketStat = stat()
            #expect(stat(daemon.mirror + "/.jmirror/daemon.sock", &socketStat) == 0 && socketStat.st_mode & 0o777 == 0o600)

            daemon.write(accounts: two, daemon: "poll_interval = \"1h\"")
            daemon.signal(SIGHUP)
            try await waitFor(15, "second account added and synced", daemon) { daemon.inboxHas("second", subject: "for-b") }
            #expect(daemon.status()?.accounts.map(\.account) == ["main", "second"])

            daemon.write(accounts: two, daemon: "", raw: "[mirror]\npath = \"\(daemon.mirror)\"\n[account.broken]\n")
            daemon.signal(SIGHUP)
            try await waitFor(10, "reload refused", daemon) { daemon.log.contains("reload refused") }
            #expect(daemon.status()?.accounts.map(\.account) == ["main", "second"])
            daemon.write(accounts: two, daemon: "poll_interval = \"1h\"")

            // `jmirror sync` while the daemon holds the mirror: the daemon syncs, the command reports.
            try server.deliver(to: a.user, subject: "asked-for")
            let out = daemon.dir + "/sync"
            var code = waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "sync", "main", "--json"], stdout: out))
            #expect(code == 0, "\((try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? "")")
            let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
            let first = try JSONValue.decode(Data(lines[0].utf8))
            #expect(first["account"]?.stringValue == "main" && first["summary"]?["created"]?.intValue == 1)
            #expect(daemon.inboxHas("main", subject: "asked-for"))
            code = waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "status", "--json"], stdout: out))
            let status = try JSONValue.decode(Data(contentsOf: URL(fileURLWithPath: out)))
            #expect(code == 0 && status["daemonRunning"]?.boolValue == true)
            #expect(status["accounts"]?.arrayValue?.first?["inventory"]?["messages"]?.intValue == 2)
            #expect(status["accounts"]?.arrayValue?.first?["lastSuccess"]?["origin"]?.stringValue == "daemon")

            daemon.write(accounts: [("second", url, b.user, b.password)], daemon: "poll_interval = \"1h\"")
            daemon.signal(SIGHUP)
            try await waitFor(10, "first account removed", daemon) { daemon.status()?.accounts.map(\.account) == ["second"] }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(12) == 0)

            // With no daemon, status reads the catalog's history of runs.
            code = waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "status", "--json"], stdout: out))
            let offline = try JSONValue.decode(Data(contentsOf: URL(fileURLWithPath: out)))
            #expect(code == 0 && offline["daemonRunning"]?.boolValue == false)
            #expect(offline["accounts"]?.arrayValue?.first?["lastSuccess"]?["account"]?.stringValue == "second")
        }

        @Test("SIGTERM in a large first sync exits 0 within the bound, and sync completes from there; kill -9 and a restart converge")
        func stopMidSync() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "dk")
            try account.seed(count: 600, bigShare: 0.02, folders: "INBOX,Archive")
            // Every blob download or Blob/get batch takes 6 s more: the first sync lasts well over the 10 s bound.
            let slow = try PushFront(upstream: server.httpBase, push: false, slowDownloads: 6)
            let daemon = try DaemonProcess(accounts: [("main", slow.url.absoluteString + "/jmap", account.user, account.password)],
                                           daemon: "poll_interval = \"1h\"")
            func files() -> Int {
                var n = 0
                for folder in ["", "/.Archive"] {
                    for sub in ["cur", "new"] {
                        let names: [String] = (try? FileManager.default.contentsOfDirectory(atPath: daemon.mirror + "/main/mail\(folder)/\(sub)")) ?? []
                        n += names.count
                    }
                }
                return n
            }
            try daemon.start()
            try await waitFor(60, "the first sync under way", daemon) { daemon.account("main")?.state == "syncing" }
            try await Task.sleep(nanoseconds: 1_000_000_000)
            let stopped = ContinuousClock.now
            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(14) == 0, "\(daemon.log.suffix(2000))")
            let elapsed = ContinuousClock.now - stopped
            let took = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("SIGTERM mid-sync: exited 0 in \(took) s with \(files()) of 600 messages on disk")
            #expect(took >= 9 && took < 13)  // the running sync was given its 10 s, then stopped
            #expect(files() < 600)
            #expect(daemon.log.contains("stopping it where it stands"))

            // kill -9 of a restarted daemon, mid-sync (straight to Cyrus now), then a daemon that
            // runs to the end.
            daemon.write(accounts: [("main", server.httpBase.absoluteString + "/jmap", account.user, account.password)],
                         daemon: "poll_interval = \"1h\"")
            try daemon.start()
            try await waitFor(60, "syncing again", daemon) { daemon.account("main")?.state == "syncing" }
            try await Task.sleep(nanoseconds: 200_000_000)
            daemon.signal(SIGKILL)
            _ = await daemon.waitExit(5)
            try daemon.start()
            try await waitFor(120, "converged", daemon) { daemon.account("main")?.lastSuccess != nil }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitExit(12) == 0)
            let out = daemon.dir + "/sync"
            #expect(waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "sync"], stdout: out)) == 0)
            #expect(try maildirSnapshot(daemon.mirror + "/main/mail") == (try await account.expectedMaildir()))
        }
    }
}

/// The receiving end of sd_notify: a datagram socket like the one systemd passes in `NOTIFY_SOCKET`.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { b in for (i, c) in path.utf8.enumerated() { b[i] = c } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw TestServerUnavailable(description: "bind \(path)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Every message received within `seconds`.
    func messages(for seconds: Double) -> [String] {
        var out: [String] = []
        let end = ContinuousClock.now + .seconds(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < end {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { out.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        return out
    }
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: a.sin_port))
}

extension Integration.DaemonTests {
    @Test("systemd: READY, STATUS, WATCHDOG, RELOADING, STOPPING; metrics over HTTP and in a file")
    func systemdAndMetrics() async throws {
        let account = try await ServerAccount.fresh(server, prefix: "dn")
        try server.deliver(to: account.user, subject: "counted")
        let notify = try NotifySocket()
        let port = freePort()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)").path
        let daemon = try DaemonProcess(accounts: [("main", server.httpBase.absoluteString + "/jmap", account.user, account.password)],
                                       daemon: "poll_interval = \"1h\"\nmetrics_listen = \"127.0.0.1:\(port)\"\nmetrics_file = \"\(scratch).prom\"")
        defer { try? FileManager.default.removeItem(atPath: scratch + ".prom") }
        try daemon.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000", "JOURNAL_STREAM": "8:1234"])
        var got = notify.messages(for: 3)
        #expect(got.contains { $0.hasPrefix("READY=1") }, "\(got)")
        #expect(got.contains { $0.contains("STATUS=1 account") }, "\(got)")
        #expect(got.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(got)")  // every 0.5 s
        try await waitFor(10, "first sync", daemon) { daemon.account("main")?.lastSuccess != nil }
        got += notify.messages(for: 1.5)
        #expect(got.contains { $0.hasPrefix("STATUS=1 account, 1 polling, last sync ") }, "\(got)")

        let r = try await TestServer.transport(retry: .none).perform(
            HTTPRequest(url: URL(string: "http://127.0.0.1:\(port)/metrics")!), sink: .memory(limit: 1 << 20))
        let text = String(decoding: r.body, as: UTF8.self)
        #expect(r.status == 200 && r.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(text.contains("jmirror_messages{account=\"main\"} 1\n"), "\(text)")
        #expect(text.contains("jmirror_syncs_total{account=\"main\"} 1\n"))
        #expect(text.contains("jmirror_last_success_timestamp_seconds{account=\"main\"} "))
        #expect((try? String(contentsOfFile: scratch + ".prom", encoding: .utf8))?.contains("jmirror_messages{account=\"main\"} 1") == true)
        let missing = try await TestServer.transport(retry: .none).perform(
            HTTPRequest(url: URL(string: "http://127.0.0.1:\(port)/other")!), sink: .memory(limit: 1 << 20))
        #expect(missing.status == 404)

        daemon.signal(SIGHUP)
        got = notify.messages(for: 1)
        #expect(got.contains("RELOADING=1") && got.contains { $0.hasPrefix("READY=1") }, "\(got)")
        daemon.signal(SIGTERM)
        got = notify.messages(for: 1)
        #expect(got.contains { $0.hasPrefix("STOPPING=1") }, "\(got)")
        #expect(await daemon.waitExit(12) == 0)
        // Under journald: priorities, no time stamps of our own.
        let lines = daemon.log.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.range(of: #"^<[0-7]>"#, options: .regularExpression) != nil }, "\(lines.prefix(3))")
    }

    @Test("the systemd units in contrib/systemd pass systemd-analyze verify, without a warning")
    func systemdUnits() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../contrib/systemd").standardized.path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/user", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The units name where the binary is installed; verify checks that it exists and runs.
        for name in ["jmirror.service", "jmirror-sync.service", "jmirror-sync.timer", "user/jmirror.service"] {
            let text = try String(contentsOfFile: source + "/" + name, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/jmirror", with: jmirrorBinary)
                .replacingOccurrences(of: "%h/.local/bin/jmirror", with: jmirrorBinary)
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        let system = try ServerAccount.run(["/usr/bin/systemd-analyze", "verify", dir + "/jmirror.service", dir + "/jmirror-sync.service",
                                            dir + "/jmirror-sync.timer"])
        #expect(system.isEmpty, "\(system)")
        try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let user = try ServerAccount.run(["/usr/bin/env", "XDG_RUNTIME_DIR=\(dir)/run", "/usr/bin/systemd-analyze", "--user", "verify",
                                          dir + "/user/jmirror.service"])
        #expect(user.isEmpty, "\(user)")
    }
}

extension Integration.DaemonTests {
    @Test("a safety-guard refusal pauses the account until `jmirror sync --force` reaches the daemon; a second daemon is refused")
    func safetyGuardAndSecondDaemon() async throws {
        let account = try await ServerAccount.fresh(server, prefix: "dg")
        let inbox = try await account.mailboxId(role: "inbox")
        for i in 0..<25 { try await account.importMessage(sampleMessage("guarded \(i)"), mailboxIds: [inbox]) }
        let daemon = try DaemonProcess(accounts: [("main", server.httpBase.absoluteString + "/jmap", account.user, account.password)],
                                       daemon: "poll_interval = \"1s\"")
        try daemon.start()
        try await waitFor(15, "first sync", daemon) { daemon.inbox("main").count == 25 }

        let second = daemon.dir + "/second"
        let code = waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "daemon"], stdout: second))
        let secondLog = (try? String(contentsOfFile: second + ".err", encoding: .utf8)) ?? ""
        #expect(code == 74 && secondLog.contains("a jmirror daemon (pid \(daemon.pid)) is already running"), "\(code) \(secondLog)")

        try await account.destroyEmails(Array(try await account.allEmailIds().prefix(24)))
        try await waitFor(15, "paused by the safety guard", daemon) { daemon.account("main")?.state == "paused" }
        #expect(daemon.account("main")?.lastErrorKind == "safety-guard")
        try await Task.sleep(nanoseconds: 3_000_000_000)  // three poll intervals: nothing deleted, no retry
        #expect(daemon.inbox("main").count == 25)
        #expect(daemon.account("main")?.consecutiveFailures == 1)

        let out = daemon.dir + "/force"
        #expect(waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "sync", "--force", "main"], stdout: out)) == 0)
        #expect((try String(contentsOfFile: out, encoding: .utf8)).contains("24 deleted"))
        #expect(daemon.inbox("main").count == 1)
        #expect(daemon.account("main")?.state == "idle")
        daemon.signal(SIGTERM)
        #expect(await daemon.waitExit(12) == 0)
    }
}

extension Integration.DaemonTests {
    @Test("a scheduled snapshot is recorded at its time of day, tagged, and [retention] is applied to it")
    func scheduledSnapshot() async throws {
        let account = try await ServerAccount.fresh(server, prefix: "dh")
        try server.deliver(to: account.user, subject: "kept")
        // The next whole minute, in the local time zone the daemon also uses.
        var calendar = Calendar.current
        calendar.timeZone = .current
        let now = Date()
        let next = try #require(calendar.nextDate(after: now.addingTimeInterval(5), matching: DateComponents(second: 0),
                                                  matchingPolicy: .nextTime))
        let hm = calendar.dateComponents([.hour, .minute], from: next)
        let at = String(format: "%02d:%02d", hm.hour ?? 0, hm.minute ?? 0)
        let daemon = try DaemonProcess(accounts: [("main", server.httpBase.absoluteString + "/jmap", account.user, account.password)],
                                       daemon: "poll_interval = \"1h\"\nsnapshot = \"\(at)\"")
        // keep_last = 1: the sync's own snapshot goes, the scheduled one stays.
        try (String(contentsOfFile: daemon.config, encoding: .utf8) + "[retention]\nkeep_last = 1\n")
            .write(toFile: daemon.config, atomically: true, encoding: .utf8)
        try daemon.start()
        try await waitFor(15, "first sync", daemon) { daemon.inboxHas("main", subject: "kept") }
        #expect(daemon.account("main")?.nextSnapshot.map { abs($0.timeIntervalSince(next)) < 1 } == true)
        try await waitFor(next.timeIntervalSinceNow + 20, "the scheduled snapshot", daemon) {
            daemon.account("main")?.lastSnapshotNote?.contains("(daily)") == true
        }
        let note = try #require(daemon.account("main")?.lastSnapshotNote)
        #expect(note.contains("retention forgot 1 of 2") && note.contains("pruned"), "\(note)")
        #expect((daemon.account("main")?.nextSnapshot?.timeIntervalSince(next) ?? 0) > 86000)  // tomorrow, same time
        daemon.signal(SIGTERM)
        #expect(await daemon.waitExit(12) == 0)
        let out = daemon.dir + "/snaps"
        #expect(waitExit(try spawn([jmirrorBinary, "--config", daemon.config, "snapshots", "--json"], stdout: out)) == 0)
        let listed = try JSONValue.decode(Data(contentsOf: URL(fileURLWithPath: out)))
        let snaps = listed["snapshots"]?.arrayValue ?? listed.arrayValue ?? []
        #expect(snaps.count == 1 && snaps.first?["tags"]?.arrayValue?.compactMap(\.stringValue) == ["daily"], "\(listed)")
    }
}
