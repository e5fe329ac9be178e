import ArgumentParser
import Daemon
import Foundation
import Logging
import Mirror

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Keep accounts mirrored: push where the server offers it, polling where not, snapshots on schedule.",
        discussion: """
            Runs in the foreground and logs to stderr (under systemd, to the journal with priorities and \
            no second time stamp). SIGHUP reloads the configuration (a broken one is refused and the running \
            one kept); SIGTERM or SIGINT lets running syncs finish their round (at most 10 s) and exits 0; a \
            second signal exits at once. While it runs, `jmirror sync` and `jmirror status` talk to it \
            through .jmirror/daemon.sock. See [daemon] in the README for schedules and metrics.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Accounts to keep mirrored (default: all configured).")
    var accounts: [String] = []

    func run() async throws {
        GlobalOptions.limitMallocArenas()
        let level: Logger.Level = global.verbose >= 2 ? .debug : global.verbose == 1 ? .info : .notice
        let journal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
        LoggingSystem.bootstrap { label in DaemonLogHandler(level: level, journal: journal) }
        let runner = DaemonRunner(configPath: global.config ?? ConfigLoader.defaultPath(), only: accounts,
                                  logger: Logger(label: "jmirror"))
        let status = await runner.run()
        if status != .success { throw ExitCode(status.rawValue) }
    }
}

/// One line per message on stderr. Under journald (`JOURNAL_STREAM` set) the line starts with its
/// syslog priority (`<6>`), which journald reads, and carries no time stamp: the journal adds its own.
struct DaemonLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let journal: Bool

    init(level: Logger.Level, journal: Bool) {
        logLevel = level
        self.journal = journal
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String, file: String,
             function: String, line: UInt) {
        let all = metadata.merging(extra ?? [:]) { $1 }
        let details = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text: String
        if journal {
            text = "<\(Self.priority(level))>\(message)\(details)\n"
        } else {
            let time = ISO8601DateFormatter().string(from: Date())
            text = "\(time) \(level): \(message)\(details)\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}
