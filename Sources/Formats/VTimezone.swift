import Foundation

/// VTIMEZONE components from the system's time zone database. Each observance lists its
/// transitions as RDATEs over the years an event spans; readers that know the TZID by name (most
/// do) use their own rules, the others get exact offsets for every occurrence in range.
enum VTimezone {
    static func write(_ id: String, years: ClosedRange<Int>, into out: inout ContentLines) {
        guard let tz = TimeZone(identifier: id) else { return }
        let utc = TimeZone(identifier: "UTC")!
        guard let from = LocalDateTime(year: years.lowerBound - 1, month: 1, day: 1).date(in: utc),
              let to = LocalDateTime(year: years.upperBound + 1, month: 1, day: 1).date(in: utc) else { return }
        struct Observance: Hashable { var daylight: Bool; var offsetFrom: Int; var offsetTo: Int; var name: String }
        var transitions: [(Observance, LocalDateTime)] = []
        var cursor = from
        while let next = tz.nextDaylightSavingTimeTransition(after: cursor), next < to {
            let before = tz.secondsFromGMT(for: next.addingTimeInterval(-1))
            let after = tz.secondsFromGMT(for: next)
            // Foundation on Linux names zones `GMT+2`; such a TZNAME says nothing the offset does not.
            let abbreviation = tz.abbreviation(for: next) ?? ""
            let o = Observance(daylight: tz.isDaylightSavingTime(for: next), offsetFrom: before, offsetTo: after,
                               name: abbreviation.hasPrefix("GMT") ? "" : abbreviation)
            // DTSTART and RDATE of an observance are local times in the offset before the change.
            transitions.append((o, LocalDateTime(next.addingTimeInterval(Double(before)), in: utc)))
            cursor = next
        }
        out.begin("VTIMEZONE")
        out.add("TZID", id)
        if transitions.isEmpty {
            let offset = tz.secondsFromGMT(for: from)
            out.begin("STANDARD")
            out.add("DTSTART", "19700101T000000")
            out.add("TZOFFSETFROM", format(offset))
            out.add("TZOFFSETTO", format(offset))
            if let name = tz.abbreviation(for: from) { out.add("TZNAME", ContentLines.text(name)) }
            out.end("STANDARD")
        }
        var order: [Observance] = []
        var dates: [Observance: [LocalDateTime]] = [:]
        for (o, t) in transitions {
            if dates[o] == nil { order.append(o) }
            dates[o, default: []].append(t)
        }
        for o in order {
            let kind = o.daylight ? "DAYLIGHT" : "STANDARD"
            let list = dates[o] ?? []
            out.begin(kind)
            out.add("DTSTART", list[0].basic)
            if list.count > 1 { out.add("RDATE", list.dropFirst().map(\.basic).joined(separator: ",")) }
            out.add("TZOFFSETFROM", format(o.offsetFrom))
            out.add("TZOFFSETTO", format(o.offsetTo))
            if !o.name.isEmpty { out.add("TZNAME", ContentLines.text(o.name)) }
            out.end(kind)
        }
        out.end("VTIMEZONE")
    }

    /// `+0100`, `-0330`, and seconds where a historical offset has them.
    static func format(_ seconds: Int) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let a = abs(seconds)
        var s = sign + String(format: "%02d%02d", a / 3600, a / 60 % 60)
        if a % 60 != 0 { s += String(format: "%02d", a % 60) }
        return s
    }
}
