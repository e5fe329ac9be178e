import Foundation
import JMAP
import Store

/// The account a replay writes to: its client, its dialects and the key its journal is kept under.
public struct ReplayTarget: Sendable {
    public var name: String
    public var client: JMAPClient
    public var accountId: String
    /// The API URL: blob ids are known per server, as in sync.
    public var origin: String
    public var support: [JMAP.DataKind: DataTypeSupport]
    public var limits: CoreLimits
    public var mailLimits: (maxMailboxesPerEmail: Int?, maxKeywordsPerEmail: Int?)

    public static func open(_ client: JMAPClient, name: String) async throws -> ReplayTarget {
        let session = await client.session
        guard let id = session.primaryAccounts[Capability.mail] else {
            throw ReplayError("\(name): the server offers no mail account to replay into")
        }
        let mail = session.accounts[id]?.accountCapabilities[Capability.mail]
        return ReplayTarget(name: name, client: client, accountId: id, origin: session.apiURL.absoluteString,
                            support: Dialects.detect(session, accountId: id), limits: session.coreLimits,
                            mailLimits: (mail?["maxMailboxesPerEmail"]?.intValue, mail?["maxKeywordsPerEmail"]?.intValue))
    }

    /// Journal rows are per configured target, server and account: another server under the same
    /// name starts afresh.
    public var journalKey: String { name + "\n" + origin + "\n" + accountId }

    var blobCapability: String? { support[.blob]?.capability }

    func using(_ extra: String...) -> Set<String> {
        Set([Capability.core] + extra + (blobCapability.map { [$0] } ?? []))
    }

    /// Sends one call and returns its arguments; method errors become `JMAPError.method`.
    func call(_ name: String, _ args: [String: JSONValue], using: Set<String>) async throws -> [String: JSONValue] {
        var request = Request(using: using)
        var a = args
        a["accountId"] = .string(accountId)
        let c = request.add(name, a)
        return try await client.send(request).result(of: c)
    }
}

/// A message on the target, as the plan needs it.
struct TargetEmail: Sendable {
    var id: String
    var blobId: String
    var mailboxIds: Set<String>
    var keywords: Set<String>
    var receivedAt: String?
    /// Known only by id (an `alreadyExists` answer): every planned keyword is set, none removed.
    var keywordsUnknown = false
}

struct TargetMailbox: Sendable {
    var id: String
    var name: String
    var parentId: String?
    var role: String?
}

extension ReplayTarget {
    func mailboxes() async throws -> [TargetMailbox] {
        let list = try await client.get("Mailbox", accountId: accountId, ids: nil, properties: ["id", "name", "parentId", "role"],
                                        using: using(Capability.mail)).list
        return list.compactMap { j in
            guard let id = j["id"]?.stringValue else { return nil }
            return TargetMailbox(id: id, name: j["name"]?.stringValue ?? id, parentId: j["parentId"]?.stringValue,
                                 role: j["role"]?.stringValue)
        }
    }

    /// Every message of the account: the ids from `Email/query`, then `Email/get` pages of them
    /// several at once. (Pages of query and get back-referenced one after the other left the
    /// server idle between them: a 10k rerun spent 1 s there, the pages in parallel ~0.4 s.)
    func emails() async throws -> [TargetEmail] {
        var ids: [String] = []
        while true {
            var request = Request(using: using(Capability.mail))
            let q = request.add("Email/query", ["accountId": .string(accountId), "position": .int(Int64(ids.count)),
                                                "calculateTotal": true, "sort": [["property": "id", "isAscending": true]]])
            let r = try await client.send(request).result(of: q)
            let page = (r["ids"]?.arrayValue ?? []).compactMap(\.stringValue)
            ids += page
            if page.isEmpty || ids.count >= r["total"]?.intValue ?? 0 { break }
        }
        // 1,024 a page: the decoded answer is transient, but 4,096 at once put 6 MB on the peak.
        let size = min(limits.maxObjectsInGet, 1024)
        let pages = stride(from: 0, to: ids.count, by: size).map { Array(ids[$0..<min($0 + size, ids.count)]) }
        var out: [TargetEmail] = []
        out.reserveCapacity(ids.count)
        try await withThrowingTaskGroup(of: [TargetEmail].self) { group in
            var next = 0
            func start() {
                guard next < pages.count else { return }
                let page = pages[next]
                next += 1
                group.addTask { try await self.emails(page) }
            }
            for _ in 0..<max(1, min(limits.maxConcurrentRequests, 4)) { start() }
            while let part = try await group.next() {
                out += part
                start()
            }
        }
        return out
    }

    private func emails(_ ids: [String]) async throws -> [TargetEmail] {
        let list = try await call("Email/get", ["ids": .strings(ids), "properties": .strings(["id", "blobId", "mailboxIds", "keywords", "receivedAt"])],
                                  using: using(Capability.mail))["list"]?.arrayValue ?? []
        return list.compactMap { j in
            guard let id = j["id"]?.stringValue, let blob = j["blobId"]?.stringValue else { return nil }
            return TargetEmail(id: id, blobId: blob, mailboxIds: Set(j["mailboxIds"]?.objectValue?.keys ?? [:].keys),
                               keywords: Set(j["keywords"]?.objectValue?.keys ?? [:].keys), receivedAt: j["receivedAt"]?.stringValue)
        }
    }

    /// Blob id → SHA-256 of its bytes for every blob given: from the catalog's memory of this
    /// server, then from the server's digests (RFC 9404 `digest:sha-256`, or Cyrus's vendor blob
    /// capability), and only where the server gives neither, by downloading and hashing. What is
    /// learnt is remembered.
    func digests(of blobIds: [String], catalog: Catalog, scratch: String) async throws -> [String: String] {
        var known = try catalog.knownBlobs(origin: origin, blobIds: blobIds)
        var todo = blobIds.filter { known[$0] == nil }
        guard !todo.isEmpty else { return known }
        var learnt: [(blobId: String, sha256: String, size: Int)] = []
        if let cap = blobCapability {
            for (id, d) in try await client.sha256Digests(accountId: accountId, blobIds: todo, capability: cap) {
                learnt.append((id, d.sha256, d.size))
                known[id] = d.sha256
            }
            todo = todo.filter { known[$0] == nil }
        }
        for id in todo {
            let blob = try await client.download(accountId: accountId, blobId: id, into: scratch)
            unlink(blob.temporaryPath)
            known[id] = blob.sha256
            learnt.append((id, blob.sha256, Int(blob.size)))
        }
        try catalog.recordBlobIds(origin: origin, learnt)
        return known
    }
}
