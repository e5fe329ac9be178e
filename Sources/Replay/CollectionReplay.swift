import Formats
import Digest
import Foundation
import History
import JMAP
import Store

/// Address books with their contacts, calendars with their events: collections matched by name
/// (created when missing), items by UID (updated when they differ, created when missing). Only
/// what a client may set is sent; server-set properties (ids, blobs, DAV paths) never are.
/// Contacts are translated between the vendor dialect and RFC 9610 when source and target differ.
struct CollectionReplay {
    let items: ReplayRun
    let kind: History.DataKind
    let support: DataTypeSupport

    struct Shape {
        var collection: String?
        /// The property naming an item's collections (`calendarIds`, `addressBookIds`).
        var collectionField: String?
        /// Written in this order: a group's members exist before the group.
        var itemTypes: [String]
        var serverSet: Set<String>
        var collectionProperties: [String]
        /// Sent, but set again by the server on every write: not a difference worth an update.
        var rewritten: Set<String> = []
    }

    /// One source object, already in the target's type and dialect.
    struct Item {
        var type: String
        var sourceId: String
        var uid: String
        var body: [String: JSONValue]
        /// Source collection ids (mapped to the target's by name).
        var collections: [String]
        /// Translated from the other dialect: compared by the properties it has.
        var translated: Bool
        /// A contact's photo, carried apart from the body (ContactPhotos.swift). `.absent` for a
        /// contact without one (then the target's is taken away); nil where photos are not carried.
        var photo: PhotoState?
    }

    var shape: Shape {
        switch (kind, support.dialect) {
        case (.contacts, .ietf):
            Shape(collection: "AddressBook", collectionField: "addressBookIds", itemTypes: ["ContactCard"],
                  serverSet: ["id", "blobId", "addressBookIds"], collectionProperties: ["name", "description", "sortOrder", "isSubscribed"],
                  rewritten: ["created", "updated"])
        case (.contacts, _):
            // The vendor dialect has one address book per account and no AddressBook type.
            Shape(collection: nil, collectionField: nil, itemTypes: ["Contact", "ContactGroup"],
                  serverSet: ["id", "blobId", "x-href", "size", "x-hasPhoto", "avatar", "addressbookId"], collectionProperties: [])
        default:
            Shape(collection: "Calendar", collectionField: eventShape == .draft ? "calendarId" : "calendarIds", itemTypes: ["CalendarEvent"],
                  serverSet: ["id", "blobId", "x-href", "isOrigin", "utcStart", "utcEnd", "baseEventId", "myRights", "calendarId",
                              "calendarIds", "participantId", "debugBlobId"],
                  collectionProperties: eventShape == .draft ? ["name", "color", "sortOrder", "isVisible", "isSubscribed"]
                      : ["name", "description", "color", "sortOrder", "isVisible", "isSubscribed", "timeZone"],
                  rewritten: ["created", "updated", "sequence"])
        }
    }

    /// The JSCalendar the target reads: Cyrus (3.8 on) takes only 1.0 names even under the IETF
    /// capability, which it advertises beside its own; Cyrus up to 3.6 has only its own
    /// capability, without `isRFC`, and the drafts' `jsevent`; anything else speaks 2.0.
    var eventShape: EventShape {
        switch support.dialect {
        case .ietf: support.alsoAdvertised.contains(Capability.cyrusCalendars) ? .rfc8984 : .bis
        case .cyrus: support.note?.contains("pre-RFC") == true ? .draft : .rfc8984
        case .fastmail: .rfc8984
        }
    }

    /// The source's objects in the target's dialect; those that cannot be are reported.
    func sourceItems(_ report: inout KindReport) -> [Item] {
        let shape = self.shape
        var out: [Item] = []
        func add(_ type: String, _ row: VersionRow, _ json: [String: JSONValue], translated: Bool, field: String?, photo: PhotoState? = nil) {
            guard let uid = json["uid"]?.stringValue else {
                report.refused.append(Refusal(kind: kind.rawValue, item: row.id, reason: "it has no UID to match it by"))
                return
            }
            // A map of ids, or the drafts' one `calendarId`.
            let collections = field.map { json[$0]?.objectValue.map { Array($0.keys) } ?? json["calendarId"]?.stringValue.map { [$0] } ?? [] } ?? []
            var body = json.filter { !shape.serverSet.contains($0.key) }
            if type == "ContactCard" { body = Self.withoutCarriedPhotos(body) }
            body["uid"] = .string(uid)
            out.append(Item(type: type, sourceId: row.id, uid: Self.matchKey(json, uid: uid), body: body, collections: collections,
                            translated: translated, photo: photo))
        }
        switch kind {
        case .contacts:
            let sourceIETF = items.state.items["ContactCard"] != nil
            let targetIETF = support.dialect == .ietf
            if sourceIETF == targetIETF {
                for type in shape.itemTypes {
                    for s in items.source(type) {
                        let photo = type == "Contact" ? vendorPhoto(s.row, s.json)
                            : type == "ContactCard" && !ContactTranslation.isGroup(s.json) ? cardPhoto(s.row, s.json) : nil
                        add(type, s.row, s.json, translated: false, field: shape.collectionField, photo: photo)
                    }
                }
            } else if targetIETF {
                let contacts = items.source("Contact")
                let uidOf = Dictionary(contacts.compactMap { c in c.json["uid"]?.stringValue.map { (c.row.id, $0) } }, uniquingKeysWith: { a, _ in a })
                for c in contacts {
                    add("ContactCard", c.row, ContactTranslation.card(fromContact: c.json), translated: true, field: nil, photo: vendorPhoto(c.row, c.json))
                }
                for g in items.source("ContactGroup") {
                    let members = (g.json["contactIds"]?.arrayValue ?? []).compactMap(\.stringValue).map { uidOf[$0] ?? $0 }
                    add("ContactCard", g.row, ContactTranslation.card(fromGroup: g.json, memberUids: members), translated: true, field: nil)
                }
            } else {
                let cards = items.source("ContactCard")
                for c in cards where !ContactTranslation.isGroup(c.json) {
                    add("Contact", c.row, ContactTranslation.contact(fromCard: c.json), translated: true, field: nil, photo: cardPhoto(c.row, c.json))
                }
                for c in cards where ContactTranslation.isGroup(c.json) {
                    add("ContactGroup", c.row, ContactTranslation.group(fromCard: c.json), translated: true, field: nil)
                }
            }
        default:
            let target = eventShape
            for s in items.source("CalendarEvent") {
                let uid = s.json["uid"]?.stringValue ?? s.row.id
                let from = EventTranslation.shape(of: s.json)
                var event = s.json
                if from != target, from != nil || target == .draft {
                    do { event = try EventTranslation.translate(s.json, to: target) } catch let e as Untranslatable {
                        report.refused.append(Refusal(kind: kind.rawValue, item: uid,
                                                      reason: "it cannot be said in \(target.name), the target's JSCalendar: \(e.reason)"))
                        continue
                    } catch { continue }
                }
                if target == .draft, !(event["participants"]?.objectValue ?? [:]).isEmpty {
                    // Cyrus up to 3.6 has no `sendSchedulingMessages` and invites every
                    // participant of an event it stores (setcalendarevents_schedule).
                    report.refused.append(Refusal(kind: kind.rawValue, item: uid, reason:
                        "it has participants, and the target (pre-RFC JSCalendar) would send them invitations: it cannot be told not to"))
                    continue
                }
                // Compared as any event is: the translation gives the target's own names.
                add("CalendarEvent", s.row, event, translated: false, field: "calendarIds")
            }
        }
        return out
    }

    func run(_ report: inout KindReport) async throws {
        let shape = self.shape
        let sources = sourceItems(&report)
        report.planned = sources.count + report.refused.count
        let using = Set([support.capability] + support.alsoAdvertised)

        // Collections by name; items that name none go to the target's default one.
        var collectionMap: [String: String] = [:]
        var toCreateCollections: [(id: String, json: [String: JSONValue])] = []
        var fallbackCollection: String?
        if let ctype = shape.collection {
            let existing = try await items.list(ctype, support)
            var byName: [String: String] = [:]
            for j in existing { if let n = j["name"]?.stringValue, let id = j["id"]?.stringValue, byName[n] == nil { byName[n] = id } }
            for c in items.source(ctype) {
                if let name = c.json["name"]?.stringValue, let t = byName[name] { collectionMap[c.row.id] = t } else {
                    toCreateCollections.append((c.row.id, c.json.filter { shape.collectionProperties.contains($0.key) }))
                }
            }
            fallbackCollection = (existing.first { $0["isDefault"]?.boolValue == true } ?? existing.first)?["id"]?.stringValue
            if fallbackCollection == nil, sources.contains(where: { $0.collections.isEmpty }) {
                toCreateCollections.append(("", ["name": .string(kind == .contacts ? "Contacts" : "Calendar")]))
            }
        }
        var targetByUid = try await inventory(shape)
        var cardPhotos = try await targetCardPhotos(shape, targetByUid)
        let sourceUid = Dictionary(sources.map { ($0.sourceId, $0.uid) }, uniquingKeysWith: { a, _ in a })
        var pending: [(item: Item, existing: String?)] = []
        var settled: [String: [String: String]] = [:]
        for type in shape.itemTypes { settled[type] = try items.catalog.settled(target: items.target.journalKey, kind: type) }
        for s in sources {
            if let existing = targetByUid[s.type]?[s.uid] {
                if same(existing.json, s, shape: shape, sourceUid: sourceUid, targetByUid: targetByUid) && Self.samePhoto(existing.json, s, cardPhotos: cardPhotos)
                    || settled[s.type]?[s.uid] == Self.fingerprint(s, existing.json) {
                    report.present += 1
                    continue
                }
                pending.append((s, existing.id))
            } else {
                pending.append((s, nil))
            }
        }
        report.toCreate = pending.filter { $0.existing == nil }.count
        report.toUpdate = pending.count - report.toCreate
        if items.options.dryRun { return }

        if let ctype = shape.collection, !toCreateCollections.isEmpty {
            var create: [String: JSONValue] = [:]
            for (n, c) in toCreateCollections.enumerated() { create["c\(n)"] = .object(c.json) }
            let r = try await items.target.call("\(ctype)/set", ["create": .object(create)], using: using)
            for (n, c) in toCreateCollections.enumerated() {
                if let id = r["created"]?["c\(n)"]?["id"]?.stringValue {
                    if c.id.isEmpty { fallbackCollection = id } else { collectionMap[c.id] = id }
                } else if let err = r["notCreated"]?["c\(n)"] {
                    report.refused.append(Refusal(kind: kind.rawValue, item: c.json["name"]?.stringValue ?? c.id,
                                                  reason: "the target refused the \(ctype.lowercased()): " + setErrorText(err)))
                }
            }
        }
        for type in shape.itemTypes {
            let batch = pending.filter { $0.item.type == type }
            guard !batch.isEmpty else { continue }
            let written = try await write(type, batch, shape: shape, cardPhotos: cardPhotos, collections: { ids in
                let mapped = ids.compactMap { collectionMap[$0] }
                return mapped.isEmpty ? fallbackCollection.map { [$0] } ?? [] : mapped
            }, sourceUid: sourceUid, targetByUid: targetByUid, using: using, &report)
            // What was just written is what the next type (a group) refers to.
            targetByUid = try await inventory(shape)
            cardPhotos = try await targetCardPhotos(shape, targetByUid)
            // Both sides as they are now: a rerun leaves the item alone until one of them changes,
            // even where the target rewrote what it was sent.
            try items.catalog.recordSettled(target: items.target.journalKey, kind: type, batch.filter { written.contains($0.item.uid) }.compactMap { p in
                targetByUid[type]?[p.item.uid].map { (p.item.uid, Self.fingerprint(p.item, $0.json)) }
            })
        }
        var verified = 0
        for s in sources {
            if targetByUid[s.type]?[s.uid] != nil { verified += 1 } else if !report.refused.contains(where: { $0.item == s.uid }) {
                report.verifyFailures.append(Refusal(kind: kind.rawValue, item: s.uid, reason: "not on the target"))
            }
        }
        report.verified = verified
    }

    private func inventory(_ shape: Shape) async throws -> [String: [String: (id: String, json: [String: JSONValue])]] {
        var out: [String: [String: (id: String, json: [String: JSONValue])]] = [:]
        for type in shape.itemTypes {
            for j in try await items.list(type, support) {
                guard let uid = j["uid"]?.stringValue, let id = j["id"]?.stringValue else { continue }
                out[type, default: [:]][Self.matchKey(j, uid: uid)] = (id, j)
            }
        }
        return out
    }

    /// The source item and the target's object, as one SHA-256 of their canonical JSON.
    static func fingerprint(_ s: Item, _ target: [String: JSONValue]) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = ((try? e.encode(JSONValue.object(s.body))) ?? Data()) + Data("\n".utf8) + ((try? e.encode(JSONValue.object(target))) ?? Data())
        // The photo travels apart from the body: a new photo is a change too.
        if case let .present(p)? = s.photo { bytes += Data("\nphoto \(p.sha256)".utf8) }
        return SHA256Hasher.hex(of: bytes)
    }

    /// What an item is matched by: its UID, and for an event its recurrenceId too (a calendar
    /// resource holding only overrides, no master, is one event per overridden instance).
    static func matchKey(_ json: [String: JSONValue], uid: String) -> String {
        json["recurrenceId"]?.stringValue.map { uid + "#" + $0 } ?? uid
    }

    /// Whether the target already holds the item as the snapshot has it. A translation is compared
    /// by the properties it sets (the target fills in its own defaults for the rest). A property
    /// the source leaves out that the target fills in on every write (Cyrus: `prodId`, `replyTo`
    /// of an event with participants) is the target's default, not a difference; neither is `@type`.
    private func same(_ target: [String: JSONValue], _ s: Item, shape: Shape, sourceUid: [String: String],
                      targetByUid: [String: [String: (id: String, json: [String: JSONValue])]]) -> Bool {
        let want = Self.normalized(mapReferences(s.body, sourceUid: sourceUid, targetByUid: targetByUid).filter { !shape.rewritten.contains($0.key) })
        let now = Self.normalized(target.filter { !shape.serverSet.contains($0.key) && !shape.rewritten.contains($0.key) })
        if s.translated { return Self.roundTrip(want, s.type) == Self.roundTrip(now, s.type) }
        var seen = now.merging(["uid": want["uid"] ?? .null]) { _, b in b }
        for (k, v) in now where (want[k] ?? .null).isNull && !v.isNull { seen[k] = want[k] }  // the target's default
        return Self.untyped(.object(want)) == Self.untyped(.object(seen))
    }

    static let zoneKeys: Set<String> = ["timeZone", "endTimeZone", "recurrenceIdTimeZone"]

    /// A value without its `@type` members, which say nothing a property's place does not, and
    /// with UTC named one way (Cyrus writes a location's `Etc/UTC` back as `UTC`).
    static func untyped(_ v: JSONValue) -> JSONValue {
        switch v {
        case let .object(o):
            var out: [String: JSONValue] = [:]
            for (k, value) in o where k != "@type" {
                out[k] = zoneKeys.contains(k) && value.stringValue == "UTC" ? .string("Etc/UTC") : untyped(value)
            }
            return .object(out)
        case let .array(a): return .array(a.map(untyped))
        default: return v
        }
    }

    /// A translated object, and the target's copy of it, through both translations: what survives
    /// is what the two dialects can both say, in one spelling, so that a server's own defaults and
    /// orderings are not mistaken for differences.
    static func roundTrip(_ o: [String: JSONValue], _ type: String) -> [String: JSONValue] {
        switch type {
        case "Contact": return ContactTranslation.contact(fromCard: ContactTranslation.card(fromContact: o))
        case "ContactGroup":
            let members = (normalized(o)["contactIds"]?.arrayValue ?? []).compactMap(\.stringValue).sorted()
            return ["uid": o["uid"] ?? .null, "name": o["name"] ?? .null, "contactIds": .strings(members)]
        default:
            if ContactTranslation.isGroup(o) {
                let g = ContactTranslation.group(fromCard: o)
                return ContactTranslation.card(fromGroup: g, memberUids: (g["contactIds"]?.arrayValue ?? []).compactMap(\.stringValue))
            }
            return ContactTranslation.card(fromContact: ContactTranslation.contact(fromCard: o))
        }
    }

    /// Cyrus stores a group member as `MEMBER:urn:uuid:<id>` and reports the id without the
    /// prefix: the same member either way.
    static func normalized(_ o: [String: JSONValue]) -> [String: JSONValue] {
        guard let members = o["contactIds"]?.arrayValue else { return o }
        var out = o
        out["contactIds"] = .array(members.map { m in
            m.stringValue.map { .string($0.hasPrefix("urn:uuid:") ? String($0.dropFirst(9)) : $0) } ?? m
        })
        return out
    }

    private func write(_ type: String, _ batch: [(item: Item, existing: String?)], shape: Shape, cardPhotos: [String: String],
                       collections: ([String]) -> [String],
                       sourceUid: [String: String], targetByUid: [String: [String: (id: String, json: [String: JSONValue])]],
                       using: Set<String>, _ report: inout KindReport) async throws -> Set<String> {
        let chunk = max(1, min(items.target.limits.maxObjectsInSet, 200))
        var written = Set<String>()
        for start in stride(from: 0, to: batch.count, by: chunk) {
            var create: [String: JSONValue] = [:], update: [String: JSONValue] = [:]
            var uids: [String: String] = [:]
            for (n, p) in batch[start..<min(start + chunk, batch.count)].enumerated() {
                var body = mapReferences(p.item.body, sourceUid: sourceUid, targetByUid: targetByUid)
                if let field = shape.collectionField {
                    let ids = collections(p.item.collections)
                    if field == "calendarId", let id = ids.first { body[field] = .string(id) } else if !ids.isEmpty {
                        body[field] = .object(Dictionary(uniqueKeysWithValues: ids.map { ($0, .bool(true)) }))
                    }
                }
                if let id = p.existing {
                    var patch = body
                    if !p.item.translated {
                        let now = targetByUid[type]?[p.item.uid]?.json ?? [:]
                        for key in now.keys where body[key] == nil && !shape.serverSet.contains(key) && !shape.rewritten.contains(key) {
                            patch[key] = .null
                        }
                    }
                    patch["uid"] = nil
                    let now = targetByUid[type]?[p.item.uid]?.json ?? [:]
                    let samePhoto = Self.samePhoto(now, p.item, cardPhotos: cardPhotos)
                    if type == "ContactCard", p.item.photo != nil {
                        // A card's photo lives among its media: the source's other media, and
                        // the target's photo where it is already the right one.
                        var media = body["media"]?.objectValue ?? [:]
                        if samePhoto { for (k, v) in Self.carriedPhotos(now) { media[k] = v } } else if let m = try await uploadPhoto(p.item, &report) {
                            media["photo"] = m
                        }
                        patch["media"] = media.isEmpty ? .null : .object(media)
                    } else {
                        if p.item.photo == .absent, !(now["avatar"]?.isNull ?? true) { patch["avatar"] = .null }
                        if !samePhoto, let avatar = try await uploadPhoto(p.item, &report) { patch["avatar"] = avatar }
                    }
                    update[id] = .object(patch)
                    uids[id] = p.item.uid
                } else {
                    if let photo = try await uploadPhoto(p.item, &report) {
                        if type == "ContactCard" {
                            var media = body["media"]?.objectValue ?? [:]
                            media["photo"] = photo
                            body["media"] = .object(media)
                        } else {
                            body["avatar"] = photo
                        }
                    }
                    create["i\(n)"] = .object(body)
                    uids["i\(n)"] = p.item.uid
                }
            }
            var args: [String: JSONValue] = [:]
            if !create.isEmpty { args["create"] = .object(create) }
            if !update.isEmpty { args["update"] = .object(update) }
            // Cyrus sends iMIP invitations for events with participants unless told not to.
            // (The drafts' Cyrus refuses the argument; events it would schedule are not sent to it.)
            if type == "CalendarEvent", eventShape != .draft { args["sendSchedulingMessages"] = false }
            let r = try await items.target.call("\(type)/set", args, using: using)
            report.created += r["created"]?.objectValue?.count ?? 0
            report.updated += r["updated"]?.objectValue?.count ?? 0
            var entries: [(source: String, targetId: String)] = []
            for (k, v) in r["created"]?.objectValue ?? [:] {
                if let uid = uids[k], let id = v["id"]?.stringValue { entries.append((uid, id)) }
            }
            for k in (r["updated"]?.objectValue ?? [:]).keys { if let uid = uids[k] { entries.append((uid, k)) } }
            try items.catalog.recordJournal(target: items.target.journalKey, kind: type, entries)
            written.formUnion(entries.map(\.source))
            for (k, err) in (r["notCreated"]?.objectValue ?? [:]).merging(r["notUpdated"]?.objectValue ?? [:], uniquingKeysWith: { a, _ in a }) {
                report.refused.append(Refusal(kind: kind.rawValue, item: uids[k] ?? k, reason: "the target refused it: " + setErrorText(err)))
            }
        }
        return written
    }

    /// A vendor group names its members by contact id: source ids (or, from a translation, UIDs)
    /// become the target's ids through UIDs.
    private func mapReferences(_ body: [String: JSONValue], sourceUid: [String: String],
                               targetByUid: [String: [String: (id: String, json: [String: JSONValue])]]) -> [String: JSONValue] {
        guard let members = body["contactIds"]?.arrayValue else { return body }
        var out = body
        out["contactIds"] = .array(members.compactMap { (m: JSONValue) -> JSONValue? in
            guard let s = m.stringValue, let id = targetByUid["Contact"]?[sourceUid[s] ?? s]?.id else { return nil }
            return .string(id)
        })
        return out
    }
}
