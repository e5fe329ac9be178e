import Daemon
import Foundation
import Logging
import Store

/// `jmirror daemon`: the process around a `Daemon`: config and reloads, signals, the control
/// socket, metrics, and what systemd is told.
public final class DaemonRunner: @unchecked Sendable {
    let configPath: String
    let only: [String]
    let logger: Logger
    let notifier: SystemdNotifier
    private let signals: AsyncStream<Int32>
    private let signalInput: AsyncStream<Int32>.Continuation
    private var sources: [DispatchSourceSignal] = []
    private let stopping = LockedFlag()

    public init(configPath: String, only: [String], logger: Logger, notifier: SystemdNotifier = SystemdNotifier()) {
        self.configPath = configPath
        self.only = only
        self.logger = logger
        self.notifier = notifier
        (signals, signalInput) = AsyncStream<Int32>.makeStream()
    }

    /// Runs until SIGTERM or SIGINT; returns the exit status. A second SIGTERM or SIGINT ends the
    /// process at once, which is safe at any instant.
    public func run() async -> ExitStatus {
        installSignals()
        let config: MirrorConfig
        let store: MirrorStore
        do {
            config = try ConfigLoader.load(path: configPath)
            for w in config.warnings { logger.warning("\(w)") }
            _ = try config.accounts(named: only)
            store = try MirrorStore(root: config.mirrorPath)
        } catch {
            if let running = StatusReader.fromDaemon(mirror: (try? ConfigLoader.load(path: configPath))?.mirrorPath ?? "", accounts: []),
               let pid = running.daemonPid {
                logger.error("a jmirror daemon (pid \(pid)) is already running on this mirror")
            } else {
                logger.error("\(ErrorClassifier.message(for: error))")
            }
            return ErrorClassifier.status(for: error)
        }
        let backend = MirrorBackend(config: config, store: store, logger: logger)
        let reporter = Reporter(notifier: notifier, backend: backend, settings: config.daemon, logger: logger)
        let daemon = Daemon(maxParallelSyncs: config.daemon.maxParallel, logger: logger) { reporter.poke() }
        reporter.daemon = daemon
        let socket = StatusReader.socketPath(mirror: store.root)
        var control: ControlServer?
        do {
            control = try ControlServer(path: socket) { request in await Self.answer(request, daemon: daemon, store: store) }
        } catch {
            logger.warning("no control socket (\(error)): `jmirror sync` and `status` will not reach this daemon")
        }
        var metrics: MetricsServer?
        if let listen = config.daemon.metricsListen {
            do {
                metrics = try MetricsServer(listen: listen, board: reporter.board)
                let host = listen[..<(listen.lastIndex(of: ":") ?? listen.endIndex)]
                logger.notice("metrics on http://\(host):\(metrics?.port ?? 0)/metrics")
            } catch {
                logger.error("metrics_listen: \(error); serving no metrics over HTTP")
            }
        }
        let notes = await daemon.apply(specs(config), backend: backend)
        logger.notice("started: \(notes.joined(separator: ", "))")
        reporter.start()
        notifier.send("READY=1\nSTATUS=" + (await reporter.statusLine()))

        var current = config
        for await sig in signals {
            if sig == SIGHUP {
                notifier.send("RELOADING=1")
                current = await reload(current, daemon: daemon, backend: backend, reporter: reporter)
                notifier.send("READY=1\nSTATUS=" + (await reporter.statusLine()))
                continue
            }
            break
        }
        notifier.send("STOPPING=1\nSTATUS=stopping: letting running syncs finish (at most 10 s)")
        logger.notice("stopping: letting running syncs finish their round (at most 10 s)")
        await daemon.stop(grace: 10)
        control?.close()
        unlink(socket)
        metrics?.close()
        await reporter.stop()
        logger.notice("stopped")
        return .success
    }

    private func specs(_ config: MirrorConfig) -> [AgentSpec] {
        let chosen = only.isEmpty ? config.accounts : config.accounts.filter { only.contains($0.name) }
        return chosen.map { a in
            let settings = config.daemon.agent(for: a)
            return AgentSpec(name: a.name, settings: settings, fingerprint: a.fingerprint + "\n\(settings)")
        }
    }

    /// A new config is used only whole: anything wrong with it, and the old one stays.
    private func reload(_ old: MirrorConfig, daemon: Daemon, backend: MirrorBackend, reporter: Reporter) async -> MirrorConfig {
        let new: MirrorConfig
        do {
            new = try ConfigLoader.load(path: configPath)
            _ = try new.accounts(named: only)
            guard new.mirrorPath == old.mirrorPath else {
                throw ConfigError(file: configPath, key: "mirror.path", message: "cannot change while the daemon runs (restart it)")
            }
        } catch {
            logger.error("reload refused, keeping the running configuration: \(ErrorClassifier.message(for: error))")
            return old
        }
        for w in new.warnings { logger.warning("\(w)") }
        if new.daemon.metricsListen != old.daemon.metricsListen || new.daemon.maxParallel != old.daemon.maxParallel {
            logger.notice("metrics_listen and max_parallel take effect at the next start")
        }
        backend.update(new)
        reporter.settings = new.daemon
        let notes = await daemon.apply(specs(new), backend: backend)
        logger.notice("configuration reloaded\(notes.isEmpty ? "" : ": " + notes.joined(separator: ", "))")
        return new
    }

    static func answer(_ request: ControlRequest, daemon: Daemon, store: MirrorStore) async -> [Data] {
        let encoder = ControlCodec.encoder
        switch request.command {
        case "sync":
            return await daemon.syncNow(request.accounts, force: request.force, tags: request.tags).map { (try? encoder.encode($0)) ?? Data() }
        case "status":
            let live = await daemon.status()
            let names = request.accounts.isEmpty ? live.map(\.account) : request.accounts
            var reports = StatusReader.stored(store, accounts: names)
            for i in reports.indices { reports[i].daemon = live.first { $0.account == reports[i].account } }
            let report = StatusReport(daemonRunning: true, daemonPid: getpid(), daemonStarted: daemon.started, accounts: reports)
            return [(try? encoder.encode(report)) ?? Data()]
        default:
            return [Data(#"{"error":"unknown command"}"#.utf8)]
        }
    }

    private func installSignals() {
        for sig in [SIGHUP, SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [signalInput, stopping, logger] in
                if sig != SIGHUP {
                    if stopping.set() {
                        logger.notice("second signal: exiting now (safe: the next run continues from here)")
                        _exit(0)
                    }
                }
                signalInput.yield(sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    /// Sets the flag; returns whether it was already set.
    func set() -> Bool { lock.withLock { defer { value = true }; return value } }
}
