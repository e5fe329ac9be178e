import Daemon
import Foundation
import History
import JMAP
import Logging
import Store
import Sync

/// The daemon's hands: sync, push, snapshots and prune for the configured accounts, over one
/// mirror. Keeps one client per account between syncs, so that a quiet poll is one request.
public final class MirrorBackend: DaemonBackend, @unchecked Sendable {
    private let lock = NSLock()
    private var config: MirrorConfig
    private var clients: [String: JMAPClient] = [:]
    public let store: MirrorStore
    private let logger: Logger

    public init(config: MirrorConfig, store: MirrorStore, logger: Logger) {
        self.config = config
        self.store = store
        self.logger = logger
    }

    /// A reloaded configuration: connections of accounts that changed or went are dropped.
    public func update(_ new: MirrorConfig) {
        lock.withLock {
            for (name, _) in clients where new.accounts.first(where: { $0.name == name })?.fingerprint
                != config.accounts.first(where: { $0.name == name })?.fingerprint {
                clients[name] = nil
            }
            config = new
        }
    }

    private func account(_ name: String) throws -> (AccountConfig, MirrorConfig) {
        try lock.withLock {
            guard let a = config.accounts.first(where: { $0.name == name }) else {
                throw ConfigError(file: config.file, key: nil, message: "no account named \"\(name)\"")
            }
            return (a, config)
        }
    }

    private func client(_ name: String) -> JMAPClient? { lock.withLock { clients[name] } }

    public func sync(account name: String, force: Bool, tags: [String]) async throws -> SyncReport {
        let (account, config) = try account(name)
        var options = SyncOptions()
        options.force = force
        options.maxDeletedShare = config.maxDeletedShare
        let outcome = try await AccountSync.run(account, store: store, options: options, tags: tags, origin: "daemon", logger: logger,
                                                client: client(name),
                                                keepClient: { c in self.lock.withLock { self.clients[name] = c } },
                                                warn: { self.logger.warning("\($0)") })
        let s = outcome.summary
        return SyncReport(messages: s.messages, created: s.created, updated: s.updated, moved: s.moved, destroyed: s.destroyed,
                          bytesDownloaded: s.bytesDownloaded, seconds: s.seconds, failedItems: s.failed.count,
                          snapshot: outcome.snapshot?.id,
                          text: SyncText.describe(s) + (outcome.snapshot.map { "; snapshot \($0.id.prefix(8))" } ?? ""),
                          summary: (try? JSONEncoder().encode(s)).map { String(decoding: $0, as: UTF8.self) })
    }

    public func push(account name: String, ping: Int, lastEventId: String?) async throws -> AsyncThrowingStream<PushMessage, Error>? {
        let (account, _) = try account(name)
        let c: JMAPClient
        if let kept = client(name) {
            c = kept
        } else {
            c = try await Connector.connect(account, logger: logger, cached: SessionKeeper.kept(account, in: store),
                                            warn: { self.logger.warning("\($0)") })
            lock.withLock { clients[name] = c }
        }
        return await c.openPush(ping: ping, lastEventId: lastEventId)
    }

    public func scheduledSnapshot(account name: String, tag: String) async throws -> String {
        let (_, config) = try account(name)
        guard let snapshot = try store.catalog.recordSnapshot(account: name, tags: [tag], force: true) else {
            return "no snapshot recorded"
        }
        var line = "snapshot \(snapshot.id.prefix(8)) (\(tag))"
        if !config.retention.isEmpty {
            let decisions = config.retention.apply(try store.catalog.snapshots(accounts: [name]))
            let gone = decisions.filter { !$0.keep }.map(\.snapshot.id)
            try store.catalog.forgetSnapshots(ids: gone)
            line += "; retention forgot \(gone.count) of \(decisions.count)"
        }
        return line
    }

    public func prune() async throws -> String {
        let r = try Pruner(store: store).run(dryRun: false)
        return "pruned \(r.objects) objects (\(SyncText.bytes(r.bytes)))"
    }

    public func forget(account name: String) async {
        lock.withLock { clients[name] = nil }
    }

    public func classify(_ error: Error) -> (FailureClass, kind: String, message: String) {
        let cls: FailureClass
        switch ErrorClassifier.status(for: error) {
        case .authentication: cls = .authentication
        case .safetyGuard: cls = .safetyGuard
        case .unavailable, .interrupted: cls = .transient
        default: cls = .other
        }
        return (cls, ErrorClassifier.kind(for: error), ErrorClassifier.message(for: error))
    }

    public func inventory(account name: String) -> Inventory? {
        guard let h = try? store.catalog.holdings(account: name),
              let snapshots = try? store.catalog.snapshots(accounts: [name]) else { return nil }
        return Inventory(messages: h.messages, messageBytes: h.messageBytes, objects: h.items, snapshots: snapshots.count)
    }
}
