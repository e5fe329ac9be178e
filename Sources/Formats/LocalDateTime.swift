import Foundation

/// JSCalendar's LocalDateTime (`2026-01-05T10:00:00`, no zone) and the arithmetic iCalendar output
/// needs: to UTC in a zone, and from UTC back.
public struct LocalDateTime: Equatable, Comparable, Sendable {
    public var year, month, day, hour, minute, second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    /// Accepts `YYYY-MM-DDTHH:MM:SS`, with fractional seconds or a trailing `Z` ignored.
    public init?(_ s: String) {
        let digits = s.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int($0) }
        guard digits.count >= 6, let y = digits[0], let mo = digits[1], let d = digits[2], let h = digits[3],
              let mi = digits[4], let se = digits[5] else { return nil }
        self.init(year: y, month: mo, day: d, hour: h, minute: mi, second: se)
    }

    public var isMidnight: Bool { hour == 0 && minute == 0 && second == 0 }

    /// `20260105T100000`
    public var basic: String {
        String(format: "%04d%02d%02dT%02d%02d%02d", year, month, day, hour, minute, second)
    }

    /// `20260105`
    public var basicDate: String { String(format: "%04d%02d%02d", year, month, day) }

    var components: DateComponents {
        DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    static func calendar(_ zone: TimeZone) -> Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        return c
    }

    /// The instant this local time names in `zone`. In a DST gap or overlap Foundation picks the
    /// offset from before the transition, as JSCalendar §1.4.8 asks.
    public func date(in zone: TimeZone) -> Date? {
        LocalDateTime.calendar(zone).date(from: components)
    }

    public init(_ date: Date, in zone: TimeZone) {
        let c = LocalDateTime.calendar(zone).dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        self.init(year: c.year ?? 0, month: c.month ?? 0, day: c.day ?? 0, hour: c.hour ?? 0, minute: c.minute ?? 0,
                  second: c.second ?? 0)
    }

    /// Adds whole days on the calendar (so a local time stays the same across DST).
    public func adding(days: Int) -> LocalDateTime {
        let utc = TimeZone(identifier: "UTC")!
        guard let d = date(in: utc), let moved = LocalDateTime.calendar(utc).date(byAdding: .day, value: days, to: d) else { return self }
        return LocalDateTime(moved, in: utc)
    }

    public static func < (a: LocalDateTime, b: LocalDateTime) -> Bool {
        (a.year, a.month, a.day, a.hour, a.minute, a.second) < (b.year, b.month, b.day, b.hour, b.minute, b.second)
    }
}

/// An ISO 8601 / RFC 5545 duration as JSCalendar writes it: `P1W`, `P1DT2H30M`, `-PT15M`.
public struct JSDuration: Equatable, Sendable {
    public var negative = false
    public var days = 0
    public var seconds = 0

    public init?(_ s: String) {
        var rest = Substring(s)
        if rest.hasPrefix("-") { negative = true; rest = rest.dropFirst() } else if rest.hasPrefix("+") { rest = rest.dropFirst() }
        guard rest.hasPrefix("P") else { return nil }
        rest = rest.dropFirst()
        var number = ""
        var inTime = false
        for ch in rest {
            if ch.isNumber || ch == "." { number.append(ch); continue }
            let n = Int(Double(number) ?? 0)
            number = ""
            switch (ch, inTime) {
            case ("T", _): inTime = true
            case ("W", false): days += 7 * n
            case ("D", false): days += n
            case ("H", true): seconds += 3600 * n
            case ("M", true): seconds += 60 * n
            case ("S", true): seconds += n
            default: return nil
            }
        }
        guard number.isEmpty else { return nil }
    }

    /// The same duration without fractional seconds (iCalendar has none).
    public var iCalendar: String {
        var out = negative ? "-P" : "P"
        if days > 0 && seconds == 0 && days % 7 == 0 { return out + "\(days / 7)W" }
        if days > 0 { out += "\(days)D" }
        if seconds > 0 || days == 0 {
            out += "T"
            let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60)
            if h > 0 { out += "\(h)H" }
            if m > 0 { out += "\(m)M" }
            if s > 0 || (h == 0 && m == 0) { out += "\(s)S" }
        }
        return out
    }
}
