import Foundation
import JMAP

/// iCalendar (RFC 5545) from a JMAP CalendarEvent, following draft-ietf-calext-jscalendar-icalendar
/// §3: one VCALENDAR per event, the main VEVENT with its rule and exclusions, one VEVENT per
/// overridden occurrence, and a VTIMEZONE for every zone used. Reads JSCalendar 2.0 and the RFC 8984
/// shapes Cyrus still sends (`recurrenceRules`, `replyTo`, `sendTo`, role `attendee`).
public enum ICalendarWriter {
    public static func event(_ e: JSONValue, prodId: String = "-//jmirror//EN") -> String {
        var out = ContentLines()
        out.begin("VCALENDAR")
        out.add("VERSION", "2.0")
        out.add("PRODID", ContentLines.text(prodId))
        var zones = Set<String>()
        var body = ContentLines()
        vevent(e, main: true, zones: &zones, into: &body)
        for (key, patch) in (e["recurrenceOverrides"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard patch["excluded"]?.boolValue != true, !isRDate(patch) else { continue }
            var instance = Patch.apply(patch, to: e)
            if case var .object(o) = instance {
                for k in ["recurrenceRule", "recurrenceRules", "excludedRecurrenceRules", "recurrenceOverrides", "excluded"] {
                    o[k] = nil
                }
                if patch["start"] == nil { o["start"] = .string(key) }
                o["recurrenceId"] = .string(key)
                o["recurrenceIdTimeZone"] = e["timeZone"] ?? .null
                instance = .object(o)
            }
            vevent(instance, main: false, zones: &zones, into: &body)
        }
        for zone in zones.sorted() { VTimezone.write(zone, years: yearRange(e), into: &out) }
        out.append(body)
        out.end("VCALENDAR")
        return out.text
    }

    // MARK: One VEVENT

    static func vevent(_ e: JSONValue, main: Bool, zones: inout Set<String>, into out: inout ContentLines) {
        out.begin("VEVENT")
        if let uid = e["uid"]?.stringValue { out.add("UID", ContentLines.text(uid)) }
        let stamp = e["updated"]?.stringValue ?? e["created"]?.stringValue ?? "1970-01-01T00:00:00Z"
        out.add("DTSTAMP", utc(stamp))
        if let created = e["created"]?.stringValue { out.add("CREATED", utc(created)) }
        let zone = e["timeZone"]?.stringValue
        let allDay = e["showWithoutTime"]?.boolValue == true
        // An event without DTSTART (allowed in iTIP) comes from Cyrus as "0000-00-00T00:00:00":
        // it is written without one (and without a duration), never as an invalid date.
        let hasStart = e["start"]?.stringValue.map { !$0.hasPrefix("0000-") } ?? false
        let start = e["start"]?.stringValue.flatMap(LocalDateTime.init) ?? LocalDateTime(year: 1970, month: 1, day: 1)
        let duration = e["duration"]?.stringValue.flatMap(JSDuration.init)
        let asDate = allDay && zone == nil && start.isMidnight && (duration?.seconds ?? 0) == 0

        if let rid = e["recurrenceId"]?.stringValue.flatMap(LocalDateTime.init) {
            let ridZone = e["recurrenceIdTimeZone"]?.stringValue ?? zone
            out.add("RECURRENCE-ID", timeParams(rid, ridZone, asDate, &zones), timeValue(rid, ridZone, asDate))
        }
        if hasStart {
            out.add("DTSTART", timeParams(start, zone, asDate, &zones), timeValue(start, zone, asDate))
            end(e, start: start, zone: zone, asDate: asDate, duration: duration, zones: &zones, into: &out)
        }
        if main {
            rules(e, start: start, zone: zone, asDate: asDate, zones: &zones, into: &out)
        }
        if let seq = e["sequence"]?.intValue, seq > 0 { out.add("SEQUENCE", String(seq)) }
        if let title = e["title"]?.stringValue, !title.isEmpty { out.add("SUMMARY", ContentLines.text(title)) }
        if let d = e["description"]?.stringValue, !d.isEmpty { out.add("DESCRIPTION", ContentLines.text(d)) }
        location(e, into: &out)
        if let status = e["status"]?.stringValue { out.add("STATUS", status.uppercased()) }
        if let privacy = e["privacy"]?.stringValue {
            out.add("CLASS", ["public": "PUBLIC", "private": "PRIVATE", "secret": "CONFIDENTIAL"][privacy] ?? privacy.uppercased())
        }
        if let fb = e["freeBusyStatus"]?.stringValue { out.add("TRANSP", fb == "free" ? "TRANSPARENT" : "OPAQUE") }
        if let p = e["priority"]?.intValue, p > 0 { out.add("PRIORITY", String(p)) }
        if let color = e["color"]?.stringValue { out.add("COLOR", ContentLines.text(color)) }
        let keywords = (e["keywords"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys.sorted()
        if !keywords.isEmpty { out.add("CATEGORIES", keywords.map(ContentLines.text).joined(separator: ",")) }
        links(e, into: &out)
        participants(e, into: &out)
        alerts(e, into: &out)
        otherLocations(e, into: &out)
        out.end("VEVENT")
    }

    /// DTEND, or DURATION: DTEND for all-day events and for an end in another zone.
    static func end(_ e: JSONValue, start: LocalDateTime, zone: String?, asDate: Bool, duration: JSDuration?,
                    zones: inout Set<String>, into out: inout ContentLines) {
        if asDate {
            // A zero duration is one day: Cyrus reports an all-day event without DTEND (one day,
            // RFC 5545 §3.6.1) as PT0S, as it does the rare DTEND equal to DTSTART.
            out.add("DTEND", [.init("VALUE", "DATE")], start.adding(days: max(duration?.days ?? 1, 1)).basicDate)
        } else if let endZone = e["endTimeZone"]?.stringValue, endZone != zone, let zone,
                  let tz = TimeZone(identifier: zone), let etz = TimeZone(identifier: endZone), let begin = start.date(in: tz) {
            let end = LocalDateTime(begin.addingTimeInterval(Double((duration?.days ?? 0) * 86400 + (duration?.seconds ?? 0))), in: etz)
            out.add("DTEND", timeParams(end, endZone, false, &zones), timeValue(end, endZone, false))
        } else if let duration {
            out.add("DURATION", duration.iCalendar)
        }
    }

    static func rules(_ e: JSONValue, start: LocalDateTime, zone: String?, asDate: Bool, zones: inout Set<String>,
                      into out: inout ContentLines) {
        var rrules = e["recurrenceRules"]?.arrayValue ?? []
        if let r = e["recurrenceRule"], !r.isNull { rrules = [r] }
        for r in rrules { out.add("RRULE", rrule(r, zone: zone, asDate: asDate)) }
        for r in e["excludedRecurrenceRules"]?.arrayValue ?? [] { out.add("EXRULE", rrule(r, zone: zone, asDate: asDate)) }
        var exdates: [LocalDateTime] = []
        var rdates: [LocalDateTime] = []
        var dates: [LocalDateTime] = []
        var periods: [(LocalDateTime, JSDuration)] = []
        for (key, patch) in e["recurrenceOverrides"]?.objectValue ?? [:] {
            guard let t = LocalDateTime(key) else { continue }
            if patch["excluded"]?.boolValue == true {
                exdates.append(t)
            } else if let d = patch["duration"]?.stringValue.flatMap(JSDuration.init), isRDate(patch) {
                // A date RDATE of a timed event reaches JSCalendar as a whole day from midnight.
                if !asDate, t.isMidnight, d.days == 1, d.seconds == 0 { dates.append(t) } else { periods.append((t, d)) }
            } else if isRDate(patch) {
                rdates.append(t)
            } else if generated(t, by: rrules, start: start, asDate: asDate) == false {
                // An override of an instance no rule generates is an extra occurrence: an RDATE,
                // and the override's own VEVENT (jscalendar-icalendar).
                rdates.append(t)
            }
        }
        if !exdates.isEmpty {
            out.add("EXDATE", timeParams(exdates[0], zone, asDate, &zones),
                    exdates.sorted().map { timeValue($0, zone, asDate) }.joined(separator: ","))
        }
        if !rdates.isEmpty {
            out.add("RDATE", timeParams(rdates[0], zone, asDate, &zones),
                    rdates.sorted().map { timeValue($0, zone, asDate) }.joined(separator: ","))
        }
        if !dates.isEmpty { out.add("RDATE", [.init("VALUE", "DATE")], dates.sorted().map(\.basicDate).joined(separator: ",")) }
        if let first = periods.first {
            out.add("RDATE", timeParams(first.0, zone, false, &zones) + [.init("VALUE", "PERIOD")],
                    periods.sorted { $0.0 < $1.0 }.map { timeValue($0.0, zone, false) + "/" + $0.1.iCalendar }.joined(separator: ","))
        }
    }

    /// Whether any of `rules` generates `t`: false also when there is no rule at all, nil when
    /// libical cannot tell (then the override is written as it always was, without an RDATE).
    static func generated(_ t: LocalDateTime, by rules: [JSONValue], start: LocalDateTime, asDate: Bool) -> Bool? {
        var unknown = false
        for r in rules {
            switch Recurrence.generates(rrule(r, zone: nil, asDate: asDate), start: start, at: t, asDate: asDate) {
            case true?: return true
            case nil: unknown = true
            case false?: break
            }
        }
        return unknown ? nil : false
    }

    /// jscalendar-icalendar: an override that is empty, or patches only the duration, is an RDATE
    /// (a period one in the second case), not a RECURRENCE-ID instance.
    static func isRDate(_ patch: JSONValue) -> Bool {
        let keys = Set((patch.objectValue ?? [:]).keys)
        return keys.isEmpty || keys == ["duration"]
    }

    static func rrule(_ r: JSONValue, zone: String?, asDate: Bool) -> String {
        var parts = ["FREQ=" + (r["frequency"]?.stringValue ?? "daily").uppercased()]
        if let i = r["interval"]?.intValue, i > 1 { parts.append("INTERVAL=\(i)") }
        // RFC 7529: SKIP only with RSCALE, so a SKIP brings its (default gregorian) RSCALE along.
        let skip = r["skip"]?.stringValue.flatMap { $0 == "omit" ? nil : $0 }
        let rscale = r["rscale"]?.stringValue ?? "gregorian"
        if rscale != "gregorian" || skip != nil { parts.append("RSCALE=" + rscale.uppercased()) }
        if let skip { parts.append("SKIP=" + skip.uppercased()) }
        if let wkst = r["firstDayOfWeek"]?.stringValue, wkst != "mo" { parts.append("WKST=" + wkst.uppercased()) }
        let days = (r["byDay"]?.arrayValue ?? []).compactMap { d -> String? in
            guard let day = d["day"]?.stringValue else { return nil }
            return (d["nthOfPeriod"]?.intValue.map(String.init) ?? "") + day.uppercased()
        }
        if !days.isEmpty { parts.append("BYDAY=" + days.joined(separator: ",")) }
        for (key, name) in [("byMonthDay", "BYMONTHDAY"), ("byMonth", "BYMONTH"), ("byYearDay", "BYYEARDAY"),
                            ("byWeekNo", "BYWEEKNO"), ("byHour", "BYHOUR"), ("byMinute", "BYMINUTE"),
                            ("bySecond", "BYSECOND"), ("bySetPosition", "BYSETPOS")] {
            let values = (r[key]?.arrayValue ?? []).compactMap { $0.stringValue ?? $0.intValue.map(String.init) }
            if !values.isEmpty { parts.append(name + "=" + values.joined(separator: ",")) }
        }
        if let count = r["count"]?.intValue { parts.append("COUNT=\(count)") }
        if let until = r["until"]?.stringValue.flatMap(LocalDateTime.init) {
            // RFC 5545 §3.3.10: UNTIL is a DATE for date events, UTC when DTSTART has a zone.
            if asDate {
                parts.append("UNTIL=" + until.basicDate)
            } else if let zone, let tz = TimeZone(identifier: zone), let d = until.date(in: tz) {
                parts.append("UNTIL=" + LocalDateTime(d, in: TimeZone(identifier: "UTC")!).basic + "Z")
            } else {
                parts.append("UNTIL=" + until.basic)
            }
        }
        return parts.joined(separator: ";")
    }

    // MARK: Places, links, people, alerts

    /// The location LOCATION and GEO say: mainLocationId's, or else the first with a name (a
    /// flight's arrival location often carries only a time zone, `relativeTo: end`).
    static func mainLocation(_ e: JSONValue) -> (key: String, value: JSONValue)? {
        let locations = (e["locations"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        return e["mainLocationId"]?.stringValue.flatMap { id in locations.first { $0.key == id } }
            ?? locations.first { $0.value["name"]?.stringValue?.isEmpty == false } ?? locations.first
    }

    /// Every other named location as an RFC 9073 VLOCATION, so that none is lost in the file.
    static func otherLocations(_ e: JSONValue, into out: inout ContentLines) {
        let main = mainLocation(e)?.key
        for (key, loc) in (e["locations"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) where key != main {
            guard let name = loc["name"]?.stringValue, !name.isEmpty else { continue }
            out.begin("VLOCATION")
            out.add("UID", ContentLines.text(key))
            out.add("NAME", ContentLines.text(name))
            if let d = loc["description"]?.stringValue { out.add("DESCRIPTION", ContentLines.text(d)) }
            let types = (loc["locationTypes"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys.sorted()
            if !types.isEmpty { out.add("LOCATION-TYPE", types.map(ContentLines.text).joined(separator: ",")) }
            if let geo = loc["coordinates"]?.stringValue { out.add("GEO", [.init("VALUE", "URI")], geo) }
            out.end("VLOCATION")
        }
    }

    static func location(_ e: JSONValue, into out: inout ContentLines) {
        if let loc = mainLocation(e)?.value {
            if let name = loc["name"]?.stringValue { out.add("LOCATION", ContentLines.text(name)) }
            if let geo = loc["coordinates"]?.stringValue, geo.hasPrefix("geo:") {
                let latlon = geo.dropFirst(4).split(separator: ";")[0].split(separator: ",")
                if latlon.count >= 2 { out.add("GEO", latlon[0] + ";" + latlon[1]) }
            }
        }
        for (_, v) in (e["virtualLocations"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let uri = v["uri"]?.stringValue else { continue }
            var p: [ContentLines.Param] = [.init("VALUE", "URI")]
            if let name = v["name"]?.stringValue { p.append(.init("LABEL", name)) }
            let features = (v["features"]?.objectValue ?? [:]).keys.sorted().map { $0.uppercased() }
            if !features.isEmpty { p.append(.init("FEATURE", list: features)) }
            out.add("CONFERENCE", p, uri)
        }
    }

    static func links(_ e: JSONValue, into out: inout ContentLines) {
        var wroteURL = false
        for (_, l) in (e["links"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let href = l["href"]?.stringValue else { continue }
            var p: [ContentLines.Param] = []
            if let type = l["contentType"]?.stringValue { p.append(.init("FMTTYPE", type)) }
            if let title = l["title"]?.stringValue { p.append(.init("FILENAME", title)) }
            let rel = l["rel"]?.stringValue
            // A link without rel is what an ATTACH becomes (Cyrus, jscalendar-icalendar); URL is the
            // first "describedby". An inline attachment goes back to its binary form.
            if rel == nil || rel == "enclosure" {
                if href.hasPrefix("data:"), let comma = href.firstIndex(of: ","), href[..<comma].hasSuffix(";base64") {
                    out.add("ATTACH", [.init("VALUE", "BINARY"), .init("ENCODING", "BASE64")] + p, String(href[href.index(after: comma)...]))
                } else {
                    out.add("ATTACH", p, href)
                }
            } else if rel == "describedby" && !wroteURL {
                out.add("URL", [], href)
                wroteURL = true
            } else {
                out.add("LINK", [.init("VALUE", "URI"), .init("LINKREL", rel ?? "related")] + p, href)
            }
        }
    }

    static func address(_ p: JSONValue) -> String? {
        p["calendarAddress"]?.stringValue ?? p["sendTo"]?["imip"]?.stringValue
            ?? p["sendTo"]?.objectValue?.sorted(by: { $0.key < $1.key }).first?.value.stringValue
            ?? p["email"]?.stringValue.map { "mailto:" + $0 }
    }

    static func participants(_ e: JSONValue, into out: inout ContentLines) {
        let people = (e["participants"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        let organizer = e["organizerCalendarAddress"]?.stringValue ?? e["replyTo"]?["imip"]?.stringValue
            ?? e["replyTo"]?.objectValue?.sorted(by: { $0.key < $1.key }).first?.value.stringValue
        if let organizer {
            let owner = people.first { address($0.value)?.lowercased() == organizer.lowercased() }?.value
            out.add("ORGANIZER", owner?["name"]?.stringValue.map { [.init("CN", $0)] } ?? [], organizer)
        }
        for (_, p) in people.sorted(by: { (address($0.value) ?? "") < (address($1.value) ?? "") }) {
            guard let addr = address(p) else { continue }
            let roles = Set((p["roles"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys)
            // The organizer's own entry is an ATTENDEE only when it attends (RFC 8984 role
            // `attendee`, or any JSCalendar 2.0 role besides owner).
            if addr.lowercased() == organizer?.lowercased(), roles.subtracting(["owner"]).isEmpty { continue }
            var params: [ContentLines.Param] = []
            if let name = p["name"]?.stringValue { params.append(.init("CN", name)) }
            if let kind = p["kind"]?.stringValue {
                params.append(.init("CUTYPE", ["location": "ROOM", "individual": "INDIVIDUAL", "group": "GROUP",
                                               "resource": "RESOURCE"][kind] ?? "UNKNOWN"))
            }
            let role = roles.contains("chair") ? "CHAIR" : roles.contains("optional") ? "OPT-PARTICIPANT"
                : roles.contains("informational") ? "NON-PARTICIPANT" : "REQ-PARTICIPANT"
            params.append(.init("ROLE", role))
            params.append(.init("PARTSTAT", (p["participationStatus"]?.stringValue ?? "needs-action").uppercased()))
            if p["expectReply"]?.boolValue == true { params.append(.init("RSVP", "TRUE")) }
            for (key, name) in [("delegatedTo", "DELEGATED-TO"), ("delegatedFrom", "DELEGATED-FROM"), ("memberOf", "MEMBER")] {
                let ids = (p[key]?.objectValue ?? [:]).keys.sorted()
                let addrs = ids.compactMap { id in e["participants"]?[id].flatMap(address) }
                if !addrs.isEmpty { params.append(.init(name, list: addrs)) }
            }
            out.add("ATTENDEE", params, addr)
        }
    }

    static func alerts(_ e: JSONValue, into out: inout ContentLines) {
        for (key, a) in (e["alerts"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            out.begin("VALARM")
            out.add("UID", ContentLines.text(key))
            let action = (a["action"]?.stringValue ?? "display").uppercased()
            out.add("ACTION", action)
            let trigger = a["trigger"]
            if let when = trigger?["when"]?.stringValue {
                out.add("TRIGGER", [.init("VALUE", "DATE-TIME")], utc(when))
            } else {
                let offset = trigger?["offset"]?.stringValue.flatMap(JSDuration.init)?.iCalendar ?? "PT0S"
                let related = trigger?["relativeTo"]?.stringValue == "end" ? [ContentLines.Param("RELATED", "END")] : []
                out.add("TRIGGER", related, offset)
            }
            let title = e["title"]?.stringValue ?? ""
            if action == "EMAIL" { out.add("SUMMARY", ContentLines.text(title)) }
            out.add("DESCRIPTION", ContentLines.text(title.isEmpty ? "Reminder" : title))
            if let ack = a["acknowledged"]?.stringValue { out.add("ACKNOWLEDGED", utc(ack)) }
            out.end("VALARM")
        }
    }

    // MARK: Times

    static func timeParams(_ t: LocalDateTime, _ zone: String?, _ asDate: Bool, _ zones: inout Set<String>) -> [ContentLines.Param] {
        if asDate { return [.init("VALUE", "DATE")] }
        guard let zone, !isUTC(zone) else { return [] }
        zones.insert(zone)
        return [.init("TZID", zone)]
    }

    static func timeValue(_ t: LocalDateTime, _ zone: String?, _ asDate: Bool) -> String {
        if asDate { return t.basicDate }
        if let zone, isUTC(zone) { return t.basic + "Z" }
        return t.basic
    }

    static func isUTC(_ zone: String) -> Bool { ["Etc/UTC", "UTC", "Etc/GMT", "GMT"].contains(zone) }

    static func utc(_ s: String) -> String {
        guard let t = LocalDateTime(s) else { return VCardWriter.timestamp(s) }
        return t.basic + "Z"
    }

    /// The years the event's occurrences span, for VTIMEZONE: to the rule's end, or 10 years on.
    static func yearRange(_ e: JSONValue) -> ClosedRange<Int> {
        let start = e["start"]?.stringValue.flatMap(LocalDateTime.init)?.year ?? 2000
        var rules = e["recurrenceRules"]?.arrayValue ?? []
        if let r = e["recurrenceRule"], !r.isNull { rules = [r] }
        guard !rules.isEmpty else { return start...start + 1 }
        let untils = rules.map { r -> Int in
            if let until = r["until"]?.stringValue.flatMap(LocalDateTime.init) { return until.year }
            if let count = r["count"]?.intValue, count < 60, r["frequency"]?.stringValue != "yearly" { return start + 5 }
            return start + 10
        }
        return start...max(start, untils.max() ?? start)
    }
}

