import Foundation
import Logging

/// An account as the daemon runs it. `fingerprint` stands for everything configured about it: a
/// reload restarts an account whose fingerprint changed and leaves the others running.
public struct AgentSpec: Sendable {
    public var name: String
    public var settings: AgentSettings
    public var fingerprint: String

    public init(name: String, settings: AgentSettings, fingerprint: String) {
        self.name = name
        self.settings = settings
        self.fingerprint = fingerprint
    }
}

/// The long-running agent: one `AccountAgent` per account, a gate that keeps prunes apart from
/// syncs, and whoever wants to hear of changes (systemd, metrics).
public actor Daemon {
    private var agents: [String: (agent: AccountAgent, task: Task<Void, Never>)] = [:]
    private let gate: SyncGate
    private let logger: Logger
    private let onChange: @Sendable () -> Void
    public nonisolated let started = Date()

    public init(maxParallelSyncs: Int = 4, logger: Logger, onChange: @escaping @Sendable () -> Void = {}) {
        gate = SyncGate(limit: maxParallelSyncs)
        self.logger = logger
        self.onChange = onChange
    }

    /// Starts, restarts or stops agents so that exactly `specs` run, each with `backend`.
    /// Returns what changed, in words.
    @discardableResult
    public func apply(_ specs: [AgentSpec], backend: DaemonBackend) async -> [String] {
        var notes: [String] = []
        let wanted = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, running) in agents where wanted[name]?.fingerprint != running.agent.fingerprint {
            await running.agent.stop()
            await running.task.value
            agents[name] = nil
            notes.append(wanted[name] == nil ? "\(name) removed" : "\(name) changed")
        }
        for spec in specs {
            if let running = agents[spec.name] {
                await running.agent.reloaded()
                continue
            }
            let agent = AccountAgent(name: spec.name, settings: spec.settings, fingerprint: spec.fingerprint, backend: backend,
                                     gate: gate, logger: logger, changed: onChange)
            agents[spec.name] = (agent, Task { await agent.run() })
            if !notes.contains("\(spec.name) changed") { notes.append("\(spec.name) added") }
        }
        onChange()
        return notes
    }

    public var accountNames: [String] { agents.keys.sorted() }

    public func status() async -> [AccountStatus] {
        var out: [AccountStatus] = []
        for name in agents.keys.sorted() {
            if let a = agents[name]?.agent { out.append(await a.current) }
        }
        return out
    }

    /// Syncs the named accounts now (all when empty) and waits for each outcome. An unknown name
    /// gets an error answer.
    public func syncNow(_ names: [String], force: Bool, tags: [String] = []) async -> [SyncAnswer] {
        let chosen = names.isEmpty ? agents.keys.sorted() : names
        return await withTaskGroup(of: (Int, SyncAnswer).self) { group in
            for (i, name) in chosen.enumerated() {
                guard let agent = agents[name]?.agent else {
                    group.addTask { (i, SyncAnswer(account: name, error: "the daemon does not run an account named \"\(name)\"", kind: "config")) }
                    continue
                }
                group.addTask { (i, await agent.syncNow(force: force, tags: tags)) }
            }
            var answers: [(Int, SyncAnswer)] = []
            for await a in group { answers.append(a) }
            return answers.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Stops starting work and lets running syncs finish their round for up to `grace` seconds;
    /// then cancels them. Every instant is a safe one to stop at; the grace only saves redoing work.
    public func stop(grace: Double) async {
        let running = Array(agents.values)
        for r in running { await r.agent.stop() }
        let finished = Task {
            for r in running { await r.task.value }
        }
        let deadline = ContinuousClock.now + .seconds(grace)  // a duration: the wall clock may be stepped meanwhile
        while ContinuousClock.now < deadline {
            if await isDone(running) { break }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        if !(await isDone(running)) {
            logger.notice("a sync is still running after \(Int(grace)) s; stopping it where it stands (the next run continues from there)")
            for r in running { r.task.cancel() }
        }
        await finished.value
        agents = [:]
    }

    private func isDone(_ running: [(agent: AccountAgent, task: Task<Void, Never>)]) async -> Bool {
        for r in running where await r.agent.current.state != "stopped" { return false }
        return true
    }
}
