import Daemon
import Foundation
import Store

/// What `jmirror status` says of one account: what the catalog remembers (runs, holdings), and,
/// when a daemon runs, what it is doing now.
public struct AccountStatusReport: Codable, Sendable {
    public var account: String
    public var lastRun: SyncRunRecord?
    public var lastSuccess: SyncRunRecord?
    /// The latest failed run, when it came after the last success.
    public var lastError: SyncRunRecord?
    public var inventory: Inventory?
    /// The daemon's view: state, push, next sync. Nil when no daemon runs.
    public var daemon: AccountStatus?
}

public struct StatusReport: Codable, Sendable {
    public var daemonRunning: Bool
    public var daemonPid: Int32?
    public var daemonStarted: Date?
    public var accounts: [AccountStatusReport]

    public init(daemonRunning: Bool, daemonPid: Int32? = nil, daemonStarted: Date? = nil, accounts: [AccountStatusReport]) {
        self.daemonRunning = daemonRunning
        self.daemonPid = daemonPid
        self.daemonStarted = daemonStarted
        self.accounts = accounts
    }
}

public enum StatusReader {
    public static func stored(_ store: MirrorStore, accounts: [String]) -> [AccountStatusReport] {
        accounts.map { name in
            let last = (try? store.catalog.runs(account: name))?.first
            let success = (try? store.catalog.runs(account: name, outcome: "ok"))?.first
                ?? (try? store.catalog.runs(account: name, outcome: "partial"))?.first
            let failure = (try? store.catalog.runs(account: name, outcome: "error"))?.first
            let inventory = (try? store.catalog.holdings(account: name)).map { h in
                Inventory(messages: h.messages, messageBytes: h.messageBytes, objects: h.items,
                          snapshots: (try? store.catalog.snapshots(accounts: [name]).count) ?? 0)
            }
            let recentFailure = failure.flatMap { f in (success.map { f.finished > $0.finished } ?? true) ? f : nil }
            return AccountStatusReport(account: name, lastRun: last, lastSuccess: success, lastError: recentFailure,
                                       inventory: inventory, daemon: nil)
        }
    }

    /// The control socket's path for a mirror.
    public static func socketPath(mirror: String) -> String { mirror + "/.jmirror/daemon.sock" }

    /// Asks a running daemon; nil when none answers.
    public static func fromDaemon(mirror: String, accounts: [String]) -> StatusReport? {
        guard let lines = try? ControlClient.call(socketPath(mirror: mirror), ControlRequest(command: "status", accounts: accounts)),
              let first = lines.first else { return nil }
        return try? ControlCodec.decoder.decode(StatusReport.self, from: first)
    }
}
