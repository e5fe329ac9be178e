import Foundation
import JMAP
import Logging
import Store

/// One JMAP data type besides mail that the mirror keeps, and the view its objects appear in.
struct ItemType: Sendable, Equatable {
    var name: String
    var capability: String
    var view: String
    /// `/changes` exists: deltas by state string. Otherwise the type is listed in full every sync
    /// and diffed against the catalog (Sieve scripts, identities, the vacation response).
    var hasChanges: Bool
    var alsoUsing: [String] = []

    var using: Set<String> { Set([capability] + alsoUsing) }
}

/// What one sync did to one data type.
public struct ItemCounts: Codable, Sendable, Equatable {
    public var created = 0
    public var updated = 0
    public var destroyed = 0
    public var total = 0
}

/// Contacts, calendars, Sieve scripts, identities and the vacation response of one account, by the
/// same rules as mail: the exact JSON into the catalog, blobs into the store, states advanced in the
/// transaction that stores what they cover, views rendered from the catalog afterwards.
///
/// The calls of the first round ride in the mail delta request (`plan` then `absorb`), so a sync
/// with no changes stays one API request; further rounds (more changes, a resync) go alone.
final class ItemSync: @unchecked Sendable {
    let name: String
    let client: JMAPClient
    let store: MirrorStore
    let logger: Logger
    let accountId: String
    let origin: String
    let blobCapability: String?
    let types: [ItemType]
    private(set) var counts: [String: ItemCounts] = [:]
    private(set) var failed: [String] = []
    private(set) var blobsDownloaded = 0
    private(set) var bytesDownloaded: Int64 = 0
    /// Types whose next round must list everything (no state yet, or the server lost ours).
    private var needsFullListing: Set<String> = []
    /// Types with more changes to fetch in another round.
    private var pending: Set<String> = []
    private var planned = false

    init(name: String, client: JMAPClient, store: MirrorStore, logger: Logger, accountId: String, origin: String,
         blobCapability: String?, support: [DataKind: DataTypeSupport]) {
        self.name = name
        self.client = client
        self.store = store
        self.logger = logger
        self.accountId = accountId
        self.origin = origin
        self.blobCapability = blobCapability
        types = ItemSync.types(for: support)
    }

    /// The data types to mirror, in the dialect the account speaks. Collections come before their
    /// items so a round never stores an item whose collection it has not seen.
    static func types(for support: [DataKind: DataTypeSupport]) -> [ItemType] {
        var out: [ItemType] = []
        for (kind, view) in [(DataKind.contacts, "contacts"), (.calendars, "calendars"), (.sieve, "sieve"),
                             (.identities, "identities"), (.vacation, "vacation")] {
            guard let s = support[kind] else { continue }
            for t in s.types {
                // Identity/changes is optional in practice (Cyrus 3.10 answers unknownMethod) and
                // identities are few: listing them costs less than a second request.
                let changes = s.hasChanges && kind != .identities
                out.append(ItemType(name: t, capability: s.capability, view: view, hasChanges: changes, alsoUsing: s.alsoAdvertised))
            }
        }
        return out
    }

    /// Data kinds this account has none of, for the summary ("reported, not an error").
    static func missingKinds(_ support: [DataKind: DataTypeSupport]) -> [String] {
        [DataKind.contacts, .calendars, .sieve, .identities, .vacation].filter { support[$0] == nil }.map(\.rawValue)
    }

    // MARK: Rounds

    struct Planned {
        var type: ItemType
        var changes: Call?
        var created: Call?
        var updated: Call?
        var full: Call?
    }

    /// Adds this round's calls to `request`: `/changes` with the changed objects by reference where
    /// a state is known, a full `/get` otherwise.
    func plan(into request: inout Request, only: Set<String>? = nil) throws -> [Planned] {
        planned = true
        var out: [Planned] = []
        for t in types where only?.contains(t.name) ?? true {
            request.using.formUnion(t.using)
            let account: [String: JSONValue] = ["accountId": .string(accountId)]
            let state = try store.catalog.state(account: name, type: t.name)
            if t.hasChanges, let state, !needsFullListing.contains(t.name) {
                var args = account
                args["sinceState"] = .string(state)
                args["maxChanges"] = 1000
                let c = request.add("\(t.name)/changes", args)
                let g1 = request.add("\(t.name)/get", account, references: ["ids": c.reference("/created")])
                let g2 = request.add("\(t.name)/get", account, references: ["ids": c.reference("/updated")])
                out.append(Planned(type: t, changes: c, created: g1, updated: g2))
            } else {
                var args = account
                args["ids"] = .null
                out.append(Planned(type: t, full: request.add("\(t.name)/get", args)))
            }
        }
        return out
    }

    /// Stores what a round's response says, one transaction per type.
    func absorb(_ response: Response, _ planned: [Planned]) async throws {
        for p in planned {
            let t = p.type
            do {
                if let full = p.full {
                    let r = try response.result(of: full)
                    try await storeListing(t, list: r["list"]?.arrayValue ?? [], state: r["state"]?.stringValue)
                } else if let c = p.changes, let g1 = p.created, let g2 = p.updated {
                    let changes = try response.result(of: c)
                    let objects = (try response.result(of: g1)["list"]?.arrayValue ?? []) + (try response.result(of: g2)["list"]?.arrayValue ?? [])
                    let destroyed = (changes["destroyed"]?.arrayValue ?? []).compactMap(\.stringValue)
                    try await storeChanges(t, objects: objects, destroyed: destroyed, state: changes["newState"]?.stringValue)
                    if changes["hasMoreChanges"]?.boolValue == true { pending.insert(t.name) }
                }
            } catch let e as JMAPError where e.methodErrorType == MethodError.cannotCalculateChanges
                || e.methodErrorType == MethodError.invalidArguments {
                logger.notice("\(name): \(t.name): \(e); listing in full")
                needsFullListing.insert(t.name)
                pending.insert(t.name)
            } catch let e as JMAPError where e.methodErrorType == "requestTooLarge" && p.full != nil {
                try await storePagedListing(t)
            }
        }
    }

    /// Rounds on their own until every type is up to date; then blobs that failed earlier.
    func finish() async throws {
        if !planned { pending = Set(types.map(\.name)) }
        planned = true
        while !pending.isEmpty {
            let only = pending
            pending = []
            var request = Request(using: [])
            let planned = try plan(into: &request, only: only)
            needsFullListing.subtract(only)
            try await absorb(try await client.send(request), planned)
        }
        try await retryPendingBlobs()
    }

    // MARK: Storing

    /// A full listing: everything not listed is gone. Nothing is written when nothing differs.
    func storeListing(_ t: ItemType, list: [JSONValue], state: String?) async throws {
        let existing = try store.catalog.items(account: name, type: t.name)
        var round = CatalogRound(account: name)
        var c = counts[t.name] ?? ItemCounts()
        var ids = Set<String>()
        var changed: [ItemRow] = []
        for o in list {
            guard let id = o["id"]?.stringValue else { continue }
            ids.insert(id)
            let json = o.encoded()
            if let old = existing[id] {
                if old.json == json { continue }
                c.updated += 1
            } else {
                c.created += 1
            }
            changed.append(ItemRow(type: t.name, id: id, json: json))
        }
        let gone = existing.keys.filter { !ids.contains($0) }
        c.destroyed += gone.count
        c.total = ids.count
        counts[t.name] = c
        let storedState = try store.catalog.state(account: name, type: t.name)
        guard !changed.isEmpty || !gone.isEmpty || (t.hasChanges && state != storedState) else { return }
        round.upsertItems = try await withBlobs(changed)
        round.keepOnlyItems[t.name] = ids
        if t.hasChanges, let state { round.states[t.name] = state }
        if !changed.isEmpty || !gone.isEmpty { round.dirtyViews.insert(t.view) }
        try commit(round)
    }

    func storeChanges(_ t: ItemType, objects: [JSONValue], destroyed: [String], state: String?) async throws {
        // A delta touches few objects: ask the catalog about those only, never list the type.
        let ids = objects.compactMap { $0["id"]?.stringValue }
        let (existing, count) = try store.catalog.itemPresence(account: name, type: t.name, ids: ids + destroyed)
        var c = counts[t.name] ?? ItemCounts()
        let rows = objects.compactMap { o in o["id"]?.stringValue.map { ItemRow(type: t.name, id: $0, json: o.encoded()) } }
        let added = rows.filter { !existing.contains($0.id) }.count
        let gone = destroyed.filter { existing.contains($0) }.count
        c.created += added
        c.updated += rows.count - added
        c.destroyed += gone
        c.total = count + added - gone
        counts[t.name] = c
        let storedState = try store.catalog.state(account: name, type: t.name)
        guard !rows.isEmpty || !destroyed.isEmpty || state != storedState else { return }
        var round = CatalogRound(account: name)
        round.upsertItems = try await withBlobs(rows)
        round.destroyItems = destroyed.map { ItemKey(type: t.name, id: $0) }
        if let state { round.states[t.name] = state }
        if !rows.isEmpty || gone > 0 { round.dirtyViews.insert(t.view) }
        try commit(round)
    }

    /// For a type too large for one `/get`: its state first, then ids by `/query`, then objects in
    /// chunks the client splits by `maxObjectsInGet`.
    func storePagedListing(_ t: ItemType) async throws {
        var first = Request(using: t.using)
        let s = first.add("\(t.name)/get", ["accountId": .string(accountId), "ids": []])
        let state = try await client.send(first).result(of: s)["state"]?.stringValue
        var ids: [String] = []
        while true {
            var page = Request(using: t.using)
            let q = page.add("\(t.name)/query", ["accountId": .string(accountId), "position": .int(Int64(ids.count)), "limit": 1000])
            let got = (try await client.send(page).result(of: q)["ids"]?.arrayValue ?? []).compactMap(\.stringValue)
            if got.isEmpty { break }
            ids += got
        }
        let list = try await client.get(t.name, accountId: accountId, ids: ids, using: t.using).list
        try await storeListing(t, list: list, state: state)
        // Whatever changed while we listed comes with the next /changes.
        if t.hasChanges { pending.insert(t.name) }
    }

    /// Every blob an object names (a vCard, an iCalendar file, a script body, a photo), fetched
    /// into the store before the object's row is committed. Failures leave the row marked, to retry.
    func withBlobs(_ rows: [ItemRow]) async throws -> [ItemRow] {
        var wanted: [String: [BlobFetcher.Item]] = [:]
        for row in rows {
            guard let json = try? JSONValue.decode(row.json) else { continue }
            wanted[row.id] = ItemSync.blobs(in: json)
        }
        let all = wanted.values.flatMap { $0 }
        guard !all.isEmpty else { return rows }
        let fetcher = await BlobFetcher.forAccount(client: client, store: store, origin: origin, accountId: accountId,
                                                   blobCapability: blobCapability)
        let result = try await fetcher.fetch(all) { _, _ in }
        blobsDownloaded += result.downloaded
        bytesDownloaded += result.bytes
        for (blobId, why) in result.failed { failed.append("blob \(blobId): \(why)") }
        return rows.map { row in
            var r = row
            r.blobsPending = (wanted[row.id] ?? []).contains { result.sha256[$0.blobId] == nil }
            return r
        }
    }

    /// `blobId` values anywhere in an object, with the `size` beside them where the server gives one.
    static func blobs(in value: JSONValue) -> [BlobFetcher.Item] {
        switch value {
        case let .object(o):
            var out: [BlobFetcher.Item] = []
            if let id = o["blobId"]?.stringValue { out.append(.init(blobId: id, size: o["size"]?.intValue ?? 0)) }
            for (k, v) in o where k != "blobId" { out += blobs(in: v) }
            return out
        case let .array(a): return a.flatMap(blobs(in:))
        default: return []
        }
    }

    func retryPendingBlobs() async throws {
        let rows = try store.catalog.itemsWithPendingBlobs(account: name)
        guard !rows.isEmpty else { return }
        var round = CatalogRound(account: name)
        round.upsertItems = try await withBlobs(rows)
        round.dirtyViews = Set(rows.compactMap { r in types.first { $0.name == r.type }?.view })
        try commit(round)
    }

    /// Blobs durable, then the catalog (rows, state and view journal in one transaction).
    func commit(_ round: CatalogRound) throws {
        var round = round
        round.origin = origin
        try store.objects.syncFilesystem()
        try store.catalog.apply(round)
    }
}
