import Foundation
@testable import JMAP
import Logging
import Testing
@testable import Daemon

/// A backend whose syncs and push connections the test drives.
final class FakeBackend: DaemonBackend, @unchecked Sendable {
    enum Failure: Error { case auth, guarded, down }
    private let lock = NSLock()
    private var _attempts = 0
    private var _forced: [Bool] = []
    private var _tags: [[String]] = []
    private var _failures: [Failure] = []
    private var _pushes: [AsyncThrowingStream<PushMessage, Error>.Continuation] = []
    private var _pushError: Error?
    private var _forgotten = 0
    var syncSeconds = 0.05
    var pushOffered = true

    var attempts: Int { lock.withLock { _attempts } }
    var forced: [Bool] { lock.withLock { _forced } }
    var tags: [[String]] { lock.withLock { _tags } }
    var pushes: [AsyncThrowingStream<PushMessage, Error>.Continuation] { lock.withLock { _pushes } }
    var forgotten: Int { lock.withLock { _forgotten } }
    /// The next syncs fail with these, in order.
    func fail(_ f: [Failure]) { lock.withLock { _failures = f } }
    func failPush(_ e: Error?) { lock.withLock { _pushError = e } }

    func sync(account: String, force: Bool, tags: [String]) async throws -> SyncReport {
        let failure: Failure? = lock.withLock {
            _attempts += 1
            _forced.append(force)
            _tags.append(tags)
            return _failures.isEmpty ? nil : _failures.removeFirst()
        }
        try await Task.sleep(nanoseconds: UInt64(syncSeconds * 1e9))
        if let failure { throw failure }
        return SyncReport(messages: 1, created: 1, updated: 0, moved: 0, destroyed: 0, bytesDownloaded: 10, seconds: syncSeconds,
                          failedItems: 0, snapshot: nil, text: "\(account): synced")
    }

    func push(account: String, ping: Int, lastEventId: String?) async throws -> AsyncThrowingStream<PushMessage, Error>? {
        if let e = lock.withLock({ _pushError }) { throw e }
        guard pushOffered else { return nil }
        let (stream, continuation) = AsyncThrowingStream<PushMessage, Error>.makeStream()
        lock.withLock { _pushes.append(continuation) }
        return stream
    }

    func scheduledSnapshot(account: String, tag: String) async throws -> String { "snapshot (\(tag))" }
    func prune() async throws -> String { "pruned" }
    func forget(account: String) async { lock.withLock { _forgotten += 1 } }

    func classify(_ error: Error) -> (FailureClass, kind: String, message: String) {
        switch error {
        case Failure.auth: return (.authentication, "authentication", "authentication failed")
        case Failure.guarded: return (.safetyGuard, "safety-guard", "refused to delete")
        case JMAPError.unsupported(let what): return (.other, "protocol", what)
        default: return (.transient, "unreachable", "down")
        }
    }
}

/// Polls `condition` every 10 ms for up to `seconds`.
func eventually(_ seconds: Double = 5, _ condition: () async -> Bool) async -> Bool {
    let end = ContinuousClock.now + .seconds(seconds)  // not the wall clock: it can be stepped mid-test
    while ContinuousClock.now < end {
        if await condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return await condition()
}

@Suite("Daemon scheduling (fake backend)")
struct DaemonUnitTests {
    let logger = Logger(label: "test")

    func agent(_ backend: FakeBackend, push: Bool = false, configure: (inout AgentSettings) -> Void = { _ in })
        -> (AccountAgent, Task<Void, Never>) {
        var s = AgentSettings()
        s.push = push
        s.pollInterval = 3600
        s.backoff = Backoff(base: 0.05, cap: 0.1)
        configure(&s)
        let a = AccountAgent(name: "acct", settings: s, fingerprint: "f", backend: backend, gate: SyncGate(limit: 4), logger: logger) {}
        return (a, Task { await a.run() })
    }

    @Test("a burst of requests costs one sync in flight and one queued, never more")
    func coalescing() async throws {
        let backend = FakeBackend()
        backend.syncSeconds = 0.3
        let (a, task) = agent(backend)
        #expect(await eventually { await a.current.state == "idle" })
        #expect(backend.attempts == 1)  // the start-up sync
        for _ in 0..<20 { await a.request() }
        #expect(await eventually { backend.attempts == 2 })
        for _ in 0..<20 { await a.request() }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(backend.attempts == 3)
        await a.stop()
        await task.value
    }

    @Test("wrong credentials: marked, not retried in a loop, retried at once after a reload")
    func authentication() async throws {
        let backend = FakeBackend()
        backend.fail([.auth])
        let (a, task) = agent(backend)
        #expect(await eventually { await a.current.state == "needs-attention" })
        for _ in 0..<10 { await a.request() }  // push events, say: they must not cause attempts
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(backend.attempts == 1)
        let due = try #require(await a.current.nextSync)
        #expect(due.timeIntervalSinceNow > 3000)  // the slow retry, an hour away
        await a.reloaded()
        #expect(await eventually { await a.current.state == "idle" })
        #expect(backend.attempts == 2 && backend.forgotten == 1)
        await a.stop()
        await task.value
    }

    @Test("a safety-guard refusal pauses the account until a forced sync")
    func safetyGuard() async throws {
        let backend = FakeBackend()
        backend.fail([.guarded])
        let (a, task) = agent(backend) { $0.pollInterval = 0.1 }
        #expect(await eventually { await a.current.state == "paused" })
        await a.request()
        try await Task.sleep(nanoseconds: 500_000_000)  // five poll intervals
        #expect(backend.attempts == 1)
        #expect(await a.current.nextSync == nil)
        let answer = await a.syncNow(force: true, tags: ["after-review"])
        #expect(answer.report != nil && answer.error == nil)
        #expect(backend.forced == [false, true])
        #expect(backend.tags.last == ["after-review"])
        #expect(await a.current.state == "idle")
        await a.stop()
        await task.value
    }

    @Test("an unreachable server is retried with growing delays, then recovers")
    func backoff() async throws {
        let backend = FakeBackend()
        backend.fail([.down, .down, .down])
        let (a, task) = agent(backend)
        #expect(await eventually { await a.current.consecutiveFailures >= 1 })
        #expect(await a.current.state == "retrying")
        #expect(await eventually { await a.current.state == "idle" })
        #expect(backend.attempts == 4)
        let s = await a.current
        #expect(s.consecutiveFailures == 0 && s.errorsByKind["unreachable"] == 3 && s.lastError == nil)
        await a.stop()
        await task.value
    }

    @Test("push: a state change syncs; a closed connection is reopened and caught up with one sync")
    func push() async throws {
        let backend = FakeBackend()
        let (a, task) = agent(backend, push: true)
        #expect(await eventually { backend.pushes.count == 1 && backend.attempts == 1 })
        backend.pushes[0].yield(.opened)
        #expect(await eventually { await a.current.push == "connected" })
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(backend.attempts == 1)  // the first connection needs no catch-up: start-up did it
        backend.pushes[0].yield(.stateChange(changed: ["acct": ["Email": "s2"]], id: "7"))
        #expect(await eventually { backend.attempts == 2 })
        #expect(await a.current.pushEvents == 1)
        backend.pushes[0].finish()
        #expect(await eventually(5) { backend.pushes.count == 2 })
        backend.pushes[1].yield(.opened)
        #expect(await eventually { backend.attempts == 3 })  // the catch-up
        #expect(await a.current.pushReconnects == 1)
        // With push connected the schedule falls back to the safety interval.
        let next = try #require(await a.current.nextSync)
        #expect(next.timeIntervalSinceNow > 3000)
        await a.stop()
        await task.value
    }

    @Test("a push connection that goes silent (two missed pings) is dropped and reopened")
    func deadConnection() async throws {
        let backend = FakeBackend()
        let (a, task) = agent(backend, push: true) {
            $0.pingInterval = 1
            $0.pushSlack = 0.2
        }
        #expect(await eventually { backend.pushes.count == 1 })
        backend.pushes[0].yield(.opened)
        for _ in 0..<3 {
            try await Task.sleep(nanoseconds: 800_000_000)
            backend.pushes[0].yield(.ping(interval: 1))
        }
        #expect(backend.pushes.count == 1)  // pings kept it alive past its window
        // Now nothing more: within 2 × 1 s + 0.2 s it counts as dead.
        #expect(await eventually(4) { backend.pushes.count == 2 })
        backend.pushes[1].yield(.opened)
        #expect(await eventually { backend.attempts == 2 })
        await a.stop()
        await task.value
    }

    @Test("a server that answers the EventSource without a stream is polled instead")
    func pushUnavailable() async throws {
        let backend = FakeBackend()
        backend.failPush(JMAPError.unsupported("push: HTTP 204"))
        let (a, task) = agent(backend, push: true) { $0.pollInterval = 0.2 }
        #expect(await eventually { await a.current.push == "unavailable" })
        #expect(await eventually { backend.attempts >= 3 })  // polling
        await a.stop()
        await task.value
    }

    @Test("reload: added, removed and changed accounts; the others keep running")
    func reload() async throws {
        let backend = FakeBackend()
        let daemon = Daemon(logger: logger)
        var s = AgentSettings()
        s.push = false
        let notes = await daemon.apply([AgentSpec(name: "a", settings: s, fingerprint: "1"),
                                        AgentSpec(name: "b", settings: s, fingerprint: "1")], backend: backend)
        #expect(notes.sorted() == ["a added", "b added"])
        #expect(await eventually { await daemon.status().allSatisfy { $0.state == "idle" } })
        let again = await daemon.apply([AgentSpec(name: "a", settings: s, fingerprint: "1"),
                                        AgentSpec(name: "c", settings: s, fingerprint: "1")], backend: backend)
        #expect(again.sorted() == ["b removed", "c added"])
        #expect(await daemon.accountNames == ["a", "c"])
        let changed = await daemon.apply([AgentSpec(name: "a", settings: s, fingerprint: "2"),
                                          AgentSpec(name: "c", settings: s, fingerprint: "1")], backend: backend)
        #expect(changed == ["a changed"])
        let answers = await daemon.syncNow(["a", "zzz"], force: false)
        #expect(answers.map(\.account) == ["a", "zzz"])
        #expect(answers[0].report != nil && answers[1].kind == "config")
        await daemon.stop(grace: 1)
    }

    @Test("stop lets a running sync finish within the grace, and cancels it after")
    func stop() async throws {
        let backend = FakeBackend()
        backend.syncSeconds = 60
        let daemon = Daemon(logger: logger)
        var s = AgentSettings()
        s.push = false
        await daemon.apply([AgentSpec(name: "a", settings: s, fingerprint: "1")], backend: backend)
        #expect(await eventually { await daemon.status().first?.state == "syncing" })
        let started = ContinuousClock.now
        await daemon.stop(grace: 0.5)
        let took = ContinuousClock.now - started
        #expect(took >= .milliseconds(450) && took < .seconds(5))
    }

    @Test("syncs share the gate; a prune waits for them and runs alone")
    func gate() async throws {
        let gate = SyncGate(limit: 2)
        let log = Log()
        async let one: Void = try gate.shared { log.add("s1+"); try await Task.sleep(nanoseconds: 200_000_000); log.add("s1-") }
        try await Task.sleep(nanoseconds: 20_000_000)
        async let prune: Void = try gate.exclusive { log.add("p+"); log.add("p-") }
        try await Task.sleep(nanoseconds: 20_000_000)
        async let two: Void = try gate.shared { log.add("s2+"); log.add("s2-") }
        _ = try await (one, prune, two)
        #expect(log.entries == ["s1+", "s1-", "p+", "p-", "s2+", "s2-"])
    }

    @Test("a wakeup signalled before the wait is not lost; a deadline ends a wait")
    func wakeup() async {
        let w = Wakeup()
        w.signal()
        let start = Date()
        await w.wait(until: Date().addingTimeInterval(10))
        #expect(Date().timeIntervalSince(start) < 1)
        await w.wait(until: Date().addingTimeInterval(0.1))
        #expect(Date().timeIntervalSince(start) >= 0.1)
    }
}

final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var _entries: [String] = []
    func add(_ s: String) { lock.withLock { _entries.append(s) } }
    var entries: [String] { lock.withLock { _entries } }
}

@Suite("Push, schedules and metrics")
struct PushFormatTests {
    @Test("event streams cut anywhere, with CRLF, CR or LF, comments and persistent ids")
    func eventStream() {
        let text = "\u{FEFF}: hello\r\nevent: state\r\nid: 41\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nevent: ping\rdata: {}\r\rdata: x\n\n"
        let bytes = Array(text.utf8)
        var expected: [ServerSentEvent]?
        for cut in 0...bytes.count {
            var p = EventStreamParser()
            let events = p.feed(Data(bytes[..<cut])) + p.feed(Data(bytes[cut...]))
            if expected == nil { expected = events }
            #expect(events == expected, "cut at \(cut)")
        }
        #expect(expected == [ServerSentEvent(type: "state", data: "{\"a\":\n1}", id: "41"),
                             ServerSentEvent(type: "ping", data: "{}", id: "41"),
                             ServerSentEvent(type: "message", data: "x", id: "41")])
    }

    @Test("push messages from RFC 8620 §7.3 events; unknown events ignored")
    func pushMessages() {
        let state = ServerSentEvent(type: "state", data: #"{"@type":"StateChange","changed":{"u1":{"Email":"d35"}}}"#, id: "62")
        #expect(PushMessage(state) == .stateChange(changed: ["u1": ["Email": "d35"]], id: "62"))
        #expect(PushMessage(ServerSentEvent(type: "ping", data: #"{"@type":"Ping","interval":30}"#, id: nil)) == .ping(interval: 30))
        #expect(PushMessage(ServerSentEvent(type: "other", data: "{}", id: nil)) == nil)
        #expect(PushMessage(ServerSentEvent(type: "state", data: "not json", id: nil)) == nil)
    }

    @Test("two missed pings, whether the server reports seconds (RFC) or milliseconds (Stalwart)")
    func window() {
        #expect(PushWindow.seconds(requestedPing: 30, reported: nil) == 65)
        #expect(PushWindow.seconds(requestedPing: 30, reported: 60) == 125)
        #expect(PushWindow.seconds(requestedPing: 30, reported: 30000) == 65)
        #expect(PushWindow.seconds(requestedPing: 30, reported: 10) == 65)  // never shorter than asked
    }

    @Test("durations and snapshot schedules as written in [daemon]")
    func schedules() throws {
        #expect(Duration.seconds("5m") == 300)
        #expect(Duration.seconds("1h30m") == 5400)
        #expect(Duration.seconds("90") == 90)
        #expect(Duration.seconds("2d") == 172_800)
        #expect(Duration.seconds("5x") == nil && Duration.seconds("m") == nil && Duration.seconds("") == nil)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "Europe/Berlin"))
        let at = try #require(ISO8601DateFormatter().date(from: "2026-03-28T23:30:00Z"))  // 00:30 Berlin, the night clocks go forward
        #expect(SnapshotSchedule("hourly")?.next(after: at, calendar: calendar) == ISO8601DateFormatter().date(from: "2026-03-29T00:00:00Z"))
        #expect(SnapshotSchedule("daily")?.next(after: at, calendar: calendar) == ISO8601DateFormatter().date(from: "2026-03-29T22:00:00Z"))
        // 02:30 does not exist that night in Berlin: the next existing instant.
        #expect(SnapshotSchedule("02:30")?.next(after: at, calendar: calendar) == ISO8601DateFormatter().date(from: "2026-03-29T01:00:00Z"))
        #expect(SnapshotSchedule("03:00")?.next(after: at, calendar: calendar) == ISO8601DateFormatter().date(from: "2026-03-29T01:00:00Z"))
        for bad in ["weekly", "3:00", "24:00", "03:60", "0300"] { #expect(SnapshotSchedule(bad) == nil, "\(bad)") }
    }

    @Test("backoff doubles from its base, is jittered, capped, and gives way to a longer Retry-After")
    func backoff() {
        let b = Backoff(base: 5, cap: 900)
        for _ in 0..<50 {
            #expect((2.5...5).contains(b.delay(failures: 1)))
            #expect((20...40).contains(b.delay(failures: 4)))
            #expect((450...900).contains(b.delay(failures: 30)))
        }
        #expect(b.delay(failures: 1, retryAfter: 120) == 120)
    }

    @Test("metrics in the Prometheus text format, labels escaped")
    func metrics() {
        var a = AccountStatus(account: "we\"ird")
        a.lastSuccess = Date(timeIntervalSince1970: 1_700_000_000)
        a.push = "connected"
        a.errorsByKind = ["unreachable": 2]
        a.syncs = 3
        let text = Metrics.render([a], inventories: ["we\"ird": Inventory(messages: 10, messageBytes: 2048, objects: ["ContactCard": 4], snapshots: 2)],
                                  started: Date(timeIntervalSince1970: 1_699_999_000))
        #expect(text.contains("jmirror_last_success_timestamp_seconds{account=\"we\\\"ird\"} 1700000000\n"))
        #expect(text.contains("jmirror_push_connected{account=\"we\\\"ird\"} 1\n"))
        #expect(text.contains("jmirror_errors_total{account=\"we\\\"ird\",kind=\"unreachable\"} 2\n"))
        #expect(text.contains("jmirror_objects{account=\"we\\\"ird\",type=\"ContactCard\"} 4\n"))
        #expect(text.contains("# TYPE jmirror_syncs_total counter\n"))
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.range(of: #"^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$"#, options: .regularExpression) != nil, "\(line)")
        }
    }
}
