import Digest
import Foundation
import Store

/// A rolling re-hash of the store, a bounded share per sync that changed something (restic's
/// `--read-data-subset`, spread over runs): a flipped bit in an object, which is also every
/// Maildir file linked to it, is found within a few runs instead of never. Quiet syncs skip it,
/// so they stay one request and a few milliseconds; `jmirror check --read-data` reads everything.
struct Scrub {
    /// Bytes re-hashed per run at most: 64 MB takes about 40 ms of SHA-256 when the page cache
    /// holds the objects.
    static let budget: Int64 = 64 << 20
    /// ... and time spent at most. Objects are usually cold on disk, where the same 64 MB took
    /// 270–640 ms, most of a sync after 100 flag changes (10k messages, same disk): the scrub
    /// then verifies less per run and continues from its cursor in the next one.
    static let timeLimit: Double = 0.05

    let store: MirrorStore

    /// Returns the objects found damaged; each is moved aside and its messages marked, so that
    /// the caller's next blob retry fetches them again.
    func run() throws -> [String] {
        let batch = try store.catalog.scrubBatch(bytes: Scrub.budget)
        let started = Date()
        var damaged: [String] = []
        var verified: String?
        for (sha, _) in batch {
            if verified != nil, Date().timeIntervalSince(started) > Scrub.timeLimit { break }
            verified = sha
            guard let actual = try? SHA256Hasher.hex(ofFileAt: store.objects.path(sha)).sha256, actual != sha else { continue }
            try store.catalog.condemn(sha, in: store.objects)
            damaged.append(sha)
        }
        if let verified { try store.catalog.setScrubCursor(verified) }
        return damaged
    }
}
