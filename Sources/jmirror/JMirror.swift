import ArgumentParser
import Foundation
import Logging
import Mirror

/// Every command names itself (`commandName:`): otherwise ArgumentParser derives each name
/// from the type's name with `String(describing:)`, whose dynamic casts cost 0.6 ms of every run.
@main
struct JMirror: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jmirror",
        abstract: "Keep a complete, restorable copy of JMAP accounts.",
        discussion: """
            Exit codes: 0 success, 1 some items failed, 64 usage or configuration error, 65 safety guard \
            refused, 66 damaged data (object or archive), 69 server unreachable, 74 local I/O error, 76 server protocol error, 77 authentication \
            failed, 79 TLS failure, 130 interrupted.
            """,
        version: "jmirror 0.10.1 (catalog schema 15, archive format 1)",
        subcommands: [Sync.self, DaemonCommand.self, StatusCommand.self, SearchCommand.self, ShowCommand.self, SnapshotCommand.self, SnapshotsCommand.self, DiffCommand.self, RestoreCommand.self, ReplayCommand.self,
                      ForgetCommand.self, PruneCommand.self, CheckCommand.self, ArchiveCommand.self, Doctor.self, Debug.self])

    // Declared here too so that `jmirror --config FILE doctor` parses; subcommands read the same
    // values through their own option group.
    @OptionGroup var global: GlobalOptions
}

/// SIGINT and SIGTERM end the process with the documented exit code 130. Nothing needs finishing
/// first: every state on disk is consistent at any instant (the same property that makes kill -9
/// safe), and the next run repeats at most the interrupted round.
enum Interruption {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    /// Set by a command running with --json: an interruption then also ends stdout with a JSON line.
    nonisolated(unsafe) static var json = false

    static func install() {
        // A reader that closes stdout early is EPIPE where stdout is written (`Console.write`:
        // exit 0), the same for every command, instead of a death by SIGPIPE (141) in some and a
        // fatal error in others.
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("\r\u{1B}[Kjmirror: interrupted; the next run continues from here\n".utf8))
                if json {
                    FileHandle.standardOutput.write(Data(#"{"error":"interrupted","event":"error","exitCode":130,"kind":"interrupted"}"#.utf8 + [10]))
                }
                _exit(ExitStatus.interrupted.rawValue)
            }
            source.resume()
            sources.append(source)
        }
    }
}

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: $JMIRROR_CONFIG, else $XDG_CONFIG_HOME/jmirror/config.toml).")
    var config: String?

    @Flag(name: .shortAndLong, help: "Log more (repeat for debug).")
    var verbose: Int

    func loadConfig() throws -> MirrorConfig {
        let config = try ConfigLoader.load(path: self.config ?? ConfigLoader.defaultPath())
        for w in config.warnings { Console.error(w) }
        return config
    }

    /// What every command does first: signals end the run with exit 130, logs go to stderr at
    /// the chosen level. Returns the logger.
    func start() -> Logger {
        Interruption.install()
        Self.limitMallocArenas()
        let level: Logger.Level = verbose >= 2 ? .debug : verbose == 1 ? .info : .warning
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        return Logger(label: "jmirror")
    }

    /// glibc gives each busy thread its own malloc arena (up to 8 per core), and each keeps the
    /// memory it freed: two arenas took a 10k-message first sync from 68–73 MB to 55 MB peak
    /// (with 1 MB blob batches and 1,000-message chunks), at the same speed. M_ARENA_MAX is -8.
    /// glibc also raises its mmap threshold each time a large block is freed, after which
    /// megabyte response buffers come from the heap and stay in it: a fixed 256 KB threshold
    /// (M_MMAP_THRESHOLD, -3) gives them back at once. 100k-message first sync, same run:
    /// 72.5 MB → 64.8 MB peak, 59.5 MB with the catalog's smaller page cache (Catalog.init).
    static func limitMallocArenas() {
        _ = jm_mallopt(-8, 2)
        _ = jm_mallopt(-3, 256 << 10)
    }
}

/// stdout for results, stderr for everything else (stdout to a pipe is block-buffered, and
/// scripts read it).
enum Console {
    static func out(_ s: String) {
        write(Array((s + "\n").utf8))
    }

    /// Bytes to stdout. A reader that stops reading (`jmirror search … | head`) ends the command
    /// quietly with exit 0, where FileHandle stopped it with a fatal error and a stack trace; any
    /// other failure to write is a local I/O error (74).
    static func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR { continue }
                if errno == EPIPE { _exit(0) }
                error("jmirror: cannot write to standard output: \(String(cString: strerror(errno)))")
                _exit(ExitStatus.localIO.rawValue)
            }
        }
    }

    static func error(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// Lines for stdout, written 64 KB at a time: a search printing 100,000 results made as many
    /// write calls. Flushed when full and when the value goes away.
    final class Lines {
        private var buffer: [UInt8] = []

        init() { buffer.reserveCapacity(1 << 16) }
        deinit { flush() }

        func add(_ s: String) {
            buffer.append(contentsOf: s.utf8)
            buffer.append(10)
            if buffer.count >= 1 << 16 { flush() }
        }

        func flush() {
            guard !buffer.isEmpty else { return }
            Console.write(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    static func json<T: Encodable>(_ value: T) {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        if let data = try? e.encode(value) { out(String(decoding: data, as: UTF8.self)) }
    }

    /// One compact JSON object per line, for `--json` streams.
    static func jsonLine<T: Encodable>(_ value: T) {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? e.encode(value) { out(String(decoding: data, as: UTF8.self)) }
    }

    /// Prints a failure and turns it into the documented exit code; with `json`, also as one JSON
    /// line on stdout, so that scripts always get a result.
    static func fail(_ error: Error, json: Bool = false) -> ExitCode {
        let message = ErrorClassifier.message(for: error)
        self.error("jmirror: \(message)")
        let status = ErrorClassifier.status(for: error)
        if json { jsonLine(Failure(error: message, kind: ErrorClassifier.kind(for: error), exitCode: status.rawValue)) }
        return ExitCode(status.rawValue)
    }

    struct Failure: Encodable {
        var event = "error"
        var error: String
        var kind: String
        var exitCode: Int32
    }

    static func bytes(_ n: Int64) -> String { SyncText.bytes(n) }

    /// Columns padded to their widest cell.
    static func table(_ rows: [[String]]) {
        guard let first = rows.first else { return }
        let widths = first.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for r in rows {
            out(r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}

// mallopt(3) is not in the Glibc module.
@_silgen_name("mallopt")
private func jm_mallopt(_ param: Int32, _ value: Int32) -> Int32
