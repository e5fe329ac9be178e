import JMAP

/// The three shapes of JSCalendar events that JMAP servers speak, and translation between them
/// for a replay from one server to another:
/// - `draft`: the pre-RFC drafts (`"@type": "jsevent"`, one `recurrenceRule`, `replyTo`,
///   `sendTo`, role `attendee`), Cyrus up to 3.6;
/// - `rfc8984`: JSCalendar 1.0 (`recurrenceRules`, `replyTo`, `sendTo`, role `attendee`, an end
///   zone as a location `relativeTo: "end"`), what Cyrus 3.8–3.10 reads and writes, refusing the
///   2.0 names (checked on 3.10.1: `recurrenceRule`, `organizerCalendarAddress`, `endTimeZone`
///   and a participant without `sendTo` are `invalidProperties`);
/// - `bis`: JSCalendar 2.0 (jscalendarbis, the JMAP calendars draft), Appendix A of which lists
///   what changed from 1.0 and is what this follows.
/// Every event goes through 2.0: old → 2.0 → old gives the same event back, for everything both
/// can say. What one side cannot say at all makes the event untranslatable, with the reason,
/// rather than silently different.
public enum EventShape: Sendable, Equatable {
    case draft, rfc8984, bis

    public var name: String {
        switch self {
        case .draft: "pre-RFC JSCalendar (\"jsevent\")"
        case .rfc8984: "JSCalendar 1.0 (RFC 8984)"
        case .bis: "JSCalendar 2.0"
        }
    }
}

public struct Untranslatable: Error, Equatable, Sendable {
    public let reason: String
}

public enum EventTranslation {
    /// `event` in `shape`. Idempotent: an event already in that shape comes back unchanged.
    public static func translate(_ event: [String: JSONValue], to shape: EventShape) throws -> [String: JSONValue] {
        let bis = try toBis(event)
        return shape == .bis ? bis : fromBis(bis, to: shape)
    }

    /// The shape an event is in, by the names only one shape uses; nil when it uses none of
    /// them (no rules, no participants, no end zone), and then only `@type` tells.
    public static func shape(of e: [String: JSONValue]) -> EventShape? {
        if e["@type"]?.stringValue == "jsevent" { return .draft }
        let participants = (e["participants"]?.objectValue ?? [:]).values
        let locations = (e["locations"]?.objectValue ?? [:]).values
        if e["recurrenceRules"] != nil || e["replyTo"] != nil || e["excludedRecurrenceRules"] != nil
            || participants.contains(where: { $0["sendTo"] != nil || $0["roles"]?["attendee"] != nil })
            || locations.contains(where: { $0["relativeTo"] != nil }) { return .rfc8984 }
        if e["recurrenceRule"] != nil || e["organizerCalendarAddress"] != nil || e["endTimeZone"] != nil
            || participants.contains(where: { $0["calendarAddress"] != nil || $0["roles"]?["required"] != nil }) { return .bis }
        return nil
    }

    // MARK: 1.0 and the drafts → 2.0

    /// Properties 2.0 made obsolete or reserved (jscalendarbis Appendix A) that have no new name.
    static let droppedEvent: Set<String> = ["timeZones", "localizations", "method", "progressUpdated", "requestStatus", "isAllDay"]
    static let droppedParticipant: Set<String> = ["sendTo", "locationId", "language", "participationComment", "scheduleStatus",
                                                  "scheduleAgent", "scheduleForceSend", "invitedBy", "requestStatus", "progressUpdated"]

    static func toBis(_ event: [String: JSONValue]) throws -> [String: JSONValue] {
        var o = event
        if o["@type"]?.stringValue == "jsevent" { o["@type"] = "Event" }
        if let allDay = o["isAllDay"]?.boolValue, o["showWithoutTime"] == nil { o["showWithoutTime"] = .bool(allDay) }
        if let rules = o.removeValue(forKey: "recurrenceRules"), let list = rules.arrayValue {
            if list.count > 1 {
                throw Untranslatable(reason: "it has \(list.count) recurrence rules, and JSCalendar 2.0 allows one")
            }
            if let rule = list.first { o["recurrenceRule"] = rule }
        }
        if let excluded = o.removeValue(forKey: "excludedRecurrenceRules"), !(excluded.arrayValue ?? []).isEmpty {
            throw Untranslatable(reason: "it has excluded recurrence rules (EXRULE), which JSCalendar 2.0 cannot say")
        }
        if let replyTo = o.removeValue(forKey: "replyTo"), o["organizerCalendarAddress"] == nil, let address = address(replyTo) {
            o["organizerCalendarAddress"] = .string(address)
        }
        if let participants = o["participants"]?.objectValue {
            o["participants"] = .object(participants.mapValues(participantToBis))
        }
        if let locations = o["locations"]?.objectValue {
            var kept: [String: JSONValue] = [:]
            for (id, l) in locations {
                guard var loc = l.objectValue else { continue }
                let relative = loc.removeValue(forKey: "relativeTo")?.stringValue
                let zone = loc.removeValue(forKey: "timeZone")?.stringValue
                if relative == "end", let zone, o["endTimeZone"] == nil { o["endTimeZone"] = .string(zone) }
                loc["description"] = nil
                if loc.keys.contains(where: { $0 != "@type" }) { kept[id] = .object(loc) }
            }
            o["locations"] = kept.isEmpty ? nil : .object(kept)
        }
        if let links = o["links"]?.objectValue {
            o["links"] = .object(links.mapValues { l in .object((l.objectValue ?? [:]).filter { $0.key != "cid" }) })
        }
        for k in droppedEvent { o[k] = nil }
        if let overrides = o["recurrenceOverrides"]?.objectValue {
            o["recurrenceOverrides"] = .object(try overrides.mapValues { try patch($0, toBis: true) })
        }
        return o
    }

    static func participantToBis(_ value: JSONValue) -> JSONValue {
        guard var p = value.objectValue else { return value }
        if p["calendarAddress"] == nil, let to = p["sendTo"], let address = address(to) { p["calendarAddress"] = .string(address) }
        if var roles = p["roles"]?.objectValue {
            // 1.0's `attendee` is a required participant unless another role says otherwise;
            // `contact` was removed without a successor.
            if roles.removeValue(forKey: "attendee")?.boolValue == true,
               roles["optional"] == nil, roles["informational"] == nil { roles["required"] = true }
            roles["contact"] = nil
            p["roles"] = .object(roles)
        }
        for k in droppedParticipant { p[k] = nil }
        return .object(p)
    }

    // MARK: 2.0 → 1.0 and the drafts

    static func fromBis(_ event: [String: JSONValue], to shape: EventShape) -> [String: JSONValue] {
        var o = event
        o["@type"] = shape == .draft ? "jsevent" : "Event"
        if let rule = o["recurrenceRule"], shape == .rfc8984 {
            o["recurrenceRule"] = nil
            o["recurrenceRules"] = rule.isNull ? nil : .array([rule])
        }
        if let organizer = o.removeValue(forKey: "organizerCalendarAddress")?.stringValue { o["replyTo"] = sendTo(organizer) }
        if let participants = o["participants"]?.objectValue {
            o["participants"] = .object(participants.mapValues(participantFromBis))
        }
        if let zone = o.removeValue(forKey: "endTimeZone")?.stringValue {
            var locations = o["locations"]?.objectValue ?? [:]
            var key = "end"
            while locations[key] != nil { key += "-" }
            locations[key] = ["@type": "Location", "relativeTo": "end", "timeZone": .string(zone)]
            o["locations"] = .object(locations)
        }
        for k in ["mayInviteSelf", "mayInviteOthers", "hideAttendees"] { o[k] = nil }
        if let overrides = o["recurrenceOverrides"]?.objectValue {
            o["recurrenceOverrides"] = .object(overrides.mapValues { (try? patch($0, toBis: false, shape: shape)) ?? $0 })
        }
        return o
    }

    static func participantFromBis(_ value: JSONValue) -> JSONValue {
        guard var p = value.objectValue else { return value }
        if let address = p.removeValue(forKey: "calendarAddress")?.stringValue { p["sendTo"] = sendTo(address) }
        if var roles = p["roles"]?.objectValue {
            if roles.removeValue(forKey: "required")?.boolValue == true || roles["chair"]?.boolValue == true { roles["attendee"] = true }
            p["roles"] = .object(roles)
        }
        p["scheduleUpdated"] = nil
        return .object(p)
    }

    // MARK: overrides

    /// An override is a patch (RFC 8984 §4.3.5): whole properties are translated as an event's
    /// are, paths by their first steps. Patches to the rules are ignored by every version, so
    /// they are not carried.
    static func patch(_ value: JSONValue, toBis: Bool, shape: EventShape = .bis) throws -> JSONValue {
        guard let p = value.objectValue else { return value }
        var out: [String: JSONValue] = [:]
        for (key, v) in p {
            let path = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if path.count == 1 {
                let one = toBis ? try Self.toBis([key: v]) : fromBis([key: v], to: shape).filter { $0.key != "@type" }
                out.merge(one) { _, b in b }
            } else if let (k, value) = toBis ? pathToBis(path, v) : pathFromBis(path, v) {
                out[k] = value
            }
        }
        return .object(out)
    }

    static func pathToBis(_ path: [String], _ v: JSONValue) -> (String, JSONValue)? {
        var path = path
        switch path[0] {
        case "recurrenceRules", "excludedRecurrenceRules", "timeZones", "localizations", "method": return nil
        case "replyTo": return address(v).map { ("organizerCalendarAddress", .string($0)) }
        case "participants" where path.count >= 3:
            if path[2] == "sendTo" {
                guard let a = path.count == 3 ? address(v) : v.stringValue else { return nil }
                return (path[0...1].joined(separator: "/") + "/calendarAddress", .string(a))
            }
            if droppedParticipant.contains(path[2]) { return nil }
            if path[2] == "roles", path.count == 4, path[3] == "attendee" { path[3] = "required" }
        case "locations" where path.count >= 3 && ["relativeTo", "timeZone", "description"].contains(path[2]): return nil
        default: break
        }
        return (path.joined(separator: "/"), path.count == 3 && path[0] == "participants" ? participantToBis(v) : v)
    }

    static func pathFromBis(_ path: [String], _ v: JSONValue) -> (String, JSONValue)? {
        var path = path
        switch path[0] {
        case "recurrenceRule", "mayInviteSelf", "mayInviteOthers", "hideAttendees", "endTimeZone": return nil
        case "organizerCalendarAddress": return v.stringValue.map { ("replyTo", sendTo($0)) }
        case "participants" where path.count >= 3:
            if path[2] == "calendarAddress" { return v.stringValue.map { (path[0...1].joined(separator: "/") + "/sendTo", sendTo($0)) } }
            if path[2] == "scheduleUpdated" { return nil }
            if path[2] == "roles", path.count == 4, path[3] == "required" { path[3] = "attendee" }
        default: break
        }
        return (path.joined(separator: "/"), path.count == 2 && path[0] == "participants" ? participantFromBis(v) : v)
    }

    // MARK: addresses

    /// A 1.0 `sendTo`/`replyTo` map (method → URI) as one calendar address: iMIP first, as
    /// jscalendarbis Appendix A says, else the first method by name.
    static func address(_ v: JSONValue) -> String? {
        guard let map = v.objectValue else { return v.stringValue }
        return map["imip"]?.stringValue ?? map.sorted { $0.key < $1.key }.lazy.compactMap { $0.value.stringValue }.first
    }

    static func sendTo(_ address: String) -> JSONValue {
        [address.lowercased().hasPrefix("mailto:") ? "imip" : "other": .string(address)]
    }
}
