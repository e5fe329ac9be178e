import Foundation
import History
import JMAP
import Store

/// Address books with their contacts, calendars with their events: collections matched by name
/// (created when missing), items by UID (updated when they differ, created when missing). Only
/// what a client may set is sent; server-set properties (ids, blobs, DAV paths) never are.
struct CollectionReplay {
    let items: ItemReplay
    let kind: History.DataKind
    let support: DataTypeSupport

    struct Shape {
        var collection: String?
        /// The property naming an item's collections: a set (`calendarIds`) or one id (`calendarId`).
        var collectionField: String?
        var itemTypes: [String]
        var serverSet: Set<String>
        var collectionProperties: [String]
        /// Sent, but set again by the server on every write: not a difference worth an update.
        var rewritten: Set<String> = []
    }

    var shape: Shape {
        switch (kind, support.dialect) {
        case (.contacts, .ietf):
            Shape(collection: "AddressBook", collectionField: "addressBookIds", itemTypes: ["ContactCard"],
                  serverSet: ["id", "blobId"], collectionProperties: ["name", "description", "sortOrder", "isSubscribed"])
        case (.contacts, _):
            // The vendor dialect has one address book per account and no AddressBook type.
            Shape(collection: nil, collectionField: nil, itemTypes: ["Contact", "ContactGroup"],
                  serverSet: ["id", "blobId", "x-href", "size", "x-hasPhoto", "avatar", "addressbookId"], collectionProperties: [])
        default:
            Shape(collection: "Calendar", collectionField: "calendarIds", itemTypes: ["CalendarEvent"],
                  serverSet: ["id", "blobId", "x-href", "isOrigin", "utcStart", "utcEnd", "baseEventId", "myRights", "calendarId",
                              "calendarIds"],
                  collectionProperties: ["name", "description", "color", "sortOrder", "isVisible", "isSubscribed", "timeZone"],
                  rewritten: ["created", "updated", "sequence"])
        }
    }

    /// Why the source's objects cannot be written as they are, or nil when the dialects agree.
    func dialectMismatch() -> String? {
        let target = support.dialect
        switch kind {
        case .contacts:
            let ietfSource = items.state.items["ContactCard"] != nil
            if ietfSource != (target == .ietf) {
                return "the snapshot holds \(ietfSource ? "RFC 9610 ContactCards" : "vendor Contacts") and the target speaks "
                    + "\(target == .ietf ? "RFC 9610 ContactCard" : "vendor Contact"); translating between them is not implemented yet"
            }
        default:
            let old = items.source("CalendarEvent").contains { $0.json["@type"]?.stringValue == "jsevent" }
            let targetOld = target != .ietf && items.target.support[.calendars]?.note?.contains("pre-RFC") == true
            if old != targetOld {
                return "the snapshot's events are in \(old ? "pre-RFC" : "RFC") JSCalendar and the target expects the other; "
                    + "translating between them is not implemented yet"
            }
        }
        return nil
    }

    func run(_ report: inout KindReport) async throws {
        let shape = self.shape
        let sources: [(type: String, row: VersionRow, json: [String: JSONValue])] = shape.itemTypes.flatMap { type in
            items.source(type).map { (type: type, row: $0.row, json: $0.json) }
        }
        report.planned = sources.count
        if let why = dialectMismatch() {
            report.refused.append(Refusal(kind: kind.rawValue, item: "\(sources.count) objects", reason: why))
            return
        }
        let using = Set([support.capability] + support.alsoAdvertised)
        // Collections by name.
        var collectionMap: [String: String] = [:]
        var toCreateCollections: [(id: String, json: [String: JSONValue])] = []
        if let ctype = shape.collection {
            let existing = try await items.list(ctype, support)
            let byName = Dictionary(existing.compactMap { j in j["name"]?.stringValue.flatMap { n in j["id"]?.stringValue.map { (n, $0) } } },
                                    uniquingKeysWith: { a, _ in a })
            for c in items.source(ctype) {
                if let name = c.json["name"]?.stringValue, let t = byName[name] { collectionMap[c.row.id] = t } else {
                    toCreateCollections.append((c.row.id, c.json.filter { shape.collectionProperties.contains($0.key) }))
                }
            }
        }
        // Items by UID.
        var targetByUid: [String: [String: (id: String, json: [String: JSONValue])]] = [:]
        for type in shape.itemTypes {
            for j in try await items.list(type, support) {
                guard let uid = j["uid"]?.stringValue, let id = j["id"]?.stringValue else { continue }
                targetByUid[type, default: [:]][uid] = (id, j)
            }
        }
        var sourceUid: [String: String] = [:]
        for s in sources { if let uid = s.json["uid"]?.stringValue { sourceUid[s.row.id] = uid } }
        var pending: [(type: String, uid: String, body: [String: JSONValue], existing: String?)] = []
        for s in sources {
            guard let uid = s.json["uid"]?.stringValue else {
                report.refused.append(Refusal(kind: kind.rawValue, item: s.row.id, reason: "it has no UID to match it by"))
                continue
            }
            var body = s.json.filter { !shape.serverSet.contains($0.key) }
            body["uid"] = .string(uid)
            if let existing = targetByUid[s.type]?[uid] {
                let now = existing.json.filter { !shape.serverSet.contains($0.key) }
                if contentEqual(now.filter { !shape.rewritten.contains($0.key) }, body.filter { !shape.rewritten.contains($0.key) },
                                sourceUid: sourceUid, targetByUid: targetByUid) { report.present += 1; continue }
                pending.append((s.type, uid, body, existing.id))
            } else {
                pending.append((s.type, uid, body, nil))
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
                if let id = r["created"]?["c\(n)"]?["id"]?.stringValue { collectionMap[c.id] = id } else if let err = r["notCreated"]?["c\(n)"] {
                    report.refused.append(Refusal(kind: kind.rawValue, item: c.json["name"]?.stringValue ?? c.id,
                                                  reason: "the target refused the \(ctype.lowercased()): " + setErrorText(err)))
                }
            }
        }
        // Contacts before groups, so that a group's members exist when it is written.
        for type in shape.itemTypes {
            let batch = pending.filter { $0.type == type }
            guard !batch.isEmpty else { continue }
            if type != shape.itemTypes[0] {
                for j in try await items.list(shape.itemTypes[0], support) {
                    if let uid = j["uid"]?.stringValue, let id = j["id"]?.stringValue { targetByUid[shape.itemTypes[0], default: [:]][uid] = (id, j) }
                }
            }
            try await write(type, batch, shape: shape, collectionMap: collectionMap, sourceUid: sourceUid, targetByUid: targetByUid,
                            using: using, &report)
        }
        // Read back: every planned UID on the target.
        var verified = 0
        for type in shape.itemTypes {
            let uids = Set(try await items.list(type, support).compactMap { $0["uid"]?.stringValue })
            for s in sources where s.type == type {
                guard let uid = s.json["uid"]?.stringValue else { continue }
                if uids.contains(uid) { verified += 1 } else if !report.refused.contains(where: { $0.item == uid }) {
                    report.verifyFailures.append(Refusal(kind: kind.rawValue, item: uid, reason: "not on the target"))
                }
            }
        }
        report.verified = verified
    }

    private func write(_ type: String, _ batch: [(type: String, uid: String, body: [String: JSONValue], existing: String?)], shape: Shape,
                       collectionMap: [String: String], sourceUid: [String: String],
                       targetByUid: [String: [String: (id: String, json: [String: JSONValue])]], using: Set<String>,
                       _ report: inout KindReport) async throws {
        let chunk = max(1, min(items.target.limits.maxObjectsInSet, 200))
        for start in stride(from: 0, to: batch.count, by: chunk) {
            var create: [String: JSONValue] = [:], update: [String: JSONValue] = [:]
            var uids: [String: String] = [:]
            for (n, p) in batch[start..<min(start + chunk, batch.count)].enumerated() {
                var body = mapReferences(p.body, sourceUid: sourceUid, targetByUid: targetByUid)
                if let field = shape.collectionField, let source = items.source(type).first(where: { $0.json["uid"]?.stringValue == p.uid })?.json {
                    let ids = (source[field]?.objectValue.map { Array($0.keys) } ?? []).compactMap { collectionMap[$0] }
                    if !ids.isEmpty { body[field] = .object(Dictionary(uniqueKeysWithValues: ids.map { ($0, .bool(true)) })) }
                }
                if let id = p.existing {
                    let now = targetByUid[type]?[p.uid]?.json ?? [:]
                    var patch = body
                    for key in now.keys where body[key] == nil && !shape.serverSet.contains(key) { patch[key] = .null }
                    patch["uid"] = nil
                    update[id] = .object(patch)
                    uids[id] = p.uid
                } else {
                    create["i\(n)"] = .object(body)
                    uids["i\(n)"] = p.uid
                }
            }
            var args: [String: JSONValue] = [:]
            if !create.isEmpty { args["create"] = .object(create) }
            if !update.isEmpty { args["update"] = .object(update) }
            // Cyrus sends iMIP invitations for events with participants unless told not to.
            if type == "CalendarEvent" { args["sendSchedulingMessages"] = false }
            let r = try await items.target.call("\(type)/set", args, using: using)
            report.created += r["created"]?.objectValue?.count ?? 0
            report.updated += r["updated"]?.objectValue?.count ?? 0
            var entries: [(source: String, targetId: String)] = []
            for (k, v) in r["created"]?.objectValue ?? [:] {
                if let uid = uids[k], let id = v["id"]?.stringValue { entries.append((uid, id)) }
            }
            try items.catalog.recordJournal(target: items.target.journalKey, kind: type, entries)
            for (k, err) in (r["notCreated"]?.objectValue ?? [:]).merging(r["notUpdated"]?.objectValue ?? [:], uniquingKeysWith: { a, _ in a }) {
                report.refused.append(Refusal(kind: kind.rawValue, item: uids[k] ?? k, reason: "the target refused it: " + setErrorText(err)))
            }
        }
    }

    /// A vendor group names its members by contact id: source ids become target ids through UIDs.
    private func mapReferences(_ body: [String: JSONValue], sourceUid: [String: String],
                               targetByUid: [String: [String: (id: String, json: [String: JSONValue])]]) -> [String: JSONValue] {
        guard let members = body["contactIds"]?.arrayValue else { return body }
        var out = body
        out["contactIds"] = .array(members.compactMap { (m: JSONValue) -> JSONValue? in
            guard let uid = m.stringValue.flatMap({ sourceUid[$0] }), let id = targetByUid["Contact"]?[uid]?.id else { return nil }
            return .string(id)
        })
        return out
    }

    private func contentEqual(_ now: [String: JSONValue], _ want: [String: JSONValue], sourceUid: [String: String],
                              targetByUid: [String: [String: (id: String, json: [String: JSONValue])]]) -> Bool {
        let mapped = mapReferences(want, sourceUid: sourceUid, targetByUid: targetByUid)
        return mapped == now.merging(["uid": mapped["uid"] ?? .null]) { _, b in b }
    }
}
