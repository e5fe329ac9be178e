import ArgumentParser
import Foundation
import History
import JMAP
import Mirror
import Replay
import Store

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay",
        abstract: "Put a snapshot into a JMAP account (the same one to restore, another to migrate); never sends anything.",
        discussion: """
            Idempotent: a message the target already holds (found by the SHA-256 of its bytes) is not imported \
            again but moved into its planned folders and given its keywords; contacts and events are matched \
            by UID, scripts by name. A rerun, or a run after an interruption, finishes the job without a \
            duplicate. At the end the target is read back and compared with the snapshot; the exit code is 0 \
            only when everything planned is there. No EmailSubmission is ever created and every calendar \
            write says sendSchedulingMessages: false. The vacation response arrives disabled unless \
            --enable-vacation.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "SOURCE[@SNAPSHOT]: an account of the mirror (the latest snapshot by default).") var source: String
    @Option(help: "The configured account to replay into (may be SOURCE itself).") var to: String
    @Option(help: "Only these kinds: mail,contacts,calendars,sieve,identities,vacation.") var only: String?
    @Option(help: "Only this source folder and its children (repeatable).") var mailbox: [String] = []
    @Option(help: "Put the whole source folder tree under this new top-level target folder.") var into: String?
    @Option(help: "SOURCE/PATH=TARGET/PATH: where a source folder (and its children) goes (repeatable).") var map: [String] = []
    @Flag(help: "Restore the vacation response enabled, if it was (default: disabled).") var enableVacation = false
    @Flag(help: "Connect to the target and print the plan; change nothing.") var dryRun = false
    @Flag(help: "Print one JSON object with the plan, what was done and the verdict.") var json = false

    struct Out: Encodable {
        var event = "replay"
        var report: ReplayReport
        var exitCode: Int32
    }

    func run() async throws {
        let logger = global.start()
        let o = try Opened.open(global, json: json)
        do {
            var options = ReplayOptions()
            options.only = try History.DataKind.parse(only)
            options.mailboxes = mailbox
            options.into = into
            options.maps = try map.map(ReplayOptions.parseMap)
            options.enableVacation = enableVacation
            options.dryRun = dryRun
            if into != nil, !map.isEmpty { throw ReplayError("--into and --map cannot be combined") }
            let snap = try o.resolve(source.contains("@") ? source : source + "@latest")
            let account = try o.config.accounts(named: [to])[0]
            let state = try AccountState.load(o.store.catalog, account: snap.account, snapshot: snap, emails: false)
            let client = try await Connector.connect(account, logger: logger, warn: Console.error)
            let target = try await ReplayTarget.open(client, name: account.name)
            let progress = ProgressLine(enabled: !json && isatty(STDERR_FILENO) == 1)
            let report = try await Replayer(catalog: o.store.catalog, objects: o.store.objects)
                .run(state, snapshot: "\(snap.account)@\(snap.shortId)", into: target, options: options) {
                    progress.text($0)
                    logger.info("\($0)")
                }
            progress.clear()
            let status: ExitStatus = report.ok ? .success : .partialFailure
            if json {
                Console.jsonLine(Out(report: report, exitCode: status.rawValue))
            } else {
                ReplayCommand.print(report)
            }
            if status != .success { throw ExitCode(status.rawValue) }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw Console.fail(error, json: json)
        }
    }

    static func print(_ r: ReplayReport) {
        Console.out((r.dryRun ? "plan: " : "") + "replay \(r.snapshot) → \(r.target)")
        if !r.mailboxes.isEmpty {
            Console.out("folders:")
            Console.table(r.mailboxes.map { [$0.source, "→", $0.target, "(\($0.reason))"] })
        }
        for k in r.kinds {
            var parts = ["\(k.planned) in the snapshot", "\(k.present) already there"]
            if r.dryRun {
                parts += ["\(k.toCreate) to " + (k.kind == "mail" ? "import" : "create"), "\(k.toUpdate) to update"]
                if k.bytesToUpload > 0 { parts.append(Console.bytes(k.bytesToUpload) + " to upload") }
            } else {
                parts += ["\(k.created) " + (k.kind == "mail" ? "imported" : "created"), "\(k.updated) updated"]
            }
            Console.out("\(k.kind): " + parts.joined(separator: ", "))
        }
        for (kw, n) in r.droppedKeywords.sorted(by: { $0.key < $1.key }) {
            Console.out("keyword \(kw): the target cannot take it; dropped on \(n) message\(n == 1 ? "" : "s")")
        }
        for k in r.kinds {
            for f in k.refused { Console.error("jmirror: \(f.kind): \(f.item): \(f.reason)") }
        }
        guard !r.dryRun else { return }
        Console.out("verdict:")
        for k in r.kinds {
            let v = k.verified ?? 0
            let noun = k.kind == "mail" ? "messages" : "objects"
            if k.complete {
                Console.out("  \(k.kind): all \(k.planned) \(noun) of \(r.snapshot) are on \(r.target)")
            } else {
                Console.out("  \(k.kind): \(v) of \(k.planned) \(noun) of \(r.snapshot) are on \(r.target) as planned; "
                    + "\(k.refused.count) refused, \(k.verifyFailures.count) differ")
                for f in k.verifyFailures.prefix(20) { Console.error("jmirror: \(f.kind): \(f.item): \(f.reason)") }
            }
        }
    }
}
