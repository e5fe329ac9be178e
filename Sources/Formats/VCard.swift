import Foundation
import JMAP

/// vCard 4.0 (RFC 6350) from the JSON a JMAP server sends: IETF ContactCard (JSContact, RFC 9553)
/// converted as RFC 9555 §3 says, and Cyrus/Fastmail legacy `Contact` and `ContactGroup` objects.
/// Properties a vCard cannot say stay in the catalog's JSON; JSContact-only ones are also written
/// as `JSPROP` (RFC 9555 §3.3) so the file alone keeps them.
public enum VCardWriter {
    /// A JSContact Card.
    public static func card(_ c: JSONValue) -> String {
        var out = ContentLines()
        out.begin("VCARD")
        out.add("VERSION", "4.0")
        var handled: Set<String> = ["@type", "version", "id", "addressBookIds", "vCardProps", "vCardParams", "blobId"]
        func str(_ k: String) -> String? { handled.insert(k); return c[k]?.stringValue }
        if let uid = str("uid") { out.add("UID", uid) }
        if let kind = str("kind"), kind != "individual" { out.add("KIND", kind) }
        if let prodId = str("prodId") { out.add("PRODID", ContentLines.text(prodId)) }
        if let created = str("created") { out.add("CREATED", [.init("VALUE", "TIMESTAMP")], timestamp(created)) }
        if let updated = str("updated") { out.add("REV", timestamp(updated)) }
        if let language = str("language") { out.add("LANGUAGE", language) }

        handled.insert("name")
        let name = c["name"]
        let components = (name?["components"]?.arrayValue ?? []).compactMap { comp -> (String, String)? in
            guard let kind = comp["kind"]?.stringValue, let value = comp["value"]?.stringValue else { return nil }
            return (kind, value)
        }
        if let full = name?["full"]?.stringValue {
            out.add("FN", ContentLines.text(full))
        } else {
            // FN is mandatory in vCard; RFC 9555 §3.2 derives it and marks it so.
            let derived = components.filter { $0.0 != "separator" }.map(\.1).joined(separator: " ")
            out.add("FN", [.init("DERIVED", "TRUE")], ContentLines.text(derived))
        }
        if !components.isEmpty {
            func part(_ kinds: String...) -> String {
                components.filter { kinds.contains($0.0) }.map { ContentLines.text($0.1) }.joined(separator: ",")
            }
            var n = [part("surname"), part("given"), part("given2"), part("title"), part("credential")]
            let extra = [part("surname2"), part("generation")]
            if extra.contains(where: { !$0.isEmpty }) { n += extra }
            out.add("N", n.joined(separator: ";"))
        }
        for (key, nick) in entries(c, "nicknames", &handled) {
            out.add("NICKNAME", params(nick, key), ContentLines.text(nick["name"]?.stringValue ?? ""))
        }
        for (key, org) in entries(c, "organizations", &handled) {
            let units = (org["units"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            out.add("ORG", params(org, key), ([org["name"]?.stringValue ?? ""] + units).map(ContentLines.text).joined(separator: ";"))
        }
        for (key, title) in entries(c, "titles", &handled) {
            out.add(title["kind"]?.stringValue == "role" ? "ROLE" : "TITLE", params(title, key),
                    ContentLines.text(title["name"]?.stringValue ?? ""))
        }
        for (key, email) in entries(c, "emails", &handled) {
            out.add("EMAIL", params(email, key), ContentLines.text(email["address"]?.stringValue ?? ""))
        }
        for (key, phone) in entries(c, "phones", &handled) {
            let features = (phone["features"]?.objectValue ?? [:]).keys.sorted().map { $0 == "mobile" ? "cell" : $0 }
            let number = phone["number"]?.stringValue ?? ""
            let isURI = number.hasPrefix("tel:") || number.hasPrefix("sip:")
            out.add("TEL", params(phone, key, types: features) + (isURI ? [.init("VALUE", "uri")] : []),
                    isURI ? number : ContentLines.text(number))
        }
        for (key, address) in entries(c, "addresses", &handled) {
            out.add("ADR", addressParams(address, key), adr(address))
        }
        for (key, link) in entries(c, "links", &handled) {
            out.add(link["kind"]?.stringValue == "contact" ? "CONTACT-URI" : "URL", params(link, key),
                    link["uri"]?.stringValue ?? "")
        }
        for (key, media) in entries(c, "media", &handled) {
            let kind = (media["kind"]?.stringValue ?? "photo").uppercased()
            var p = params(media, key)
            if let type = media["mediaType"]?.stringValue { p.append(.init("MEDIATYPE", type)) }
            out.add(["PHOTO", "LOGO", "SOUND"].contains(kind) ? kind : "PHOTO", p, media["uri"]?.stringValue ?? "")
        }
        for (key, service) in entries(c, "onlineServices", &handled) {
            let vCardName = service["vCardName"]?.stringValue?.uppercased()
            var p = params(service, key)
            if let s = service["service"]?.stringValue { p.append(.init("SERVICE-TYPE", s)) }
            if let uri = service["uri"]?.stringValue {
                out.add(vCardName == "IMPP" ? "IMPP" : "SOCIALPROFILE", p, uri)
            } else {
                out.add("SOCIALPROFILE", p + [.init("VALUE", "text")], ContentLines.text(service["user"]?.stringValue ?? ""))
            }
        }
        for (key, lang) in entries(c, "preferredLanguages", &handled) {
            out.add("LANG", params(lang, key), lang["language"]?.stringValue ?? "")
        }
        for (key, cal) in entries(c, "calendars", &handled) {
            out.add(cal["kind"]?.stringValue == "freeBusy" ? "FBURL" : "CALURI", params(cal, key), cal["uri"]?.stringValue ?? "")
        }
        for (key, addr) in entries(c, "schedulingAddresses", &handled) {
            out.add("CALADRURI", params(addr, key), addr["uri"]?.stringValue ?? "")
        }
        for (key, k) in entries(c, "cryptoKeys", &handled) { out.add("KEY", params(k, key), k["uri"]?.stringValue ?? "") }
        for (key, d) in entries(c, "directories", &handled) {
            out.add(d["kind"]?.stringValue == "entry" ? "SOURCE" : "ORG-DIRECTORY", params(d, key), d["uri"]?.stringValue ?? "")
        }
        for (key, a) in entries(c, "anniversaries", &handled) {
            let name = ["birth": "BDAY", "death": "DEATHDATE"][a["kind"]?.stringValue ?? ""] ?? "ANNIVERSARY"
            let (value, isText) = anniversary(a["date"])
            out.add(name, params(a, key, types: []) + (isText ? [.init("VALUE", "text")] : []), value)
        }
        for (key, note) in entries(c, "notes", &handled) {
            var p = params(note, key)
            if let author = note["author"]?["name"]?.stringValue { p.append(.init("AUTHOR-NAME", author)) }
            out.add("NOTE", p, ContentLines.text(note["note"]?.stringValue ?? ""))
        }
        handled.insert("keywords")
        let keywords = (c["keywords"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys.sorted()
        if !keywords.isEmpty { out.add("CATEGORIES", keywords.map(ContentLines.text).joined(separator: ",")) }
        handled.insert("members")
        for member in (c["members"]?.objectValue ?? [:]).filter({ $0.value.boolValue == true }).keys.sorted() {
            out.add("MEMBER", memberURI(member))
        }
        handled.insert("relatedTo")
        for (uid, rel) in (c["relatedTo"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let types = (rel["relation"]?.objectValue ?? [:]).keys.sorted()
            out.add("RELATED", types.isEmpty ? [] : [.init("TYPE", list: types)], uid)
        }
        // jCard properties kept from an earlier vCard (RFC 9555 §2.15.1), written back as they were.
        for prop in c["vCardProps"]?.arrayValue ?? [] {
            guard let a = prop.arrayValue, a.count >= 4, let pname = a[0].stringValue else { continue }
            let p = (a[1].objectValue ?? [:]).sorted { $0.key < $1.key }.map { ContentLines.Param($0.key.uppercased(), $0.value.stringValue ?? "") }
            let values = a[3...].map { $0.stringValue ?? String(decoding: $0.encoded(), as: UTF8.self) }
            out.add(pname.uppercased(), p, values.map(ContentLines.text).joined(separator: ","))
        }
        for key in (c.objectValue ?? [:]).keys.sorted() where !handled.contains(key) {
            let json = String(decoding: c[key]!.encoded(), as: UTF8.self)
            out.add("JSPROP", [.init("JSPTR", key)], ContentLines.text(json))
        }
        out.end("VCARD")
        return out.text
    }

    /// A Cyrus or Fastmail legacy `Contact` (the server's own vCard is preferred when it has one).
    public static func legacyContact(_ c: JSONValue) -> String {
        var out = ContentLines()
        out.begin("VCARD")
        out.add("VERSION", "4.0")
        if let uid = c["uid"]?.stringValue { out.add("UID", uid) }
        func s(_ k: String) -> String { c[k]?.stringValue ?? "" }
        let fn = [s("prefix"), s("firstName"), s("lastName"), s("suffix")].filter { !$0.isEmpty }.joined(separator: " ")
        out.add("FN", ContentLines.text(fn.isEmpty ? s("company") : fn))
        out.add("N", [s("lastName"), s("firstName"), "", s("prefix"), s("suffix")].map(ContentLines.text).joined(separator: ";"))
        if !s("nickname").isEmpty { out.add("NICKNAME", ContentLines.text(s("nickname"))) }
        if !s("company").isEmpty || !s("department").isEmpty {
            out.add("ORG", [s("company"), s("department")].map(ContentLines.text).joined(separator: ";"))
        }
        if !s("jobTitle").isEmpty { out.add("TITLE", ContentLines.text(s("jobTitle"))) }
        for e in c["emails"]?.arrayValue ?? [] {
            out.add("EMAIL", legacyParams(e), ContentLines.text(e["value"]?.stringValue ?? ""))
        }
        for p in c["phones"]?.arrayValue ?? [] {
            out.add("TEL", legacyParams(p), ContentLines.text(p["value"]?.stringValue ?? ""))
        }
        for o in c["online"]?.arrayValue ?? [] {
            let type = o["type"]?.stringValue ?? "other"
            out.add(type == "uri" ? "URL" : "IMPP", [], o["value"]?.stringValue ?? "")
        }
        for a in c["addresses"]?.arrayValue ?? [] {
            let fields = ["", "", a["street"]?.stringValue ?? "", a["locality"]?.stringValue ?? "", a["region"]?.stringValue ?? "",
                          a["postcode"]?.stringValue ?? "", a["country"]?.stringValue ?? ""]
            out.add("ADR", legacyParams(a), fields.map(ContentLines.text).joined(separator: ";"))
        }
        for (prop, key) in [("BDAY", "birthday"), ("ANNIVERSARY", "anniversary")] {
            if let d = c[key]?.stringValue, d != "0000-00-00", !d.isEmpty { out.add(prop, legacyDate(d)) }
        }
        if !s("notes").isEmpty { out.add("NOTE", ContentLines.text(s("notes"))) }
        out.end("VCARD")
        return out.text
    }

    /// A legacy `ContactGroup` in the form Cyrus itself stores and CardDAV serves groups (Apple's
    /// vCard 3.0 group: `X-ADDRESSBOOKSERVER-KIND`, members as `urn:uuid:` + uid). Cyrus gives no
    /// blob for a group, so this conversion is the file; `memberUIDs` are the uids of its contacts.
    /// Members that are not `urn:uuid:` references (a bare address) never reach JMAP and are lost.
    public static func legacyGroup(_ g: JSONValue, memberUIDs: [String]) -> String {
        let name = ContentLines.text(g["name"]?.stringValue ?? "")
        var out = ContentLines()
        out.begin("VCARD")
        out.add("VERSION", "3.0")
        if let uid = g["uid"]?.stringValue { out.add("UID", uid) }
        out.add("N", name + ";;;;")
        out.add("FN", name)
        out.add("X-ADDRESSBOOKSERVER-KIND", "group")
        for uid in memberUIDs.sorted() { out.add("X-ADDRESSBOOKSERVER-MEMBER", "urn:uuid:" + uid) }
        out.end("VCARD")
        return out.text
    }

    // MARK: Pieces

    static func entries(_ c: JSONValue, _ key: String, _ handled: inout Set<String>) -> [(String, JSONValue)] {
        handled.insert(key)
        return (c[key]?.objectValue ?? [:]).sorted { $0.key < $1.key }
    }

    /// PROP-ID keeps the JSContact map key (RFC 9555 §2.1.2); contexts become TYPE, pref PREF.
    static func params(_ v: JSONValue, _ key: String, types extra: [String] = []) -> [ContentLines.Param] {
        var out: [ContentLines.Param] = [.init("PROP-ID", key)]
        let contexts = (v["contexts"]?.objectValue ?? [:]).keys.sorted().map { $0 == "private" ? "home" : $0 }
        let types = contexts + extra
        if !types.isEmpty { out.append(.init("TYPE", list: types)) }
        if let pref = v["pref"]?.intValue { out.append(.init("PREF", String(pref))) }
        if let label = v["label"]?.stringValue { out.append(.init("LABEL", label)) }
        if let language = v["language"]?.stringValue { out.append(.init("LANGUAGE", language)) }
        return out
    }

    static func addressParams(_ a: JSONValue, _ key: String) -> [ContentLines.Param] {
        var p = params(a, key)
        p.removeAll { $0.name == "LABEL" }
        if let full = a["full"]?.stringValue { p.append(.init("LABEL", full)) }
        if let cc = a["countryCode"]?.stringValue { p.append(.init("CC", cc)) }
        if let geo = a["coordinates"]?.stringValue { p.append(.init("GEO", geo)) }
        if let tz = a["timeZone"]?.stringValue { p.append(.init("TZ", tz)) }
        return p
    }

    /// ADR: post office box; extended; street; locality; region; postal code; country.
    static func adr(_ a: JSONValue) -> String {
        let comps = (a["components"]?.arrayValue ?? []).compactMap { c -> (String, String)? in
            guard let k = c["kind"]?.stringValue, let v = c["value"]?.stringValue else { return nil }
            return (k, v)
        }
        func join(_ kinds: [String], _ sep: String) -> String {
            comps.filter { kinds.contains($0.0) }.map(\.1).joined(separator: sep)
        }
        let fields = [join(["postOfficeBox"], " "), join(["apartment", "room", "floor", "building"], " "),
                      join(["number", "name", "block", "direction", "landmark"], " "),
                      join(["locality", "district", "subdistrict"], " "), join(["region"], " "), join(["postcode"], " "),
                      join(["country"], " ")]
        return fields.map(ContentLines.text).joined(separator: ";")
    }

    static func anniversary(_ d: JSONValue?) -> (String, Bool) {
        guard let d else { return ("", true) }
        if let utc = d["utc"]?.stringValue { return (timestamp(utc), false) }
        let y = d["year"]?.intValue, m = d["month"]?.intValue, day = d["day"]?.intValue
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        switch (y, m, day) {
        case let (y?, m?, day?): return (String(format: "%04d", y) + two(m) + two(day), false)
        case let (nil, m?, day?): return ("--" + two(m) + two(day), false)
        case let (y?, m?, nil): return (String(format: "%04d", y) + "-" + two(m), false)
        case let (y?, nil, nil): return (String(format: "%04d", y), false)
        default: return ("", true)
        }
    }

    /// `2026-01-05T10:00:00Z` → `20260105T100000Z`.
    static func timestamp(_ s: String) -> String {
        s.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
            .replacingOccurrences(of: #"\.\d+"#, with: "", options: .regularExpression)
    }

    /// MEMBER takes a URI; a bare UUID uid becomes `urn:uuid:…`, others are written as they are.
    static func memberURI(_ uid: String) -> String {
        if uid.contains(":") { return uid }
        return UUID(uuidString: uid) != nil ? "urn:uuid:" + uid.lowercased() : uid
    }

    static func legacyParams(_ v: JSONValue) -> [ContentLines.Param] {
        var out: [ContentLines.Param] = []
        if let type = v["type"]?.stringValue, type != "other" {
            out.append(.init("TYPE", ["personal": "home", "mobile": "cell"][type] ?? type))
        }
        if v["isDefault"]?.boolValue == true { out.append(.init("PREF", "1")) }
        if let label = v["label"]?.stringValue, !label.isEmpty { out.append(.init("LABEL", label)) }
        return out
    }

    /// Cyrus writes unknown parts as zeros: `0000-05-17` (no year) or `1980-00-00` (year only).
    static func legacyDate(_ d: String) -> String {
        let parts = d.split(separator: "-").map(String.init)
        guard parts.count == 3 else { return d }
        let (y, m, day) = (parts[0], parts[1], parts[2])
        if y == "0000" { return "--" + m + day }
        if m == "00" { return y }
        if day == "00" { return y + "-" + m }
        return y + m + day
    }
}
