import Foundation
import JMAP
import Logging
import Store

public struct SafetyGuardError: Error, CustomStringConvertible, Sendable {
    public var account: String
    public var reason: String
    public var description: String {
        "account \(account): refusing to delete local mail: \(reason). Nothing was changed. "
            + "If the server is right, run again with --force."
    }
}

public struct SyncOptions: Sendable {
    public var force = false
    /// Refuse a run that would remove more than this share of a mailbox's messages
    /// (mailboxes of at least `guardMinimum` messages).
    public var maxDeletedShare = 0.9
    public var guardMinimum = 20
    public init() {}
}

/// What one account's sync did.
public struct SyncSummary: Codable, Sendable {
    public var account: String
    public var created = 0
    public var updated = 0
    public var moved = 0
    public var destroyed = 0
    public var mailboxesChanged = 0
    public var blobsDownloaded = 0
    public var bytesDownloaded: Int64 = 0
    public var apiRequests = 0
    public var fullResync = false
    public var seconds = 0.0
    public var failed: [String] = []
    public var messages = 0
    /// Contacts, calendars, scripts, identities, vacation: per JMAP type.
    public var items: [String: ItemCounts] = [:]
    /// Kinds of data this account does not offer (reported, not an error).
    public var notOnServer: [String] = []

    public init(account: String) { self.account = account }
}

public struct SyncProgress: Sendable {
    public var account: String
    public var phase: String
    public var messagesDone: Int
    public var messagesTotal: Int
    public var bytesDone: Int64
    public var bytesTotal: Int64
}

/// Mail of one account: Mailbox and Email deltas into the catalog and store, then the Maildir view.
/// See docs/DESIGN.md, "Mail sync", for the algorithm in plain words.
public final class MailSync: @unchecked Sendable {
    let name: String
    let client: JMAPClient
    let store: MirrorStore
    let options: SyncOptions
    let logger: Logger
    let onProgress: @Sendable (SyncProgress) -> Void
    var summary: SyncSummary
    var accountId = ""
    var origin = ""
    var blobCapability: String?
    /// Messages of a mailbox before this run first took messages out of it: what the safety guard
    /// compares with. Counted per mailbox when that happens; flag changes never need it.
    var startCounts: [String: Int] = [:]
    /// Everything besides mail; its first round rides in the first mail delta request.
    var items: ItemSync?
    var itemsPlanned = false
    var digestsFirst = false
    let progressLock = NSLock()
    nonisolated(unsafe) var progress: SyncProgress

    /// What the catalog keeps of each Email besides its blob: the server-side facts (ids, mailboxes,
    /// keywords, receivedAt) and the threading headers. Everything else (addresses, subject, preview)
    /// is in the stored message itself; asking Cyrus for it made metadata 6.5× slower (850 vs 130 ms
    /// per 2,000 messages, measured on 10k).
    static let emailProperties = ["id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId",
                                  "inReplyTo", "references"]

    public init(name: String, client: JMAPClient, store: MirrorStore, options: SyncOptions, logger: Logger,
                onProgress: @escaping @Sendable (SyncProgress) -> Void) {
        self.name = name
        self.client = client
        self.store = store
        self.options = options
        self.logger = logger
        self.onProgress = onProgress
        summary = SyncSummary(account: name)
        progress = SyncProgress(account: name, phase: "connecting", messagesDone: 0, messagesTotal: 0, bytesDone: 0, bytesTotal: 0)
    }

    var view: MaildirView {
        MaildirView(root: store.root + "/" + name + "/mail", account: name, catalog: store.catalog, objects: store.objects,
                    logger: logger)
    }

    var itemViews: ItemViews {
        ItemViews(root: store.root + "/" + name, account: name, catalog: store.catalog, objects: store.objects, origin: origin)
    }

    public func run() async throws -> SyncSummary {
        let started = Date()
        let requestsBefore = await client.requestCount
        let session = await client.session
        guard let id = session.primaryAccounts[Capability.mail]
            ?? session.accounts.values.first(where: { $0.accountCapabilities[Capability.mail] != nil })?.id else {
            throw JMAPError.unsupported("no account with mail (\(Capability.mail)) in this Session")
        }
        accountId = id
        origin = session.apiURL.absoluteString
        let support = Dialects.detect(session, accountId: id)
        blobCapability = support[.blob]?.capability
        let items = ItemSync(name: name, client: client, store: store, logger: logger, accountId: id, origin: origin,
                             blobCapability: blobCapability, support: support)
        self.items = items
        summary.notOnServer = ItemSync.missingKinds(support)
        store.objects.removeTemporaryFiles()
        let catalog = store.catalog
        let mailboxState = try catalog.state(account: name, type: "Mailbox"), emailState = try catalog.state(account: name, type: "Email")
        // An account never synced here while the store holds objects (a lost catalog, a second
        // account): reuse what is stored, by digest, instead of downloading it again. Decided
        // from the state strings already read, so a quiet sync pays nothing for it.
        digestsFirst = emailState == nil && !((try? FileManager.default.contentsOfDirectory(atPath: store.objects.root)) ?? []).isEmpty
        _ = try view.render()  // finish whatever an interrupted run left in the journal
        try itemViews.render()

        try await retryPendingBlobs()
        if let ms = mailboxState, let es = emailState {
            try await deltaSync(mailboxState: ms, emailState: es)
        } else {
            try await fullSync()
        }
        // A run that changed something re-hashes a share of the store; damaged objects, and
        // objects found missing while rendering, are fetched again in this same run.
        if summary.created + summary.updated + summary.moved + summary.destroyed > 0 || summary.fullResync {
            let damaged = try Scrub(store: store).run()
            for sha in damaged { logger.warning("object \(sha) was damaged: moved to .jmirror/damaged/, fetching it again") }
        }
        try await retryPendingBlobs()
        setPhase("contacts, calendars, scripts")
        try await items.finish()
        try itemViews.render()
        summary.items = items.counts
        summary.failed += items.failed
        summary.blobsDownloaded += items.blobsDownloaded
        summary.bytesDownloaded += items.bytesDownloaded
        summary.messages = try catalog.emailCount(account: name)
        summary.apiRequests = await client.requestCount - requestsBefore
        summary.seconds = Date().timeIntervalSince(started)
        logger.info("\(name): done", metadata: [
            "created": "\(summary.created)", "updated": "\(summary.updated)", "moved": "\(summary.moved)",
            "destroyed": "\(summary.destroyed)", "blobs": "\(summary.blobsDownloaded)", "bytes": "\(summary.bytesDownloaded)",
            "requests": "\(summary.apiRequests)", "fullListing": "\(summary.fullResync)", "seconds": "\(summary.seconds)",
        ])
        return summary
    }

    // MARK: Delta rounds

    /// One request per round: Mailbox and Email changes with their objects, by result reference.
    /// The first round asks only for the Email state (`Email/get` of no ids), and asks for the
    /// changes in a second round when it moved: Cyrus's Email/changes takes time in proportion to
    /// the account even when nothing changed (12 ms of a quiet sync's 20 ms request at 100,000
    /// messages, where the whole request took 11–12 ms at 1,000), its state none. A sync with
    /// changes pays one more request.
    func deltaSync(mailboxState: String, emailState: String) async throws {
        var ms = mailboxState, es = emailState
        let limits = await client.session.coreLimits
        var probing = true
        while true {
            setPhase("changes")
            var request = Request(using: [Capability.mail])
            let mc = request.add("Mailbox/changes", ["accountId": .string(accountId), "sinceState": .string(ms),
                                                     "maxChanges": .int(Int64(min(limits.maxObjectsInGet, 500)))])
            let mg1 = request.add("Mailbox/get", ["accountId": .string(accountId)], references: ["ids": mc.reference("/created")])
            let mg2 = request.add("Mailbox/get", ["accountId": .string(accountId)], references: ["ids": mc.reference("/updated")])
            var email: (changes: Call, created: Call, updated: Call)?
            var probe: Call?
            if probing {
                probe = request.add("Email/get", ["accountId": .string(accountId), "ids": .array([])])
            } else {
                let ec = request.add("Email/changes", ["accountId": .string(accountId), "sinceState": .string(es),
                                                       "maxChanges": .int(Int64(min(limits.maxObjectsInGet, 1000)))])
                email = (ec,
                         request.add("Email/get", ["accountId": .string(accountId), "properties": .strings(MailSync.emailProperties)],
                                     references: ["ids": ec.reference("/created")]),
                         request.add("Email/get", ["accountId": .string(accountId), "properties": ["id", "mailboxIds", "keywords"]],
                                     references: ["ids": ec.reference("/updated")]))
            }
            var planned: [ItemSync.Planned] = []
            if let items, !itemsPlanned {
                planned = try items.plan(into: &request)
                itemsPlanned = true
            }
            let response = try await client.send(request)
            try await items?.absorb(response, planned)
            if let probe {
                probing = false
                // Moved: the next round asks for Mailbox and Email changes together, as always.
                if try response.result(of: probe)["state"]?.stringValue != es { continue }
            }

            let mailboxChanges: [String: JSONValue]
            var emailChanges: [String: JSONValue] = [:]
            do {
                mailboxChanges = try response.result(of: mc)
                if let email { emailChanges = try response.result(of: email.changes) }
            } catch let e as JMAPError where MailSync.meansResync(e) {
                logger.notice("\(name): \(e); reconciling with a full listing")
                try await fullSync()
                return
            }
            var round = CatalogRound(account: name)
            for m in (try response.result(of: mg1)["list"]?.arrayValue ?? []) + (try response.result(of: mg2)["list"]?.arrayValue ?? []) {
                if let row = MailSync.mailboxRow(m) { round.upsertMailboxes.append(row) }
            }
            round.destroyMailboxes = (mailboxChanges["destroyed"]?.arrayValue ?? []).compactMap(\.stringValue)
            let created = try email.map { try response.result(of: $0.created)["list"]?.arrayValue ?? [] } ?? []
            let updated = try email.map { try response.result(of: $0.updated)["list"]?.arrayValue ?? [] } ?? []
            let destroyed = (emailChanges["destroyed"]?.arrayValue ?? []).compactMap(\.stringValue)
            let downloadsBefore = summary.blobsDownloaded
            try await applyEmails(created: created, updated: updated, destroyed: destroyed, into: &round)
            round.states["Mailbox"] = mailboxChanges["newState"]?.stringValue
            round.states["Email"] = emailChanges["newState"]?.stringValue ?? es
            // Nothing new and the same states: nothing to make durable (no syncfs, no transaction).
            if !round.isEmpty || round.states["Mailbox"] != ms || round.states["Email"] != es {
                try commit(round, newObjects: summary.blobsDownloaded != downloadsBefore)
            }
            summary.mailboxesChanged += round.upsertMailboxes.count + round.destroyMailboxes.count
            ms = round.states["Mailbox"] ?? ms
            es = round.states["Email"] ?? es
            let more = mailboxChanges["hasMoreChanges"]?.boolValue == true || emailChanges["hasMoreChanges"]?.boolValue == true
            if !more { break }
        }
    }

    static func meansResync(_ e: JMAPError) -> Bool {
        guard let type = e.methodErrorType else { return false }
        return type == MethodError.cannotCalculateChanges || type == MethodError.invalidArguments
    }

    /// Turns created/updated/destroyed emails into catalog rows, fetching the blobs of new ones.
    func applyEmails(created: [JSONValue], updated: [JSONValue], destroyed: [String], into round: inout CatalogRound) async throws {
        let catalog = store.catalog
        let updatedIds = updated.compactMap { $0["id"]?.stringValue }
        let existing = try catalog.emails(account: name, ids: updatedIds + destroyed + created.compactMap { $0["id"]?.stringValue })
        var newRows: [EmailRow] = []
        for e in created {
            guard var row = MailSync.emailRow(e) else { continue }
            if let old = existing[row.id], old.blobId == row.blobId { row.sha256 = old.sha256 }
            newRows.append(row)
        }
        var refetch: [String] = []
        for e in updated {
            guard let id = e["id"]?.stringValue else { continue }
            guard var row = existing[id] else {
                refetch.append(id)
                continue
            }
            let keywords = Set((e["keywords"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys)
            let mailboxIds = Set((e["mailboxIds"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys)
            if mailboxIds != row.mailboxIds { summary.moved += 1 } else if keywords != row.keywords { summary.updated += 1 }
            row.keywords = keywords
            row.mailboxIds = mailboxIds
            row.json = MailSync.merge(row.json, e)
            round.upsertEmails.append(row)
        }
        if !refetch.isEmpty {
            let got = try await client.get("Email", accountId: accountId, ids: refetch, properties: MailSync.emailProperties,
                                           using: [Capability.mail])
            newRows += got.list.compactMap(MailSync.emailRow)
        }
        try guardDeletions(destroyed: destroyed, existing: existing, updated: round.upsertEmails)
        let local = try catalog.emailCount(account: name)
        let gone = destroyed.filter { existing[$0] != nil }.count
        if !options.force, local > 0, gone == local, newRows.isEmpty {
            throw SafetyGuardError(account: name, reason: "the server reports every one of the mirror's \(local) messages deleted")
        }
        round.destroyEmails = destroyed
        summary.destroyed += destroyed.filter { existing[$0] != nil }.count
        summary.created += newRows.filter { existing[$0.id] == nil }.count
        round.upsertEmails += try await withBlobs(newRows)
    }

    /// Fills in SHA-256s, fetching what the store lacks. Failed blobs stay nil and are retried.
    func withBlobs(_ rows: [EmailRow]) async throws -> [EmailRow] {
        let need = rows.filter { $0.sha256 == nil }
        guard !need.isEmpty else { return rows }
        setPhase("fetching")
        addTotals(messages: need.count, bytes: need.reduce(0) { $0 + Int64($1.size) })
        var fetcher = await BlobFetcher.forAccount(client: client, store: store, origin: origin, accountId: accountId,
                                                   blobCapability: blobCapability)
        fetcher.digestsFirst = digestsFirst
        let result = try await fetcher.fetch(need.map { .init(blobId: $0.blobId, size: $0.size) }) { [weak self] n, bytes in
            self?.advance(messages: n, bytes: bytes)
        }
        summary.blobsDownloaded += result.downloaded
        summary.bytesDownloaded += result.bytes
        for (blobId, why) in result.failed { summary.failed.append("blob \(blobId): \(why)") }
        return rows.map { row in
            var r = row
            if r.sha256 == nil { r.sha256 = result.sha256[r.blobId] }
            return r
        }
    }

    func retryPendingBlobs() async throws {
        let pending = try store.catalog.pendingBlobEmails(account: name)
        guard !pending.isEmpty else { return }
        var round = CatalogRound(account: name)
        round.upsertEmails = try await withBlobs(pending).filter { $0.sha256 != nil }
        if !round.upsertEmails.isEmpty { try commit(round) }
    }

    /// Blobs first (durable), then the catalog with the new states, then the view. A round that
    /// brought no new objects (flags, moves, deletions) has nothing to make durable first: the
    /// `syncfs` also flushes whatever else is dirty on the filesystem (on the test machine, the
    /// server's own writes): with it, the commit of 100 flag changes took 83 ms; without, 18–26.
    func commit(_ round: CatalogRound, newObjects: Bool = true) throws {
        if newObjects { try store.objects.syncFilesystem() }
        try store.catalog.apply(round)
        setPhase("rendering")
        _ = try view.render()
    }

    // MARK: Full reconcile

    /// Lists everything, reuses every stored blob, converges to the server. Taken when there is no
    /// state yet, or the server cannot calculate changes from ours.
    func fullSync() async throws {
        summary.fullResync = true
        setPhase("listing")
        let limits = await client.session.coreLimits
        var first = Request(using: [Capability.mail])
        let mget = first.add("Mailbox/get", ["accountId": .string(accountId), "ids": .null])
        // The Email state is taken before listing: whatever changes while we page is caught by the
        // /changes round that follows.
        let estate = first.add("Email/get", ["accountId": .string(accountId), "ids": []])
        let pageSize = min(limits.maxObjectsInGet, 4096)
        let q0 = first.add("Email/query", ["accountId": .string(accountId), "limit": .int(Int64(pageSize)), "calculateTotal": true])
        let response = try await client.send(first)
        let mailboxes = try response.result(of: mget)
        guard let s0 = try response.result(of: estate)["state"]?.stringValue else {
            throw JMAPError.invalidResponse(context: "Email/get", reason: "no state")
        }
        var listing = EmailListing(client: client, accountId: accountId, pageSize: pageSize,
                                   buffer: (try response.result(of: q0)["ids"]?.arrayValue ?? []).compactMap(\.stringValue),
                                   total: try response.result(of: q0)["total"]?.intValue)
        let catalog = store.catalog
        let localCount = try catalog.emailCount(account: name)
        if listing.buffer.isEmpty && localCount > 0 && !options.force {
            throw SafetyGuardError(account: name, reason: "the server reports an empty account while the mirror holds \(localCount) messages")
        }
        var round = CatalogRound(account: name)
        let mailboxRows = (mailboxes["list"]?.arrayValue ?? []).compactMap(MailSync.mailboxRow)
        round.upsertMailboxes = mailboxRows
        round.keepOnlyMailboxes = Set(mailboxRows.map(\.id))
        round.states["Mailbox"] = mailboxes["state"]?.stringValue
        let local = localCount > 0 ? try catalog.emails(account: name) : [:]
        // The ids are listed page by page and fetched as they come, never held all at once: at
        // 100k messages the whole list was 13 MB of a first sync's peak. They are remembered
        // only where the mirror holds messages that may have gone from the server.
        var serverIds: Set<String>? = local.isEmpty ? nil : []

        // Metadata and blobs in chunks, each committed, so a large first sync survives a crash.
        setPhase("fetching")
        // 1,000 rather than 2,000: a smaller peak (metadata of two chunks is alive at once), the same speed.
        let chunk = 1000
        func metadata(_ part: [String]?) -> Task<GetResult, Error>? {
            guard let part else { return nil }
            serverIds?.formUnion(part)
            return Task { [client, accountId] in
                try await client.get("Email", accountId: accountId, ids: part, properties: MailSync.emailProperties,
                                     using: [Capability.mail])
            }
        }
        // Three stages overlap: the next chunk's metadata is asked for, and the previous chunk is
        // committed and rendered, while this chunk's blobs download. Commits stay in order.
        var pending: Task<GetResult, Error>?
        var committing: Task<Void, Error>?
        var index = 0
        do {
            pending = metadata(try await listing.next(chunk))
            while let current = pending {
                let t0 = Date()
                let got = try await current.value
                pending = metadata(try await listing.next(chunk))
                var rows: [EmailRow] = []
                for e in got.list {
                    guard var row = MailSync.emailRow(e) else { continue }
                    if let old = local[row.id] {
                        if old.blobId == row.blobId { row.sha256 = old.sha256 }
                        if old.mailboxIds != row.mailboxIds { summary.moved += 1 } else if old.keywords != row.keywords { summary.updated += 1 }
                        if old == row { continue }
                    } else {
                        summary.created += 1
                    }
                    rows.append(row)
                }
                let t1 = Date()
                var partRound = CatalogRound(account: name)
                partRound.upsertEmails = try await withBlobs(rows)
                if index == 0 { partRound.upsertMailboxes = round.upsertMailboxes }
                let t2 = Date()
                try await committing?.value
                let t3 = Date()
                if !partRound.upsertEmails.isEmpty || index == 0 {
                    committing = Task { [self, partRound] in try commit(partRound) }
                }
                let timing = "metadata \(Self.ms(t0, t1)), blobs \(Self.ms(t1, t2)), waiting for the previous commit \(Self.ms(t2, t3))"
                logger.info("\(name): messages \(index * chunk)..<\(index * chunk + got.list.count): \(timing)")
                index += 1
            }
            try await committing?.value
        } catch EmailListing.AnchorLost.anchorLost {
            _ = try? await committing?.value
            // The anchor vanished while paging: list again from a fresh state.
            return try await fullSync()
        } catch {
            _ = try? await committing?.value  // the commit under way finishes before the error goes up
            throw error
        }
        if index == 0 { try commit(round) }
        let destroyed = serverIds.map { ids in local.keys.filter { !ids.contains($0) } } ?? []
        try guardDeletions(destroyed: destroyed, existing: local, updated: [])
        summary.destroyed += destroyed.count
        round.upsertMailboxes = []
        round.keepOnlyEmails = serverIds
        round.states["Email"] = s0
        try commit(round)
        summary.mailboxesChanged += mailboxRows.count
        // Catch up with whatever changed while we listed.
        if let ms = round.states["Mailbox"] { try await deltaSync(mailboxState: ms, emailState: s0) }
    }

    static func ms(_ a: Date, _ b: Date) -> String { "\(Int(b.timeIntervalSince(a) * 1000)) ms" }

    // MARK: Safety guard

    func guardDeletions(destroyed: [String], existing: [String: EmailRow], updated: [EmailRow]) throws {
        guard !options.force else { return }
        if destroyed.isEmpty && updated.isEmpty { return }
        var lost: [String: Int] = [:]
        for id in destroyed { for m in existing[id]?.mailboxIds ?? [] { lost[m, default: 0] += 1 } }
        for row in updated {
            for m in (existing[row.id]?.mailboxIds ?? []).subtracting(row.mailboxIds) { lost[m, default: 0] += 1 }
        }
        for (mailbox, n) in lost {
            // Counted for the mailboxes that lose messages, the first time they do: counting every
            // mailbox's messages took 18 ms of every sync with an update at 100,000 messages.
            if startCounts[mailbox] == nil { startCounts[mailbox] = try store.catalog.messageCount(account: name, mailbox: mailbox) }
            let before = startCounts[mailbox] ?? 0
            if before >= options.guardMinimum, Double(n) > options.maxDeletedShare * Double(before) {
                let mailboxName = (try? store.catalog.mailboxes(account: name).first { $0.id == mailbox }?.name) ?? mailbox
                throw SafetyGuardError(account: name, reason: "mailbox \"\(mailboxName)\" would lose \(n) of its \(before) messages")
            }
        }
    }

    // MARK: JSON → rows

    static func mailboxRow(_ m: JSONValue) -> MailboxRow? {
        guard let id = m["id"]?.stringValue else { return nil }
        return MailboxRow(id: id, parentId: m["parentId"]?.stringValue, name: m["name"]?.stringValue ?? id,
                          role: m["role"]?.stringValue, json: m.encoded())
    }

    static func emailRow(_ e: JSONValue) -> EmailRow? {
        guard let id = e["id"]?.stringValue, let blobId = e["blobId"]?.stringValue else { return nil }
        let received = e["receivedAt"]?.stringValue.flatMap(UTCDate.parse)
        return EmailRow(id: id, blobId: blobId, sha256: nil, size: e["size"]?.intValue ?? 0, receivedAt: received,
                        keywords: Set((e["keywords"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys),
                        mailboxIds: Set((e["mailboxIds"]?.objectValue ?? [:]).filter { $0.value.boolValue == true }.keys),
                        json: e.encoded())
    }

    /// The stored JSON with the changed properties replaced (unknown ones kept).
    static func merge(_ json: Data, _ patch: JSONValue) -> Data {
        guard case var .object(base) = (try? JSONValue.decode(json)) ?? .null, case let .object(p) = patch else { return json }
        for (k, v) in p { base[k] = v }
        return JSONValue.object(base).encoded()
    }

    // MARK: Progress

    func setPhase(_ phase: String) {
        let (p, previous) = progressLock.withLock { () -> (SyncProgress, String) in
            let previous = progress.phase
            progress.phase = phase
            return (progress, previous)
        }
        // `-v` says what each phase did, with the time stamps of the log lines.
        if phase != previous {
            logger.info("\(name): \(phase)", metadata: ["after": "\(previous)", "messages": "\(p.messagesDone)/\(p.messagesTotal)"])
        }
        onProgress(p)
    }

    func addTotals(messages: Int, bytes: Int64) {
        progressLock.withLock {
            progress.messagesTotal += messages
            progress.bytesTotal += bytes
        }
    }

    func advance(messages: Int, bytes: Int64) {
        let p = progressLock.withLock { () -> SyncProgress in
            progress.messagesDone += messages
            progress.bytesDone += bytes
            return progress
        }
        onProgress(p)
    }
}
