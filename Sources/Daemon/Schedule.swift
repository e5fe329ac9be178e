import Foundation

/// A duration as people write it in a config file: `30s`, `5m`, `1h`, `2d`, combinations (`1h30m`),
/// or a bare number of seconds.
public enum Duration {
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let n = Double(t), n >= 0 { return n }
        var total = 0.0
        var number = ""
        for c in t {
            if c.isNumber || c == "." { number.append(c); continue }
            guard let n = Double(number) else { return nil }
            switch c {
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86400
            default: return nil
            }
            number = ""
        }
        return number.isEmpty && !t.isEmpty ? total : nil
    }
}

/// When the daemon records a scheduled snapshot: `hourly` (on the hour), `daily` (at midnight) or
/// a time of day `HH:MM`, in the machine's time zone.
public enum SnapshotSchedule: Sendable, Equatable, CustomStringConvertible {
    case hourly
    case daily(hour: Int, minute: Int)

    public init?(_ text: String) {
        switch text {
        case "hourly": self = .hourly
        case "daily": self = .daily(hour: 0, minute: 0)
        default:
            let parts = text.split(separator: ":")
            guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let h = Int(parts[0]), let m = Int(parts[1]),
                  (0..<24).contains(h), (0..<60).contains(m) else { return nil }
            self = .daily(hour: h, minute: m)
        }
    }

    public var description: String {
        switch self {
        case .hourly: return "hourly"
        case let .daily(h, m): return String(format: "daily at %02d:%02d", h, m)
        }
    }

    /// The tag a scheduled snapshot gets, so retention can keep it (`keep_tag`).
    public var tag: String {
        switch self {
        case .hourly: return "hourly"
        case .daily: return "daily"
        }
    }

    /// The first scheduled instant strictly after `date`.
    public func next(after date: Date, calendar: Calendar = .current) -> Date {
        let match: DateComponents
        switch self {
        case .hourly: match = DateComponents(minute: 0, second: 0)
        case let .daily(h, m): match = DateComponents(hour: h, minute: m, second: 0)
        }
        // (A time skipped by a daylight-saving jump runs at the next existing instant.)
        return calendar.nextDate(after: date, matching: match, matchingPolicy: .nextTime) ?? date.addingTimeInterval(3600)
    }
}

/// Exponential backoff with full jitter for an account that keeps failing: 5 s, 10 s, 20 s …
/// up to `cap`, each drawn between half and all of that; a server's `Retry-After` wins when longer.
public struct Backoff: Sendable, Equatable {
    public var base: Double
    public var cap: Double

    public init(base: Double = 5, cap: Double = 900) {
        self.base = base
        self.cap = cap
    }

    public func delay(failures: Int, retryAfter: Double? = nil) -> Double {
        let ceiling = min(cap, base * pow(2, Double(max(0, failures - 1))))
        let drawn = Double.random(in: ceiling / 2...ceiling)
        return max(drawn, min(retryAfter ?? 0, cap))
    }
}
