import Foundation

/// What an account holds on disk, for metrics and status.
public struct Inventory: Sendable, Codable, Equatable {
    public var messages: Int
    public var messageBytes: Int64
    /// Other objects by JMAP type (ContactCard, CalendarEvent, SieveScript …).
    public var objects: [String: Int]
    public var snapshots: Int

    public init(messages: Int, messageBytes: Int64, objects: [String: Int], snapshots: Int) {
        self.messages = messages
        self.messageBytes = messageBytes
        self.objects = objects
        self.snapshots = snapshots
    }
}

/// The Prometheus text exposition format (version 0.0.4) of the daemon's state.
public enum Metrics {
    public static func render(_ accounts: [AccountStatus], inventories: [String: Inventory], started: Date) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(format(value))\n" }
        }
        func per(_ value: (AccountStatus) -> Double?) -> [(String, Double)] {
            accounts.compactMap { a in value(a).map { ("{account=\"\(escape(a.account))\"}", $0) } }
        }
        family("jmirror_daemon_start_time_seconds", "gauge", "When the daemon started (Unix time).", [("", started.timeIntervalSince1970)])
        family("jmirror_last_success_timestamp_seconds", "gauge", "End of the account's last successful sync (Unix time).",
               per { $0.lastSuccess?.timeIntervalSince1970 })
        family("jmirror_last_attempt_timestamp_seconds", "gauge", "Start of the account's last sync attempt (Unix time).",
               per { $0.lastAttempt?.timeIntervalSince1970 })
        family("jmirror_sync_duration_seconds", "gauge", "Duration of the account's last successful sync.", per { $0.lastReport?.seconds })
        family("jmirror_syncs_total", "counter", "Successful syncs since the daemon started.", per { Double($0.syncs) })
        family("jmirror_changes_total", "counter", "Objects created, updated, moved or deleted by syncs since the daemon started.",
               per { Double($0.changesTotal) })
        family("jmirror_downloaded_bytes_total", "counter", "Bytes downloaded by syncs since the daemon started.", per { Double($0.bytesTotal) })
        var errors: [(String, Double)] = []
        for a in accounts {
            for (kind, n) in a.errorsByKind.sorted(by: { $0.key < $1.key }) {
                errors.append(("{account=\"\(escape(a.account))\",kind=\"\(escape(kind))\"}", Double(n)))
            }
        }
        family("jmirror_errors_total", "counter", "Failed syncs and scheduled snapshots since the daemon started, by kind.", errors)
        family("jmirror_consecutive_failures", "gauge", "Failed syncs in a row (0 after a success).", per { Double($0.consecutiveFailures) })
        family("jmirror_push_connected", "gauge", "1 while the account's push connection is open.", per { $0.push == "connected" ? 1 : 0 })
        family("jmirror_push_events_total", "counter", "Push state changes received since the daemon started.", per { Double($0.pushEvents) })
        family("jmirror_needs_attention", "gauge", "1 when the account waits for the user (credentials, safety guard).",
               per { ["needs-attention", "paused"].contains($0.state) ? 1 : 0 })
        let names = accounts.map(\.account)
        family("jmirror_messages", "gauge", "Messages the mirror holds for the account.",
               names.compactMap { n in inventories[n].map { ("{account=\"\(escape(n))\"}", Double($0.messages)) } })
        family("jmirror_message_bytes", "gauge", "Bytes of the messages the mirror holds for the account.",
               names.compactMap { n in inventories[n].map { ("{account=\"\(escape(n))\"}", Double($0.messageBytes)) } })
        var objects: [(String, Double)] = []
        for n in names {
            for (type, count) in (inventories[n]?.objects ?? [:]).sorted(by: { $0.key < $1.key }) {
                objects.append(("{account=\"\(escape(n))\",type=\"\(escape(type))\"}", Double(count)))
            }
        }
        family("jmirror_objects", "gauge", "Objects other than messages the mirror holds, by JMAP type.", objects)
        family("jmirror_snapshots", "gauge", "Snapshots kept for the account.",
               names.compactMap { n in inventories[n].map { ("{account=\"\(escape(n))\"}", Double($0.snapshots)) } })
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}

/// The latest metrics text, shared between whoever renders it and the HTTP thread that serves it.
public final class MetricsBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""

    public init() {}

    public var current: String { lock.withLock { text } }

    public func update(_ new: String) { lock.withLock { text = new } }
}
