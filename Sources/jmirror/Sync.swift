import ArgumentParser
import Foundation
import JMAP
import Mirror
import Store
import Sync

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the mirror up to date with each account: one pass, then exit.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Accounts to sync (default: all configured).")
    var accounts: [String] = []

    @Flag(help: "Print JSON lines (one per account, then a summary) instead of text.")
    var json = false

    @Flag(help: "Apply deletions even when the safety guard would refuse them.")
    var force = false

    @Option(name: .customLong("tag"), help: "Tag the snapshot this sync records (repeatable).")
    var tags: [String] = []

    @Flag(help: "Print nothing on success (errors still go to stderr).")
    var quiet = false

    struct AccountLine: Encodable {
        var event = "account"
        var summary: SyncSummary?
        /// The snapshot this run recorded (none when nothing changed).
        var snapshot: String?
        var account: String?
        var error: String?
        var kind: String?
        var exitCode: Int32
    }

    struct SummaryLine: Encodable {
        var event = "summary"
        var accounts: Int
        var failedAccounts: Int
        var created: Int
        var updated: Int
        var moved: Int
        var destroyed: Int
        var bytesDownloaded: Int64
        var seconds: Double
        var exitCode: Int32
    }

    func run() async throws {
        let logger = global.start()
        Interruption.json = json
        let started = Date()
        let config: MirrorConfig
        let selected: [AccountConfig]
        let store: MirrorStore
        do {
            config = try global.loadConfig()
            selected = try config.accounts(named: accounts)
            store = try MirrorStore(root: config.mirrorPath)
            if let w = store.sharedRootWarning { Console.error(w) }
        } catch {
            throw Console.fail(error, json: json)
        }
        var options = SyncOptions()
        options.force = force
        options.maxDeletedShare = config.maxDeletedShare
        let progress = ProgressLine(enabled: !json && isatty(STDERR_FILENO) == 1)
        var worst = ExitStatus.success
        var total = SummaryLine(accounts: selected.count, failedAccounts: 0, created: 0, updated: 0, moved: 0, destroyed: 0,
                                bytesDownloaded: 0, seconds: 0, exitCode: 0)
        for account in selected {
            let kept = SessionKeeper.kept(account, in: store)
            var connected: JMAPClient?
            do {
                let client = try await Connector.connect(account, logger: logger, cached: kept, warn: Console.error)
                connected = client
                let sync = MailSync(name: account.name, client: client, store: store, options: options, logger: logger) {
                    progress.update($0)
                }
                let summary = try await sync.run()
                // Every run that changed anything leaves a snapshot of the account as it ends.
                let snapshot = try store.catalog.recordSnapshot(account: account.name, tags: tags, force: false)
                progress.clear()
                total.created += summary.created
                total.updated += summary.updated
                total.moved += summary.moved
                total.destroyed += summary.destroyed
                total.bytesDownloaded += summary.bytesDownloaded
                var status = ExitStatus.success
                if !summary.failed.isEmpty {
                    status = .partialFailure
                    for f in summary.failed { Console.error("jmirror: \(account.name): \(f)") }
                }
                if worst == .success { worst = status }
                if json {
                    Console.jsonLine(AccountLine(summary: summary, snapshot: snapshot?.id, account: account.name, exitCode: status.rawValue))
                } else if !quiet {
                    // Always, on a terminal or not: cron mail and logs show what each run did.
                    Console.out(Sync.describe(summary) + (snapshot.map { "; snapshot \($0.shortId)" } ?? ""))
                }
            } catch {
                progress.clear()
                let status = ErrorClassifier.status(for: error)
                if worst == .success || worst == .partialFailure { worst = status }
                total.failedAccounts += 1
                Console.error("jmirror: \(account.name): \(ErrorClassifier.message(for: error))")
                if json {
                    Console.jsonLine(AccountLine(account: account.name, error: ErrorClassifier.message(for: error), kind: ErrorClassifier.kind(for: error), exitCode: status.rawValue))
                }
            }
            // Whatever Session the client ends with is kept, even after a failure: a run that found
            // the kept one stale must not leave it for the next run.
            if let connected { try? await SessionKeeper.keep(connected, account, in: store, previous: kept) }
        }
        total.seconds = Date().timeIntervalSince(started)
        total.exitCode = worst.rawValue
        if json { Console.jsonLine(total) }
        if worst != .success { throw ExitCode(worst.rawValue) }
    }

    static func describe(_ type: String, _ c: ItemCounts) -> String {
        let changes: [(Int, String)] = [(c.created, "new"), (c.updated, "updated"), (c.destroyed, "deleted")].filter { $0.0 > 0 }
        let detail = changes.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        return "\(type) \(c.total)" + (detail.isEmpty ? "" : " (\(detail))")
    }

    static func describe(_ s: SyncSummary) -> String {
        var line = "\(s.account): \(s.messages) messages; \(s.created) new, \(s.updated) updated, \(s.moved) moved, "
            + "\(s.destroyed) deleted; \(Console.bytes(s.bytesDownloaded)) downloaded "
            + "in \(String(format: "%.2f", s.seconds)) s"
        let items = s.items.filter { $0.value.total > 0 || $0.value.destroyed > 0 }.sorted { $0.key < $1.key }
        if !items.isEmpty {
            line += "; " + items.map { type, c in describe(type, c) }.joined(separator: ", ")
        }
        if !s.notOnServer.isEmpty { line += "; not on this server: " + s.notOnServer.joined(separator: ", ") }
        if s.fullResync { line += " (full listing)" }
        if !s.failed.isEmpty { line += "; \(s.failed.count) failed" }
        return line
    }
}

/// One self-rewriting line on stderr while a terminal watches; nothing otherwise.
final class ProgressLine: @unchecked Sendable {
    let enabled: Bool
    private let lock = NSLock()
    private var last = Date.distantPast
    private let started = Date()

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: SyncProgress) {
        guard enabled else { return }
        lock.withLock {
            let now = Date()
            guard now.timeIntervalSince(last) > 0.1 else { return }
            last = now
            let elapsed = max(now.timeIntervalSince(started), 0.001)
            var text = "\(p.account): \(p.phase)"
            if p.messagesTotal > 0 {
                let rate = Double(p.messagesDone) / elapsed
                let eta = rate > 0 ? Double(p.messagesTotal - p.messagesDone) / rate : 0
                text += " \(p.messagesDone)/\(p.messagesTotal) msgs, \(p.bytesDone / 1_000_000)/\(p.bytesTotal / 1_000_000) MB, "
                    + "\(Int(rate)) msg/s, ETA \(Int(eta) / 60):\(String(format: "%02d", Int(eta) % 60))"
            }
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        }
    }

    /// A phase in words, for commands without counters.
    func text(_ s: String) {
        guard enabled else { return }
        lock.withLock { FileHandle.standardError.write(Data("\r\u{1B}[K\(s)".utf8)) }
    }

    func clear() {
        guard enabled else { return }
        lock.withLock { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
