import Foundation
import Sync

/// The one line a sync's outcome is told in, by `jmirror sync` and by the daemon's log.
public enum SyncText {
    public static func describe(_ type: String, _ c: ItemCounts) -> String {
        let changes: [(Int, String)] = [(c.created, "new"), (c.updated, "updated"), (c.destroyed, "deleted")].filter { $0.0 > 0 }
        let detail = changes.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        return "\(type) \(c.total)" + (detail.isEmpty ? "" : " (\(detail))")
    }

    public static func describe(_ s: SyncSummary) -> String {
        var line = "\(s.account): \(s.messages) messages; \(s.created) new, \(s.updated) updated, \(s.moved) moved, "
            + "\(s.destroyed) deleted; \(bytes(s.bytesDownloaded)) downloaded "
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

    /// Decimal units; "0 B" rather than Foundation's "Zero KB".
    public static func bytes(_ n: Int64) -> String {
        n == 0 ? "0 B" : ByteCountFormatter.string(fromByteCount: n, countStyle: .file)
    }
}
