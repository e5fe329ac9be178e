import Foundation
import JMAP
import Store

/// Uploads and imports messages in batches within the target's limits, and records each one in
/// the journal as soon as the server has it.
struct MailImporter {
    let target: ReplayTarget
    let objects: ObjectStore
    let catalog: Catalog
    let progress: @Sendable (String) -> Void
    /// Messages up to this size travel base64 inside the request (`Blob/upload`, one round trip
    /// for upload and import); a batch holds about this many bytes of them.
    var inlineLimit = 1 << 20
    /// Measured on Cyrus, 3,000 messages: 2 MB batches 14.5 s, 4 MB 13.2 s, at the same peak
    /// memory (the base64 is streamed from the store into the request; see `Request.base64(ofFile:)`).
    var batchBytes = 4 << 20

    struct Outcome: Sendable {
        var created = 0
        /// Source SHA-256 → the target's id of a copy it already had (`alreadyExists`).
        var existing: [(String, String)] = []
        var refused: [Refusal] = []
        var refusedShas: Set<String> = []
        var droppedKeywords: [String: Int] = [:]

        mutating func add(_ o: Outcome) {
            created += o.created
            existing += o.existing
            refused += o.refused
            refusedShas.formUnion(o.refusedShas)
            droppedKeywords.merge(o.droppedKeywords, uniquingKeysWith: +)
        }
    }

    func importAll(_ messages: [PlannedMessage], plan: MailboxPlan) async throws -> Outcome {
        var outcome = Outcome()
        var ready: [(PlannedMessage, [String])] = []
        let maxBoxes = target.mailLimits.maxMailboxesPerEmail ?? Int.max
        // By folder, then age: a batch then mostly appends to one mailbox (3,000 messages into
        // Cyrus: 11.4–11.9 s, against 12.0–13.0 s in order of age alone).
        for m in messages.sorted(by: {
            ($0.paths.min() ?? "", $0.receivedAt ?? .distantPast, $0.sha256) < ($1.paths.min() ?? "", $1.receivedAt ?? .distantPast, $1.sha256)
        }) {
            let ids = m.paths.compactMap { plan.idByPath[$0] }.sorted()
            guard !ids.isEmpty else {
                outcome.refused.append(Refusal(kind: "mail", item: m.label, reason: "none of its folders exists on the target"))
                outcome.refusedShas.insert(m.sha256)
                continue
            }
            // The rest of its folders are added by the update that follows (the server's limit
            // is per request as well as per message on some servers).
            ready.append((m, Array(ids.prefix(maxBoxes))))
        }
        let inline = target.blobCapability != nil
        // Large messages go through uploadUrl first, one at a time, with no API request in
        // flight beside them: Cyrus 3.10 over HTTP/2 once answered an API request "notJSON:
        // control character 0xd" while a message upload ran beside it on the same connection.
        var uploaded: [String: String] = [:]
        for (m, _) in ready where !inline || m.size > inlineLimit {
            do {
                uploaded[m.sha256] = try await target.client.upload(accountId: target.accountId, file: objects.path(m.sha256),
                                                                     type: "message/rfc822").blobId
            } catch let e as JMAPError where e.isRefusal {
                outcome.refused.append(Refusal(kind: "mail", item: m.label, reason: "upload refused: \(e)"))
                outcome.refusedShas.insert(m.sha256)
            }
        }
        // Base64 makes 4 bytes of 3; the rest of the request is small.
        let batchBytes = min(self.batchBytes, max(1 << 16, (target.limits.maxSizeRequest - (1 << 16)) * 3 / 4))
        var batches: [[(PlannedMessage, [String])]] = []
        var current: [(PlannedMessage, [String])] = []
        var bytes = 0
        let maxPerBatch = max(1, min(target.limits.maxObjectsInSet, 500))
        for item in ready where !outcome.refusedShas.contains(item.0.sha256) {
            let size = uploaded[item.0.sha256] == nil ? item.0.size : 0
            if !current.isEmpty, bytes + size > batchBytes || current.count >= maxPerBatch {
                batches.append(current)
                current = []
                bytes = 0
            }
            current.append(item)
            bytes += size
        }
        if !current.isEmpty { batches.append(current) }

        let uploadedIds = uploaded
        // As many as the server allows, up to 8: a server-bound import gained with each (3,000
        // messages into Cyrus: 1 in flight 18.9 s, 2 15.7 s, 4 13.0 s). Preparing a few more
        // bodies ahead than the server's 5 did not help (11.1–12.4 s either way), nor did batches
        // of 7 MB or interleaving folders between the batches in flight. Each request
        // body is large, so each goes over a connection of its own (see Transfer).
        let concurrency = max(1, min(target.limits.maxConcurrentRequests, 8))
        var done = 0
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var next = 0
            func start() {
                guard next < batches.count else { return }
                let batch = batches[next]
                next += 1
                group.addTask { try await self.send(batch, uploaded: uploadedIds) }
            }
            for _ in 0..<concurrency { start() }
            while let o = try await group.next() {
                outcome.add(o)
                done += 1
                if done % 20 == 0 || done == batches.count {
                    progress("mail: \(outcome.created) imported, \(outcome.existing.count) already there (\(done)/\(batches.count) batches)")
                }
                start()
            }
        }
        return outcome
    }

    /// One batch: the bytes (inline, or through `uploadUrl` for a large one) and one `Email/import`.
    /// A keyword the server refuses is dropped and the message tried once more.
    private func send(_ batch: [(PlannedMessage, [String])], uploaded: [String: String], retried: Bool = false) async throws -> Outcome {
        var outcome = Outcome()
        var request = Request(using: target.using(Capability.mail))
        var blobRefs: [String: String] = [:]
        var uploads: [String: JSONValue] = [:]
        for (n, (m, _)) in batch.enumerated() {
            if let blobId = uploaded[m.sha256] {
                blobRefs[m.sha256] = blobId
            } else if let cap = target.blobCapability {
                uploads["b\(n)"] = ["data": [["data:asBase64": request.base64(ofFile: objects.path(m.sha256))]], "type": "message/rfc822"]
                blobRefs[m.sha256] = "#b\(n)"
                request.using.insert(cap)
            }
        }
        var uploadCall: Call?
        if !uploads.isEmpty {
            uploadCall = request.add("Blob/upload", ["accountId": .string(target.accountId), "create": .object(uploads)])
        }
        var emails: [String: JSONValue] = [:]
        var byKey: [String: (PlannedMessage, [String])] = [:]
        for (n, (m, ids)) in batch.enumerated() {
            emails["e\(n)"] = Self.importObject(blobId: blobRefs[m.sha256]!, mailboxIds: ids, keywords: m.keywords, receivedAt: m.receivedAt)
            byKey["e\(n)"] = (m, ids)
        }
        let importCall = request.add("Email/import", ["accountId": .string(target.accountId), "emails": .object(emails)])
        let r: [String: JSONValue]
        let u: [String: JSONValue]?
        do {
            let response = try await target.client.send(request)
            u = try uploadCall.map { try response.result(of: $0) }
            r = try response.result(of: importCall)
        } catch let e as JMAPError where e.isRefusal {
            // The server refused the request as a whole: nothing of it happened. Once more, then
            // its messages are reported and the rest of the run goes on.
            if !retried { return try await send(batch, uploaded: uploaded, retried: true) }
            for (m, _) in batch {
                outcome.refused.append(Refusal(kind: "mail", item: m.label, reason: "the server refused the import request: \(e)"))
                outcome.refusedShas.insert(m.sha256)
            }
            return outcome
        }
        if let u {
            for (key, err) in u["notCreated"]?.objectValue ?? [:] {
                guard let n = Int(key.dropFirst()), n < batch.count else { continue }
                outcome.refused.append(Refusal(kind: "mail", item: batch[n].0.label, reason: "upload refused: " + setErrorText(err)))
                outcome.refusedShas.insert(batch[n].0.sha256)
                byKey["e\(n)"] = nil
            }
        }
        var journal: [(source: String, targetId: String)] = []
        var found: [(source: String, targetId: String)] = []
        var blobIds: [(blobId: String, sha256: String, size: Int)] = []
        var retry: [(PlannedMessage, [String])] = []
        for (key, value) in r["created"]?.objectValue ?? [:] {
            guard let (m, _) = byKey[key], let id = value["id"]?.stringValue else { continue }
            journal.append((m.sha256, id))
            if let b = value["blobId"]?.stringValue { blobIds.append((b, m.sha256, m.size)) }
            outcome.created += 1
        }
        for (key, err) in r["notCreated"]?.objectValue ?? [:] {
            guard let (m, ids) = byKey[key] else { continue }
            if err["type"]?.stringValue == "alreadyExists", let existing = err["existingId"]?.stringValue {
                found.append((m.sha256, existing))
                outcome.existing.append((m.sha256, existing))
                continue
            }
            let badKeywords = (err["properties"]?.arrayValue ?? []).compactMap(\.stringValue)
                .filter { $0.hasPrefix("keywords/") }.map { String($0.dropFirst("keywords/".count)) }
            if err["type"]?.stringValue == "invalidProperties", !badKeywords.isEmpty {
                var again = m
                again.keywords.subtract(badKeywords)
                for k in badKeywords { outcome.droppedKeywords[k, default: 0] += 1 }
                retry.append((again, ids))
                continue
            }
            outcome.refused.append(Refusal(kind: "mail", item: m.label, reason: "import refused: " + setErrorText(err)))
            outcome.refusedShas.insert(m.sha256)
        }
        try catalog.recordJournal(target: target.journalKey, kind: MailJournal.imported, journal)
        try catalog.recordJournal(target: target.journalKey, kind: MailJournal.found, found)
        try catalog.recordBlobIds(origin: target.origin, blobIds)
        if !retry.isEmpty {
            outcome.add(try await send(retry, uploaded: uploaded))
        }
        return outcome
    }

    static func importObject(blobId: String, mailboxIds: [String], keywords: Set<String>, receivedAt: Date?) -> JSONValue {
        var obj: [String: JSONValue] = ["blobId": .string(blobId),
                                        "mailboxIds": .object(Dictionary(uniqueKeysWithValues: mailboxIds.map { ($0, .bool(true)) })),
                                        "keywords": .object(Dictionary(uniqueKeysWithValues: keywords.map { ($0, .bool(true)) }))]
        if let receivedAt { obj["receivedAt"] = .string(UTCDate.format(receivedAt)) }
        return .object(obj)
    }

    /// Brings messages already on the target in line: adds the planned folders (never removes one:
    /// a replay adds, it does not take away) and makes the keywords the snapshot's (what the server sets by itself aside).
    func update(_ items: [(PlannedMessage, TargetEmail)], plan: MailboxPlan) async throws -> (updated: Int, refused: [Refusal]) {
        var updated = 0
        var refused: [Refusal] = []
        let chunk = max(1, min(target.limits.maxObjectsInSet, 500))
        for start in stride(from: 0, to: items.count, by: chunk) {
            var patches: [String: JSONValue] = [:]
            var labels: [String: String] = [:]
            for (p, e) in items[start..<min(start + chunk, items.count)] {
                var patch: [String: JSONValue] = [:]
                for id in p.paths.compactMap({ plan.idByPath[$0] }) where !e.mailboxIds.contains(id) { patch["mailboxIds/" + id] = true }
                // Per keyword, so that what the server sets by itself stays.
                for k in p.keywords where e.keywordsUnknown || !e.keywords.contains(k) { patch["keywords/" + k] = true }
                for k in e.keywords.subtracting(p.keywords).subtracting(Keywords.serverSet) { patch["keywords/" + k] = .null }
                guard !patch.isEmpty else { continue }
                patches[e.id] = .object(patch)
                labels[e.id] = p.label
            }
            guard !patches.isEmpty else { continue }
            let r = try await target.call("Email/set", ["update": .object(patches)], using: target.using(Capability.mail))
            updated += r["updated"]?.objectValue?.count ?? 0
            for (id, err) in r["notUpdated"]?.objectValue ?? [:] {
                refused.append(Refusal(kind: "mail", item: labels[id] ?? id, reason: "update refused: " + setErrorText(err)))
            }
        }
        return (updated, refused)
    }
}
