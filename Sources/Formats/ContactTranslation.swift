import Foundation
import JMAP

/// Cyrus/Fastmail vendor contacts (`Contact`, `ContactGroup`) and RFC 9553 JSContact `Card`s (as
/// RFC 9610 `ContactCard`s carry them), translated both ways for a replay between dialects. What
/// one side cannot say is left out; ids of other objects (a group's members) are given as UIDs and
/// mapped by the caller.
public enum ContactTranslation {
    // MARK: vendor → JSContact

    /// A vendor `Contact` as a Card (RFC 9553 §2), with `uid`.
    public static func card(fromContact c: [String: JSONValue]) -> [String: JSONValue] {
        var card: [String: JSONValue] = ["@type": "Card", "version": "1.0", "kind": "individual"]
        card["uid"] = c["uid"]
        var components: [JSONValue] = []
        for (key, kind) in [("prefix", "title"), ("firstName", "given"), ("lastName", "surname"), ("suffix", "credential")] {
            if let v = text(c[key]) { components.append(["kind": .string(kind), "value": .string(v)]) }
        }
        if !components.isEmpty { card["name"] = ["components": .array(components), "isOrdered": true] }
        if let v = text(c["nickname"]) { card["nicknames"] = ["k1": ["name": .string(v)]] }
        if let v = text(c["company"]) {
            var org: [String: JSONValue] = ["name": .string(v)]
            if let d = text(c["department"]) { org["units"] = [["name": .string(d)]] }
            card["organizations"] = ["o1": .object(org)]
        }
        if let v = text(c["jobTitle"]) { card["titles"] = ["t1": ["name": .string(v), "kind": "title"]] }
        card["emails"] = numbered("e", c["emails"]) { e in
            guard let v = text(e["value"]) else { return nil }
            var out: [String: JSONValue] = ["address": .string(v)]
            decorate(&out, type: e["type"]?.stringValue, label: e["label"], isDefault: e["isDefault"])
            return out
        }
        card["phones"] = numbered("p", c["phones"]) { p in
            guard let v = text(p["value"]) else { return nil }
            var out: [String: JSONValue] = ["number": .string(v)]
            let type = p["type"]?.stringValue
            if let feature = ["mobile": "mobile", "fax": "fax", "pager": "pager"][type ?? ""] {
                out["features"] = [feature: true]
            }
            decorate(&out, type: type, label: p["label"], isDefault: p["isDefault"])
            return out
        }
        card["addresses"] = numbered("a", c["addresses"]) { a in
            var parts: [JSONValue] = []
            for (key, kind) in [("street", "name"), ("locality", "locality"), ("region", "region"), ("postcode", "postcode"),
                                ("country", "country")] {
                if let v = text(a[key]) { parts.append(["kind": .string(kind), "value": .string(v)]) }
            }
            guard !parts.isEmpty else { return nil }
            var out: [String: JSONValue] = ["components": .array(parts)]
            decorate(&out, type: a["type"]?.stringValue, label: a["label"], isDefault: a["isDefault"])
            return out
        }
        var links: [String: JSONValue] = [:], services: [String: JSONValue] = [:]
        for (n, o) in (c["online"]?.arrayValue ?? []).enumerated() {
            guard let v = text(o["value"]) else { continue }
            if o["type"]?.stringValue == "username" {
                var s: [String: JSONValue] = ["user": .string(v)]
                if let l = text(o["label"]) { s["service"] = .string(l) }
                services["s\(n + 1)"] = .object(s)
            } else {
                links["l\(n + 1)"] = ["uri": .string(v)]
            }
        }
        if !links.isEmpty { card["links"] = .object(links) }
        if !services.isEmpty { card["onlineServices"] = .object(services) }
        if let v = text(c["notes"]) { card["notes"] = ["n1": ["note": .string(v)]] }
        var dates: [String: JSONValue] = [:]
        if let d = partialDate(c["birthday"]) { dates["birth"] = ["kind": "birth", "date": d] }
        if let d = partialDate(c["anniversary"]) { dates["wedding"] = ["kind": "wedding", "date": d] }
        if !dates.isEmpty { card["anniversaries"] = .object(dates) }
        return card.filter { !$0.value.isNull }
    }

    /// A vendor `ContactGroup` as a group Card; `memberUids` are its members' UIDs.
    public static func card(fromGroup g: [String: JSONValue], memberUids: [String]) -> [String: JSONValue] {
        var card: [String: JSONValue] = ["@type": "Card", "version": "1.0", "kind": "group"]
        card["uid"] = g["uid"]
        if let n = text(g["name"]) { card["name"] = ["full": .string(n)] }
        card["members"] = .object(Dictionary(memberUids.map { ($0, JSONValue.bool(true)) }, uniquingKeysWith: { a, _ in a }))
        return card
    }

    // MARK: JSContact → vendor

    public static func isGroup(_ card: [String: JSONValue]) -> Bool { card["kind"]?.stringValue == "group" }

    /// A Card as a vendor `Contact` (every address with all five parts: Cyrus refuses one without
    /// `region` and `postcode`).
    public static func contact(fromCard card: [String: JSONValue]) -> [String: JSONValue] {
        var c: [String: JSONValue] = [:]
        c["uid"] = card["uid"]
        let components = card["name"]?["components"]?.arrayValue ?? []
        func component(_ kinds: Set<String>) -> String? {
            let values = components.filter { kinds.contains($0["kind"]?.stringValue ?? "") }.compactMap { $0["value"]?.stringValue }
            return values.isEmpty ? nil : values.joined(separator: " ")
        }
        c["prefix"] = .string(component(["title"]) ?? "")
        c["firstName"] = .string(component(["given", "given2"]) ?? (components.isEmpty ? card["name"]?["full"]?.stringValue ?? "" : ""))
        c["lastName"] = .string(component(["surname", "surname2"]) ?? "")
        c["suffix"] = .string(component(["credential", "generation"]) ?? "")
        c["nickname"] = .string(first(card["nicknames"])?["name"]?.stringValue ?? "")
        let org = first(card["organizations"])
        c["company"] = .string(org?["name"]?.stringValue ?? "")
        c["department"] = .string(org?["units"]?.arrayValue?.first?["name"]?.stringValue ?? "")
        c["jobTitle"] = .string(first(card["titles"])?["name"]?.stringValue ?? "")
        c["emails"] = .array(sorted(card["emails"]).compactMap { e in
            guard let v = e["address"]?.stringValue else { return nil }
            return ["type": .string(vendorType(e, default: "other")), "value": .string(v), "isDefault": .bool(e["pref"]?.intValue == 1)]
        })
        c["phones"] = .array(sorted(card["phones"]).compactMap { p in
            guard let v = p["number"]?.stringValue else { return nil }
            let features = p["features"]?.objectValue ?? [:]
            let type = ["mobile", "fax", "pager"].first { features[$0] != nil } ?? vendorType(p, default: "other", home: "home")
            return ["type": .string(type), "value": .string(v)]
        })
        c["addresses"] = .array(sorted(card["addresses"]).map { a in
            let parts = a["components"]?.arrayValue ?? []
            func part(_ kind: String) -> String {
                parts.filter { $0["kind"]?.stringValue == kind }.compactMap { $0["value"]?.stringValue }.joined(separator: " ")
            }
            var street = part("name")
            let number = part("number")
            if !number.isEmpty { street = street.isEmpty ? number : street + " " + number }
            return ["type": .string(vendorType(a, default: "other", home: "home")), "street": .string(street),
                    "locality": .string(part("locality")), "region": .string(part("region")), "postcode": .string(part("postcode")),
                    "country": .string(part("country")), "isDefault": .bool(a["pref"]?.intValue == 1)]
        })
        var online: [JSONValue] = sorted(card["links"]).compactMap { l in
            l["uri"]?.stringValue.map { ["type": "uri", "value": .string($0)] }
        }
        online += sorted(card["onlineServices"]).compactMap { s in
            (s["user"]?.stringValue ?? s["uri"]?.stringValue).map {
                ["type": "username", "value": .string($0), "label": s["service"] ?? .null]
            }
        }
        c["online"] = .array(online)
        c["notes"] = .string(sorted(card["notes"]).compactMap { $0["note"]?.stringValue }.joined(separator: "\n"))
        for (key, kind) in [("birthday", "birth"), ("anniversary", "wedding")] {
            let date = (card["anniversaries"]?.objectValue ?? [:]).values.first { $0["kind"]?.stringValue == kind }?["date"]
            c[key] = .string(vendorDate(date) ?? "0000-00-00")
        }
        return c
    }

    /// A group Card as a vendor `ContactGroup`; `contactIds` holds the members' UIDs, for the
    /// caller to map to the target's contact ids.
    public static func group(fromCard card: [String: JSONValue]) -> [String: JSONValue] {
        ["uid": card["uid"] ?? .null,
         "name": .string(card["name"]?["full"]?.stringValue
             ?? (card["name"]?["components"]?.arrayValue ?? []).compactMap { $0["value"]?.stringValue }.joined(separator: " ")),
         "contactIds": .strings((card["members"]?.objectValue ?? [:]).filter { $0.value == true }.keys.sorted())]
    }

    // MARK: Helpers

    private static func text(_ v: JSONValue?) -> String? {
        guard let s = v?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty else { return nil }
        return s
    }

    private static func numbered(_ prefix: String, _ list: JSONValue?,
                                 _ body: ([String: JSONValue]) -> [String: JSONValue]?) -> JSONValue {
        var out: [String: JSONValue] = [:]
        for (n, item) in (list?.arrayValue ?? []).enumerated() {
            if let o = item.objectValue, let mapped = body(o) { out["\(prefix)\(n + 1)"] = .object(mapped) }
        }
        return out.isEmpty ? .null : .object(out)
    }

    private static func decorate(_ out: inout [String: JSONValue], type: String?, label: JSONValue?, isDefault: JSONValue?) {
        switch type {
        case "work": out["contexts"] = ["work": true]
        case "personal", "home": out["contexts"] = ["private": true]
        default: break
        }
        if let l = text(label) { out["label"] = .string(l) }
        if isDefault?.boolValue == true { out["pref"] = 1 }
    }

    private static func vendorType(_ o: [String: JSONValue], default fallback: String, home: String = "personal") -> String {
        let contexts = o["contexts"]?.objectValue ?? [:]
        if contexts["work"] != nil { return "work" }
        if contexts["private"] != nil { return home }
        return fallback
    }

    /// Map entries in a stable order (by key), as vendor lists need one.
    private static func sorted(_ map: JSONValue?) -> [[String: JSONValue]] {
        (map?.objectValue ?? [:]).sorted { $0.key < $1.key }.compactMap { $0.value.objectValue }
    }

    private static func first(_ map: JSONValue?) -> [String: JSONValue]? { sorted(map).first }

    /// Vendor `YYYY-MM-DD` with zeros for unknown parts → RFC 9553 PartialDate.
    private static func partialDate(_ v: JSONValue?) -> JSONValue? {
        guard let s = v?.stringValue else { return nil }
        let p = s.split(separator: "-").compactMap { Int($0) }
        guard p.count == 3, p.contains(where: { $0 != 0 }) else { return nil }
        var d: [String: JSONValue] = ["@type": "PartialDate"]
        if p[0] != 0 { d["year"] = .int(Int64(p[0])) }
        if p[1] != 0 { d["month"] = .int(Int64(p[1])) }
        if p[2] != 0 { d["day"] = .int(Int64(p[2])) }
        return .object(d)
    }

    private static func vendorDate(_ v: JSONValue?) -> String? {
        guard let v else { return nil }
        if let utc = v["utc"]?.stringValue { return String(utc.prefix(10)) }
        let y = v["year"]?.intValue ?? 0, m = v["month"]?.intValue ?? 0, d = v["day"]?.intValue ?? 0
        guard y + m + d > 0 else { return nil }
        return String(format: "%04d-%02d-%02d", y, m, d)
    }
}
