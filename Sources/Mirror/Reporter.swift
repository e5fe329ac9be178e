import Daemon
import Foundation
import Logging
import Store

/// Tells the world what the daemon does: systemd's STATUS line and watchdog, the metrics board
/// and file. Poked on every change, it renders at most once a second, and every 10 s anyway so
/// that "last sync 12 s ago" stays true.
final class Reporter: @unchecked Sendable {
    let board = MetricsBoard()
    private let notifier: SystemdNotifier
    private let backend: MirrorBackend
    private let logger: Logger
    private let lock = NSLock()
    private var _settings: DaemonSettings
    private var _daemon: Daemon?
    private var inventories: [String: (lastSuccess: Date?, inventory: Inventory)] = [:]
    private var loop: Task<Void, Never>?
    private let poked = PokeFlag()

    init(notifier: SystemdNotifier, backend: MirrorBackend, settings: DaemonSettings, logger: Logger) {
        self.notifier = notifier
        self.backend = backend
        _settings = settings
        self.logger = logger
    }

    var settings: DaemonSettings {
        get { lock.withLock { _settings } }
        set { lock.withLock { _settings = newValue } }
    }

    var daemon: Daemon? {
        get { lock.withLock { _daemon } }
        set { lock.withLock { _daemon = newValue } }
    }

    func poke() { poked.set() }

    func start() {
        loop = Task {
            var lastWatchdog = Date.distantPast
            var lastRender = Date.distantPast
            while !Task.isCancelled {
                let now = Date()
                if poked.take() || now.timeIntervalSince(lastRender) >= 10 {
                    await render()
                    lastRender = now
                }
                if let w = notifier.watchdogInterval, now.timeIntervalSince(lastWatchdog) >= w {
                    notifier.send("WATCHDOG=1")
                    lastWatchdog = now
                }
                let step = min(1, notifier.watchdogInterval ?? 1)
                try? await Task.sleep(nanoseconds: UInt64(step * 1e9))
            }
        }
    }

    func stop() async {
        // (No last rendering: with the agents gone it would say nothing; the last one stands.)
        loop?.cancel()
        await loop?.value
    }

    func statusLine() async -> String {
        guard let daemon else { return "starting" }
        return Self.statusLine(await daemon.status())
    }

    static func statusLine(_ accounts: [AccountStatus], now: Date = Date()) -> String {
        var parts = ["\(accounts.count) account\(accounts.count == 1 ? "" : "s")"]
        let pushing = accounts.filter { $0.push == "connected" }.count
        let held = ["needs-attention", "paused"]
        let polling = accounts.filter { ["unavailable", "off"].contains($0.push) && !held.contains($0.state) }.count
        if pushing > 0 { parts.append("\(pushing) pushing") }
        if polling > 0 { parts.append("\(polling) polling") }
        let syncing = accounts.filter { $0.state == "syncing" }.count
        if syncing > 0 { parts.append("\(syncing) syncing") }
        let attention = accounts.filter { held.contains($0.state) }.map(\.account)
        if !attention.isEmpty { parts.append("needs attention: " + attention.joined(separator: ", ")) }
        let retrying = accounts.filter { $0.state == "retrying" }.map(\.account)
        if !retrying.isEmpty { parts.append("retrying: " + retrying.joined(separator: ", ")) }
        if let last = accounts.compactMap(\.lastSuccess).max() {
            parts.append("last sync \(Int(now.timeIntervalSince(last).rounded())) s ago")
        }
        return parts.joined(separator: ", ")
    }

    private func render() async {
        guard let daemon else { return }
        let accounts = await daemon.status()
        var current: [String: Inventory] = [:]
        for a in accounts {
            let cached = lock.withLock { inventories[a.account] }
            if let cached, cached.lastSuccess == a.lastSuccess {
                current[a.account] = cached.inventory
            } else if let fresh = backend.inventory(account: a.account) {
                current[a.account] = fresh
                lock.withLock { inventories[a.account] = (a.lastSuccess, fresh) }
            }
        }
        let text = Metrics.render(accounts, inventories: current, started: daemon.started)
        board.update(text)
        if let file = settings.metricsFile {
            do {
                try AtomicFile.write(Data(text.utf8), to: file, mode: 0o644)  // read by node exporter, no secrets in it
            } catch {
                logger.warning("metrics_file \(file): \(error)")
            }
        }
        notifier.send("STATUS=" + Self.statusLine(accounts))
    }
}

private final class PokeFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    func take() -> Bool { lock.withLock { defer { value = false }; return value } }
}
