import JMAP

/// An account's Email ids as `Email/query` pages them (each page anchored on the last id of the
/// one before), handed out in chunks as they are needed, so that a first sync of a large account
/// never holds the whole list.
struct EmailListing {
    /// The anchor vanished while paging (a message deleted meanwhile): list again.
    enum AnchorLost: Error { case anchorLost }

    let client: JMAPClient
    let accountId: String
    let pageSize: Int
    private(set) var buffer: [String]
    private let total: Int?
    private var listed: Int
    private var anchor: String?

    init(client: JMAPClient, accountId: String, pageSize: Int, buffer: [String], total: Int?) {
        self.client = client
        self.accountId = accountId
        self.pageSize = pageSize
        self.buffer = buffer
        self.total = total
        listed = buffer.count
        anchor = buffer.last
    }

    /// The next `n` ids (fewer at the end), nil once all are handed out.
    mutating func next(_ n: Int) async throws -> [String]? {
        while buffer.count < n, anchor != nil { try await page() }
        guard !buffer.isEmpty else { return nil }
        let part = Array(buffer.prefix(n))
        buffer.removeFirst(part.count)
        return part
    }

    private mutating func page() async throws {
        guard let last = anchor, listed < (total ?? Int.max) else { anchor = nil; return }
        var request = Request(using: [Capability.mail])
        let q = request.add("Email/query", ["accountId": .string(accountId), "anchor": .string(last), "anchorOffset": 1,
                                            "limit": .int(Int64(pageSize))])
        let got: [String]
        do {
            got = (try await client.send(request).result(of: q)["ids"]?.arrayValue ?? []).compactMap(\.stringValue)
        } catch let e as JMAPError where e.methodErrorType == "anchorNotFound" {
            throw AnchorLost.anchorLost
        }
        buffer += got
        listed += got.count
        anchor = got.last
    }
}
