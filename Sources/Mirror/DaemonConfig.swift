import Daemon
import Foundation
import TOMLKit

/// `[daemon]`: how `jmirror daemon` schedules its work.
public struct DaemonSettings: Sendable {
    /// Without push: one `/changes` round this often (default 5 minutes).
    public var pollInterval: Double = 300
    /// With push: a safety sync this often anyway (default 1 hour).
    public var fullInterval: Double = 3600
    /// Whether to use push where the server offers it.
    public var push = true
    /// The ping interval asked of push servers (default 30 s); two missed pings end a connection.
    public var pingInterval = 30
    /// After an authentication failure, how often to try again (default 1 hour; a reload tries at once).
    public var authRetry: Double = 3600
    /// Accounts synced at the same time, at most.
    public var maxParallel = 4
    public var snapshot: SnapshotSchedule?
    /// `host:port` to serve Prometheus metrics on.
    public var metricsListen: String?
    /// A file rewritten with the metrics (node exporter's textfile collector).
    public var metricsFile: String?

    public init() {}

    /// The agent settings of one account: `[daemon]` with the account's own overrides.
    public func agent(for account: AccountConfig) -> AgentSettings {
        var a = AgentSettings()
        a.pollInterval = account.pollInterval ?? pollInterval
        a.fullInterval = fullInterval
        a.push = account.push ?? push
        a.pingInterval = pingInterval
        a.authRetry = authRetry
        a.snapshot = snapshot
        return a
    }
}

extension ConfigLoader {
    static func daemon(_ t: TOMLTable, file: String, home: String) throws -> DaemonSettings {
        try checkKeys(t, allowed: ["poll_interval", "full_interval", "push", "ping_interval", "auth_retry", "max_parallel", "snapshot",
                                   "metrics_listen", "metrics_file"], file: file, section: "daemon")
        var d = DaemonSettings()
        if let v = t["poll_interval"] { d.pollInterval = try duration(v, key: "daemon.poll_interval", file: file, minimum: 1) }
        if let v = t["full_interval"] { d.fullInterval = try duration(v, key: "daemon.full_interval", file: file, minimum: 10) }
        if let v = t["auth_retry"] { d.authRetry = try duration(v, key: "daemon.auth_retry", file: file, minimum: 1) }
        if let v = t["ping_interval"] { d.pingInterval = Int(try duration(v, key: "daemon.ping_interval", file: file, minimum: 1)) }
        if let v = t["push"] {
            guard let b = v.bool else { throw ConfigError(file: file, key: "daemon.push", message: "must be true or false") }
            d.push = b
        }
        if let v = t["max_parallel"] {
            guard let n = v.int, (1...64).contains(n) else {
                throw ConfigError(file: file, key: "daemon.max_parallel", message: "must be a whole number from 1 to 64")
            }
            d.maxParallel = n
        }
        if let v = t["snapshot"] {
            guard let text = v.string, let s = SnapshotSchedule(text) else {
                throw ConfigError(file: file, key: "daemon.snapshot", message: "must be \"hourly\", \"daily\" or a time of day like \"03:00\"")
            }
            d.snapshot = s
        }
        if let v = t["metrics_listen"] {
            guard let text = v.string, text.contains(":") else {
                throw ConfigError(file: file, key: "daemon.metrics_listen", message: "must be a string like \"127.0.0.1:9187\"")
            }
            d.metricsListen = text
        }
        if let v = t["metrics_file"] {
            guard let text = v.string, !text.isEmpty else {
                throw ConfigError(file: file, key: "daemon.metrics_file", message: "must be a path")
            }
            d.metricsFile = resolve(text, home: home, configFile: file)
        }
        return d
    }

    /// `"5m"`, `"30s"`, `"1h30m"`, or a number of seconds.
    static func duration(_ v: TOMLValueConvertible, key: String, file: String, minimum: Double) throws -> Double {
        let seconds: Double?
        if let s = v.string { seconds = Duration.seconds(s) } else { seconds = v.double ?? v.int.map(Double.init) }
        guard let seconds, seconds >= minimum else {
            throw ConfigError(file: file, key: key, message: "must be a duration like \"30s\", \"5m\" or \"1h\" (at least \(Int(minimum)) s)")
        }
        return seconds
    }
}
