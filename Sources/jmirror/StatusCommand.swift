import ArgumentParser
import Daemon
import Foundation
import Mirror
import Store

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Per account: last sync, last error, push or poll, next work, what the mirror holds; and whether a daemon runs.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Accounts to report (default: all configured).")
    var accounts: [String] = []

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() async throws {
        _ = global.start()
        let report: StatusReport
        do {
            let config = try global.loadConfig()
            let names = try config.accounts(named: accounts).map(\.name)
            if let live = StatusReader.fromDaemon(mirror: config.mirrorPath, accounts: names) {
                report = live
            } else {
                let store = try MirrorStore(root: config.mirrorPath)
                report = StatusReport(daemonRunning: false, accounts: StatusReader.stored(store, accounts: names))
            }
        } catch {
            throw Console.fail(error, json: json)
        }
        if json {
            Console.out(String(decoding: (try? ControlCodec.encoder.encode(report)) ?? Data(), as: UTF8.self))
            return
        }
        if report.daemonRunning, let pid = report.daemonPid {
            Console.out("daemon: running (pid \(pid)" + (report.daemonStarted.map { ", since \(Self.time($0))" } ?? "") + ")")
        } else {
            Console.out("daemon: not running")
        }
        for a in report.accounts {
            Console.out("")
            Console.out("\(a.account):")
            if let d = a.daemon {
                var line = "  state: \(d.state)"
                switch d.push {
                case "connected": line += ", push connected"
                case "unavailable", "off": line += ", polling"
                default: line += ", push \(d.push)"
                }
                if let next = d.nextSync { line += ", next sync \(Self.time(next))" }
                Console.out(line)
                if let snap = d.nextSnapshot { Console.out("  next scheduled snapshot: \(Self.time(snap))") }
            }
            if let s = a.lastSuccess {
                Console.out("  last sync: \(Self.time(s.finished)) (\(s.created) new, \(s.updated) updated, \(s.destroyed) deleted, "
                    + "\(Console.bytes(s.bytes)))")
            } else {
                Console.out("  last sync: never")
            }
            if let e = a.lastError {
                Console.out("  last error: \(Self.time(e.finished)): \(e.message ?? e.kind ?? "error")")
            }
            if let i = a.inventory {
                let objects = i.objects.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                Console.out("  holds: \(i.messages) messages (\(Console.bytes(i.messageBytes)))"
                    + (objects.isEmpty ? "" : ", " + objects.joined(separator: ", ")) + "; \(i.snapshots) snapshots")
            }
        }
    }

    static func time(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: d)
    }
}
