import Foundation
import Store

/// A retention policy with restic's semantics: each `keep-<period> N` keeps the newest snapshot of
/// each of the last N periods that have one; the union of all rules is kept; an account's latest
/// snapshot is always kept. An empty policy forgets nothing.
public struct RetentionPolicy: Sendable, Equatable, Codable {
    public var last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0
    /// Keep everything this recent, counted back from the account's latest snapshot.
    public var within: TimeInterval?
    public var tags: [String] = []

    public init() {}

    public var isEmpty: Bool {
        last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 && within == nil && tags.isEmpty
    }

    /// "2y5m7d3h": years, months, days, hours (restic's duration form); also "90d", "12h".
    public static func duration(_ text: String) throws -> TimeInterval {
        var total: TimeInterval = 0
        var number = ""
        var any = false
        for c in text {
            if c.isNumber { number.append(c); continue }
            guard let n = Double(number) else { throw HistoryError("--keep-within: cannot read \(text) (e.g. 7d, 2y5m, 36h)") }
            switch c {
            case "y": total += n * 365.25 * 86400
            case "m": total += n * 30.44 * 86400
            case "w": total += n * 7 * 86400
            case "d": total += n * 86400
            case "h": total += n * 3600
            default: throw HistoryError("--keep-within: unknown unit \(c) in \(text) (y, m, w, d, h)")
            }
            number = ""
            any = true
        }
        guard number.isEmpty, any else { throw HistoryError("--keep-within: cannot read \(text) (e.g. 7d, 2y5m, 36h)") }
        return total
    }

    public struct Decision: Codable, Sendable {
        public var snapshot: SnapshotRow
        public var keep: Bool
        /// Why it is kept: "last", "daily", "within 7d", "tag nightly", "latest".
        public var reasons: [String]
    }

    /// Decides for each snapshot of one account (any order given; decided newest first).
    public func apply(_ snapshots: [SnapshotRow], calendar: Calendar = .current) -> [Decision] {
        let sorted = snapshots.sorted { ($0.time, $0.generation) > ($1.time, $1.generation) }
        var reasons = [[String]](repeating: [], count: sorted.count)
        if !sorted.isEmpty { reasons[0].append("latest") }
        for i in sorted.indices.prefix(last) { reasons[i].append("last") }
        let buckets: [(String, Int, (Date) -> String)] = [
            ("hourly", hourly, { d in let c = calendar.dateComponents([.year, .month, .day, .hour], from: d)
                return "\(c.year!)-\(c.month!)-\(c.day!)-\(c.hour!)" }),
            ("daily", daily, { d in let c = calendar.dateComponents([.year, .month, .day], from: d)
                return "\(c.year!)-\(c.month!)-\(c.day!)" }),
            ("weekly", weekly, { d in let c = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: d)
                return "\(c.yearForWeekOfYear!)-W\(c.weekOfYear!)" }),
            ("monthly", monthly, { d in let c = calendar.dateComponents([.year, .month], from: d)
                return "\(c.year!)-\(c.month!)" }),
            ("yearly", yearly, { d in "\(calendar.component(.year, from: d))" }),
        ]
        for (name, n, bucket) in buckets where n > 0 {
            var seen = Set<String>()
            for (i, s) in sorted.enumerated() {
                let b = bucket(s.time)
                if seen.contains(b) { continue }
                if seen.count >= n { break }
                seen.insert(b)
                reasons[i].append(name)
            }
        }
        if let within, let newest = sorted.first?.time {
            for (i, s) in sorted.enumerated() where newest.timeIntervalSince(s.time) <= within { reasons[i].append("within") }
        }
        for (i, s) in sorted.enumerated() {
            for t in tags where s.tags.contains(t) { reasons[i].append("tag " + t) }
        }
        return sorted.enumerated().map { Decision(snapshot: $1, keep: !reasons[$0].isEmpty, reasons: reasons[$0]) }
    }
}
