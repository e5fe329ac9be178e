import ArgumentParser
import Daemon
import Foundation
import JMAP
import Mirror
import Store
import Sync
import Transport

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
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

    /// Prints the daemon's answers as this command prints its own results.
    func viaDaemon(_ lines: [Data], started: Date) throws {
        var worst = ExitStatus.success
        var total = SummaryLine(accounts: lines.count, failedAccounts: 0, created: 0, updated: 0, moved: 0, destroyed: 0,
                                bytesDownloaded: 0, seconds: 0, exitCode: 0)
        if !json && !quiet { Console.error("jmirror: a daemon runs this mirror; it synced on request") }
        for line in lines {
            guard let answer = try? ControlCodec.decoder.decode(SyncAnswer.self, from: line) else { continue }
            if let report = answer.report {
                let summary = report.summary.flatMap { try? JSONDecoder().decode(SyncSummary.self, from: Data($0.utf8)) }
                total.created += report.created
                total.updated += report.updated
                total.moved += report.moved
                total.destroyed += report.destroyed
                total.bytesDownloaded += report.bytesDownloaded
                let status: ExitStatus = report.failedItems > 0 ? .partialFailure : .success
                if worst == .success { worst = status }
                if json {
                    Console.jsonLine(AccountLine(summary: summary, snapshot: report.snapshot, account: answer.account, exitCode: status.rawValue))
                } else if !quiet {
                    Console.out(report.text)
                }
            } else {
                let status = ErrorClassifier.status(forKind: answer.kind ?? "error")
                if worst == .success || worst == .partialFailure { worst = status }
                total.failedAccounts += 1
                Console.error("jmirror: \(answer.account): \(answer.error ?? "failed")")
                if json {
                    Console.jsonLine(AccountLine(account: answer.account, error: answer.error, kind: answer.kind, exitCode: status.rawValue))
                }
            }
        }
        total.seconds = Date().timeIntervalSince(started)
        total.exitCode = worst.rawValue
        if json { Console.jsonLine(total) }
        if worst != .success { throw ExitCode(worst.rawValue) }
    }

    func run() async throws {
        CurlHTTPClient.preload()
        let logger = global.start()
        Interruption.json = json
        let started = Date()
        let config: MirrorConfig
        let selected: [AccountConfig]
        let store: MirrorStore
        do {
            config = try global.loadConfig()
            selected = try config.accounts(named: accounts)
        } catch {
            throw Console.fail(error, json: json)
        }
        do {
            store = try MirrorStore(root: config.mirrorPath)
            if let w = store.sharedRootWarning { Console.error(w) }
        } catch {
            // A daemon holds the mirror: ask it to sync now instead, and report as if we had.
            let request = ControlRequest(command: "sync", accounts: selected.map(\.name), force: force, tags: tags)
            if let lines = try? ControlClient.call(StatusReader.socketPath(mirror: config.mirrorPath), request) {
                return try viaDaemon(lines, started: started)
            }
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
            do {
                let outcome = try await AccountSync.run(account, store: store, options: options, tags: tags, origin: "sync",
                                                        logger: logger, warn: Console.error) { progress.update($0) }
                let summary = outcome.summary
                let snapshot = outcome.snapshot
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
                    Console.out(SyncText.describe(summary) + (snapshot.map { "; snapshot \($0.shortId)" } ?? ""))
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
        }
        total.seconds = Date().timeIntervalSince(started)
        total.exitCode = worst.rawValue
        if json { Console.jsonLine(total) }
        if worst != .success { throw ExitCode(worst.rawValue) }
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
