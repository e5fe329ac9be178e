import Foundation
import JMAP
import Store

/// How fast the server can hand over an account's messages, whatever we do with them: every
/// message the mirror holds is fetched again in the batches a first sync sends (`BlobFetcher`,
/// same sizes, same concurrency), decoded and dropped. Nothing is written. A first sync's time
/// against this floor says how much of it is ours (hashing, files, fsync, catalog, views).
public enum DownloadFloor {
    public struct Result: Sendable, Codable {
        public var messages: Int
        public var bytes: Int64
        public var seconds: Double
        public var concurrency: Int
    }

    public static func measure(client: JMAPClient, store: MirrorStore, account: String) async throws -> Result {
        let session = await client.session
        guard let accountId = session.primaryAccounts[Capability.mail]
            ?? session.accounts.values.first(where: { $0.accountCapabilities[Capability.mail] != nil })?.id else {
            throw JMAPError.unsupported("no account with mail (\(Capability.mail)) in this Session")
        }
        let support = Dialects.detect(session, accountId: accountId)
        var fetcher = await BlobFetcher.forAccount(client: client, store: store, origin: session.apiURL.absoluteString,
                                                   accountId: accountId, blobCapability: support[.blob]?.capability)
        fetcher.discard = true
        let items = try store.catalog.emailBlobs(account: account).map { BlobFetcher.Item(blobId: $0.blobId, size: $0.size) }
        let started = Date()
        let r = try await fetcher.fetch(items) { _, _ in }
        if let failed = r.failed.first {
            throw JMAPError.unsupported("blob \(failed.key): \(failed.value)")
        }
        return Result(messages: r.downloaded, bytes: r.bytes, seconds: Date().timeIntervalSince(started), concurrency: fetcher.maxConcurrent)
    }
}
