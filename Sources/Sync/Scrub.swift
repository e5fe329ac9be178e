import Digest
import Foundation
import Store

/// A rolling re-hash of the store, a bounded share per sync that changed something (restic's
/// `--read-data-subset`, spread over runs): a flipped bit in an object, which is also every
/// Maildir file linked to it, is found within a few runs instead of never. Quiet syncs skip it,
/// so they stay one request and a few milliseconds; `jmirror check --read-data` reads everything.
struct Scrub {
    /// Bytes re-hashed per run: 64 MB takes about 40 ms of SHA-256 here (more when cold on disk).
    static let budget: Int64 = 64 << 20

    let store: MirrorStore

    /// Returns the objects found damaged; each is moved aside and its messages marked, so that
    /// the caller's next blob retry fetches them again.
    func run() throws -> [String] {
        let batch = try store.catalog.scrubBatch(bytes: Scrub.budget)
        var damaged: [String] = []
        for (sha, _) in batch {
            guard let actual = try? SHA256Hasher.hex(ofFileAt: store.objects.path(sha)).sha256, actual != sha else { continue }
            try store.catalog.condemn(sha, in: store.objects)
            damaged.append(sha)
        }
        if let last = batch.last?.sha256 { try store.catalog.setScrubCursor(last) }
        return damaged
    }
}
