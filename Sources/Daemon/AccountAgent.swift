import Foundation
import JMAP
import Logging

/// What the daemon knows about one account, for `status`, metrics and systemd's STATUS line.
public struct AccountStatus: Sendable, Codable, Equatable {
    public var account: String
    /// "starting", "idle", "syncing", "retrying", "needs-attention", "paused", "stopped".
    public var state = "starting"
    /// "connected", "connecting", "reconnecting", "unavailable" (the server offers none: polling), "off".
    public var push = "off"
    public var lastSuccess: Date?
    public var lastAttempt: Date?
    public var lastError: String?
    public var lastErrorKind: String?
    public var nextSync: Date?
    public var nextSnapshot: Date?
    public var consecutiveFailures = 0
    public var syncs = 0
    public var errorsByKind: [String: Int] = [:]
    public var changesTotal = 0
    public var bytesTotal: Int64 = 0
    public var pushEvents = 0
    public var pushReconnects = 0
    public var lastReport: SyncReport?
    public var lastSnapshotNote: String?

    public init(account: String) { self.account = account }
}

/// The answer to a sync someone asked for (the control socket: `jmirror sync` while the daemon runs).
public struct SyncAnswer: Sendable, Codable {
    public var account: String
    public var report: SyncReport?
    public var error: String?
    public var kind: String?
}

/// One account's life in the daemon: a loop that syncs when something asks (a push event, a
/// reconnect, a user) or when its schedule says, and a push loop beside it. One sync in flight,
/// at most one queued: a burst of push events costs at most two syncs.
actor AccountAgent {
    nonisolated let name: String
    private(set) var settings: AgentSettings
    nonisolated let fingerprint: String
    private let backend: DaemonBackend
    private let gate: SyncGate
    private let logger: Logger
    private let changed: @Sendable () -> Void
    private var status: AccountStatus
    private let wake = Wakeup()
    private let pushWake = Wakeup()
    private var queued = false
    private var forceNext = false
    private var tagsNext: [String] = []
    private var nextWaiters: [CheckedContinuation<SyncAnswer, Never>] = []
    private var stopping = false
    private var retryAt: Date?
    /// The end of the last attempt: polls are spaced from it, so a long sync is not followed at once by another.
    private var lastFinished: Date?
    private var lastEventId: String?
    private var lastHeard = Date()
    private var pushWindow = 0.0
    private var everConnected = false

    init(name: String, settings: AgentSettings, fingerprint: String, backend: DaemonBackend, gate: SyncGate, logger: Logger,
         changed: @escaping @Sendable () -> Void) {
        self.name = name
        self.settings = settings
        self.fingerprint = fingerprint
        self.backend = backend
        self.gate = gate
        self.logger = logger
        self.changed = changed
        status = AccountStatus(account: name)
    }

    var current: AccountStatus {
        var s = status
        s.nextSync = queued ? Date() : nextDue()
        return s
    }

    // MARK: Requests from outside

    /// A sync soon; `force` lifts the safety guard for it (and with it a pause).
    func request(force: Bool = false, tags: [String] = []) {
        queued = true
        if force { forceNext = true }
        tagsNext += tags.filter { !tagsNext.contains($0) }
        wake.signal()
    }

    /// Asks for a sync that starts after this call and waits for its outcome.
    func syncNow(force: Bool, tags: [String]) async -> SyncAnswer {
        if stopping { return SyncAnswer(account: name, error: "the daemon is stopping", kind: "interrupted") }
        return await withCheckedContinuation { c in
            nextWaiters.append(c)
            request(force: force, tags: tags)
        }
    }

    /// After a config reload that left this account as it was: an account waiting on its
    /// credentials tries again now (the secret may have changed), with a fresh connection.
    func reloaded() async {
        guard status.state == "needs-attention" else { return }
        await backend.forget(account: name)
        status.state = "retrying"
        retryAt = Date()
        request()
        pushWake.signal()
    }

    func stop() {
        stopping = true
        wake.signal()
        pushWake.signal()
    }

    // MARK: The loop

    func run() async {
        let pushTask: Task<Void, Never>? = settings.push ? Task { await self.pushLoop() } : nil
        if !settings.push { status.push = "off" }
        status.nextSnapshot = settings.snapshot?.next(after: Date())
        queued = true  // the start-up sync catches up with whatever happened while no one watched
        while !stopping && !Task.isCancelled {
            let now = Date()
            if queued && blocked && nextWaiters.isEmpty && !forceNext {
                // Push events and reconnects would fail the same way: wait for the user (a reload,
                // `jmirror sync [--force]`) or the slow retry.
                queued = false
            }
            if queued || nextDue().map({ $0 <= now }) == true {
                await syncOnce()
                continue
            }
            if let at = status.nextSnapshot, at <= now {
                await scheduledSnapshot()
                continue
            }
            let wakeAt = [nextDue(), status.nextSnapshot].compactMap { $0 }.min() ?? .distantFuture
            await wake.wait(until: wakeAt)
        }
        pushTask?.cancel()
        await pushTask?.value
        status.state = "stopped"
        status.push = settings.push ? "off" : status.push
        for w in nextWaiters { w.resume(returning: SyncAnswer(account: name, error: "the daemon is stopping", kind: "interrupted")) }
        nextWaiters = []
        changed()
    }

    private var blocked: Bool { status.state == "needs-attention" || status.state == "paused" }

    /// When the schedule next wants a sync; nil while paused.
    private func nextDue() -> Date? {
        switch status.state {
        case "paused": return nil
        case "retrying", "needs-attention": return retryAt
        default:
            guard let last = lastFinished else { return Date() }
            return last.addingTimeInterval(status.push == "connected" ? settings.fullInterval : settings.pollInterval)
        }
    }

    private func syncOnce() async {
        let force = forceNext
        let tags = tagsNext
        tagsNext = []
        let waiters = nextWaiters
        queued = false
        forceNext = false
        nextWaiters = []
        let before = status.state
        status.state = "syncing"
        changed()
        let started = Date()
        status.lastAttempt = started
        let answer: SyncAnswer
        do {
            let report = try await gate.shared { [backend, name] in try await backend.sync(account: name, force: force, tags: tags) }
            status.syncs += 1
            status.lastSuccess = Date()
            status.lastReport = report
            status.changesTotal += report.changes
            status.bytesTotal += report.bytesDownloaded
            status.consecutiveFailures = 0
            status.lastError = nil
            status.lastErrorKind = nil
            status.state = "idle"
            retryAt = nil
            if report.changes > 0 || before != "idle" { logger.notice("\(report.text)") }
            pushWake.signal()
            answer = SyncAnswer(account: name, report: report)
        } catch {
            let (cls, kind, message) = backend.classify(error)
            status.lastError = message
            status.lastErrorKind = kind
            status.errorsByKind[kind, default: 0] += 1
            status.consecutiveFailures += 1
            answer = SyncAnswer(account: name, error: message, kind: kind)
            if stopping || error is CancellationError {
                status.state = "idle"
            } else {
                switch cls {
                case .authentication:
                    status.state = "needs-attention"
                    retryAt = Date().addingTimeInterval(settings.authRetry)
                    logger.error("\(name): \(message); retrying at \(retryAt!) or after a reload (SIGHUP)")
                case .safetyGuard:
                    status.state = "paused"
                    retryAt = nil
                    logger.error("\(name): \(message); paused until `jmirror sync --force \(name)`")
                case .transient, .other:
                    status.state = "retrying"
                    let delay = settings.backoff.delay(failures: status.consecutiveFailures)
                    retryAt = Date().addingTimeInterval(delay)
                    logger.warning("\(name): \(message); retrying in \(Int(delay.rounded())) s")
                }
            }
        }
        lastFinished = Date()
        for w in waiters { w.resume(returning: answer) }
        changed()
    }

    private func scheduledSnapshot() async {
        guard let schedule = settings.snapshot else { return }
        status.nextSnapshot = schedule.next(after: Date())
        do {
            let note = try await backend.scheduledSnapshot(account: name, tag: schedule.tag)
            let pruned = try await gate.exclusive { [backend] in try await backend.prune() }
            status.lastSnapshotNote = note + "; " + pruned
            logger.notice("\(name): \(status.lastSnapshotNote!)")
        } catch {
            let (_, kind, message) = backend.classify(error)
            status.errorsByKind[kind, default: 0] += 1
            status.lastSnapshotNote = "failed: " + message
            logger.error("\(name): scheduled snapshot failed: \(message)")
        }
        changed()
    }

    // MARK: Push

    private struct DeadConnection: Error {}

    private func pushLoop() async {
        var failures = 0
        while !stopping && !Task.isCancelled {
            if status.state == "needs-attention" || status.state == "paused" {
                status.push = "off"
                await pushWake.wait(until: .distantFuture)
                continue
            }
            status.push = everConnected ? "reconnecting" : "connecting"
            changed()
            let opened = Date()
            var heardAnything = false
            do {
                guard let stream = try await backend.push(account: name, ping: settings.pingInterval, lastEventId: lastEventId) else {
                    status.push = "unavailable"
                    changed()
                    return
                }
                lastHeard = Date()
                pushWindow = PushWindow.seconds(requestedPing: settings.pingInterval, reported: nil, slack: settings.pushSlack)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in stream { await self.heard(message) }
                    }
                    group.addTask {
                        while true {
                            let (deadline, dead) = await self.silence()
                            if dead { throw DeadConnection() }
                            try await Task.sleep(nanoseconds: UInt64(max(0.05, deadline.timeIntervalSinceNow) * 1e9))
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
                heardAnything = status.push == "connected"
                if stopping { return }
                logger.info("\(name): push connection closed by the server; reconnecting")
            } catch is CancellationError {
                return
            } catch is DeadConnection {
                heardAnything = true
                logger.warning("\(name): push connection silent for \(Int(pushWindow)) s (two missed pings); reconnecting")
            } catch {
                if stopping { return }
                let (cls, _, message) = backend.classify(error)
                if case let JMAPError.unsupported(what) = error {
                    logger.notice("\(name): \(what); polling every \(Int(settings.pollInterval)) s instead")
                    status.push = "unavailable"
                    changed()
                    return
                }
                if cls == .authentication {
                    // Let a sync find out and mark the account; push waits until it recovers.
                    status.push = "off"
                    request()
                    await pushWake.wait(until: .distantFuture)
                    continue
                }
                heardAnything = status.push == "connected"
                logger.warning("\(name): push connection failed: \(message)")
            }
            status.push = "reconnecting"
            status.pushReconnects += 1
            wake.signal()  // without push, the schedule falls back to polling
            changed()
            failures = heardAnything || Date().timeIntervalSince(opened) > 60 ? 1 : failures + 1
            let delay = Backoff(base: 1, cap: 300).delay(failures: failures)
            await pushWake.wait(until: Date().addingTimeInterval(delay))
        }
    }

    private func silence() -> (Date, Bool) {
        let deadline = lastHeard.addingTimeInterval(pushWindow)
        return (deadline, deadline <= Date())
    }

    private func heard(_ message: PushMessage) {
        lastHeard = Date()
        switch message {
        case .opened:
            status.push = "connected"
            // Whatever changed while the connection was down: one catch-up sync. (The first
            // connection needs none: the start-up sync covers it.)
            if everConnected { request() }
            everConnected = true
            changed()
        case let .ping(interval):
            pushWindow = PushWindow.seconds(requestedPing: settings.pingInterval, reported: interval, slack: settings.pushSlack)
        case let .stateChange(_, id):
            if let id { lastEventId = id }
            status.pushEvents += 1
            request()
        }
    }
}
