import Digest
import Foundation
import History
import Store

/// `jmirror archive import`: adds an archive's snapshots and objects to a mirror, after which
/// they are snapshots like any other. Objects land in the store (durable) before the catalog
/// names them; importing the same archive twice changes nothing.
public struct ArchiveImporter {
    public struct Result: Codable, Sendable {
        public var archive: String
        public var snapshotsImported: [String] = []
        public var snapshotsAlreadyHere: [String] = []
        public var objectsAdded = 0
        public var bytesAdded: Int64 = 0
        /// Entries of a PDPA archive that have no counterpart here (tasks, notes, …).
        public var skipped = 0
    }

    let store: MirrorStore
    /// Accounts of the configuration: an archive's account may not take one of their names.
    let configured: Set<String>

    public init(store: MirrorStore, configured: Set<String>) {
        self.store = store
        self.configured = configured
    }

    /// Bases first: an incremental archive's objects come partly from its base.
    public static func order(_ paths: [String]) throws -> [String] {
        guard paths.count > 1 else { return paths }
        var manifests: [(String, Manifest)] = []
        for p in paths {
            guard p != "-" else { throw ArchiveError(.usage, "standard input (-) can only be imported alone") }
            // A PDPA archive has no jmirror manifest and no base: it goes in the order given.
            manifests.append((p, (try? ArchiveReader.manifest(of: p)) ?? Manifest(id: "pdpa:" + p)))
        }
        var out: [String] = []
        var done = Set<String>()
        while out.count < manifests.count {
            guard let next = manifests.first(where: { p, m in !out.contains(p) && (m.base.map { done.contains($0) } ?? true
                    || !manifests.contains { $0.1.id == m.base }) }) else { break }
            out.append(next.0)
            done.insert(next.1.id)
        }
        return out
    }

    public func run(_ path: String, rename: String?) throws -> Result {
        store.objects.removeTemporaryFiles()
        let sink = StoreSink(objects: store.objects)
        var pending: [(SnapshotRow, [VersionRow])] = []
        var result = Result(archive: "")
        let existing = try store.catalog.snapshots()
        let known = Set(existing.map(\.id))
        let synced = Set(try store.catalog.syncedAccounts())
        var accountName: (String) -> String = { $0 }
        let (fd, name) = try ArchiveReader.open(path)
        defer { if fd != STDIN_FILENO { close(fd) } }
        let adopting = Adoption()
        defer { try? adopting.wait() }
        let reader = try TarReader(fd: fd, name: name)
        let first = try reader.next()
        if first?.path == "archive.json" {
            return try PDPAImporter(store: store, configured: configured).run(reader, metadata: try reader.readAll(limit: 16 << 20), rename: rename)
        }
        guard first?.path == "manifest.json" else {
            throw ArchiveError(.damaged, "\(name): neither a jmirror archive (manifest.json) nor a PDPA archive (archive.json)")
        }
        let manifest = try Manifest.decode(try reader.readAll(limit: 256 << 20), name: name)
        let (_, landed) = try ArchiveReader.read(reader, manifest: manifest, sink: sink, onManifest: { m in
            result.archive = m.id
            let accounts = Set(m.snapshots.map(\.account))
            if let rename {
                guard accounts.count == 1 else {
                    throw ArchiveError(.usage, "--as renames one account, and this archive holds \(accounts.count): "
                        + accounts.sorted().joined(separator: ", "))
                }
                accountName = { _ in rename }
            }
            for a in accounts.map(accountName) where configured.contains(a) || synced.contains(a) {
                throw ArchiveError(.usage, "the archive's account \(a) has the name of an account of this mirror; "
                    + "import it under another name with --as NAME")
            }
            for s in m.snapshots where !known.contains(s.id) {
                let a = accountName(s.account)
                if let newest = existing.filter({ $0.account == a }).map(\.time).max(), newest.timeIntervalSince1970 > s.time {
                    throw ArchiveError(.usage, "snapshot \(s.id.prefix(8)) is older than account \(a)'s newest snapshot here; "
                        + "import it under another name with --as NAME")
                }
            }
            let missing = m.objects.filter { $0.inBase && !store.objects.contains($0.sha256) }
            if !missing.isEmpty {
                throw ArchiveError(.usage, "this archive is incremental on base \(m.base ?? "?"), and \(missing.count) objects of "
                    + "that base are not in this mirror: import the base archive first, or give it in the same command")
            }
        }, onObjects: { landed in
            // Durable and in place while the snapshot files are read (they come last).
            adopting.start(store: store, landed: landed)
        }, onSnapshot: { s, rows in
            let row = SnapshotRow(id: s.id, account: accountName(s.account), generation: 0, time: Date(timeIntervalSince1970: s.time),
                                  tags: s.tags, counts: s.counts, bytesNew: s.bytesNew)
            pending.append((row, rows))
        })
        try adopting.wait()
        result.objectsAdded = landed.landed.count
        result.bytesAdded = landed.bytes
        for (row, rows) in pending.sorted(by: { ($0.0.time, $0.0.id) < ($1.0.time, $1.0.id) }) {
            if try store.catalog.importSnapshot(row, versions: rows) {
                result.snapshotsImported.append(row.id)
            } else {
                result.snapshotsAlreadyHere.append(row.id)
            }
        }
        return result
    }
}

/// `syncfs`, then every landed object renamed into place, on another thread.
final class Adoption: @unchecked Sendable {
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var failure: Error?

    func start(store: MirrorStore, landed: StoreSink) {
        DispatchQueue.global().async(group: group) {
            do {
                try store.objects.syncFilesystem()
                for (sha, temporary) in landed.landed { try store.objects.adopt(temporaryPath: temporary, sha256: sha) }
            } catch {
                self.lock.withLock { self.failure = error }
            }
        }
    }

    func wait() throws {
        group.wait()
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}

/// Objects into the store's temporary directory while they are read and hashed; renamed into
/// place after one `syncfs`, only once the whole archive has been read and checked.
struct StoreSink: ArchiveReader.Sink {
    let objects: ObjectStore
    var landed: [(String, String)] = []
    var bytes: Int64 = 0
    var current: (path: String, fd: Int32)?

    init(objects: ObjectStore) { self.objects = objects }

    mutating func begin(_ sha256: String) throws {
        guard !objects.contains(sha256) else { return }
        let t = try objects.makeTemporaryFile()
        current = (t.path, t.descriptor)
    }

    mutating func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard let c = current, let base = chunk.baseAddress else { return }
        var offset = 0
        while offset < chunk.count {
            let n = Glibc.write(c.fd, base + offset, chunk.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StoreError(path: c.path, message: String(cString: strerror(errno))) }
            offset += n
        }
        bytes += Int64(chunk.count)
    }

    mutating func finish(_ sha256: String) throws {
        guard let c = current else { return }
        close(c.fd)
        landed.append((sha256, c.path))
        current = nil
    }

    mutating func discard() {
        guard let c = current else { return }
        close(c.fd)
        unlink(c.path)
        current = nil
    }
}
