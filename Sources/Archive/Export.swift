import Digest
import Foundation
import History
import Store

/// Writes snapshots as one self-contained archive. Deterministic: entries sorted, metadata fixed,
/// no wall-clock time, so the same snapshots (and base) give byte-identical archives.
public struct ArchiveExporter {
    public struct Result: Codable, Sendable {
        public var archive: String
        public var base: String?
        public var snapshots: [String]
        public var objects = 0
        public var objectsInBase = 0
        public var bytes: Int64 = 0
    }

    let store: MirrorStore

    public init(store: MirrorStore) { self.store = store }

    /// `output`: a path (written beside itself, then renamed) or "-" for standard output.
    public func export(_ snapshots: [SnapshotRow], to output: String, base: String?) throws -> Result {
        let baseObjects = try base.map { try ArchiveReader.manifest(of: $0) }
        let baseSizes = Dictionary((baseObjects?.objects ?? []).map { ($0.sha256, $0.size) }, uniquingKeysWith: { a, _ in a })
        var manifest = Manifest(base: baseObjects?.id)
        // Each snapshot's lines are spooled to a temporary file (hashed on the way), so memory does
        // not grow with the account; the manifest, which comes first, needs their hashes.
        var spools: [(path: String, file: String)] = []
        defer { for s in spools { unlink(s.file) } }
        var needed = Set<String>()
        let encoder = Manifest.encoder()
        for s in snapshots.sorted(by: { ($0.account, $0.time, $0.id) < ($1.account, $1.time, $1.id) }) {
            let (file, fd) = try store.objects.makeTemporaryFile()
            spools.append(("snapshots/\(s.id).jsonl", file))
            fchmod(fd, 0o600)
            let hasher = SHA256Hasher()
            var objects = Set<String>()
            var buffer = Data()
            func flush() throws {
                guard AtomicFile.writeAll(fd, buffer) else {
                    throw ArchiveError(.io, "\(file): \(String(cString: strerror(errno)))")
                }
                hasher.update(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            do {
                try store.catalog.eachVersion(account: s.account, generation: s.generation) { v in
                    buffer += try encoder.encode(VersionLine(v))
                    buffer.append(UInt8(ascii: "\n"))
                    if let sha = v.sha256 { objects.insert(sha) }
                    objects.formUnion(v.blobs.values)
                    if buffer.count >= 1 << 20 { try flush() }
                }
                try flush()
                close(fd)
            } catch {
                close(fd)
                throw error
            }
            needed.formUnion(objects)
            manifest.snapshots.append(.init(id: s.id, account: s.account, time: s.time.timeIntervalSince1970, tags: s.tags,
                                            counts: s.counts, bytesNew: s.bytesNew, file: "snapshots/\(s.id).jsonl",
                                            sha256: hasher.finalizeHex(), objects: objects.count))
        }
        var result = Result(archive: "", base: manifest.base, snapshots: manifest.snapshots.map(\.id))
        for sha in needed.sorted() {
            if let size = baseSizes[sha] {
                result.objectsInBase += 1
                manifest.objects.append(.init(sha256: sha, size: size, inBase: true))
                continue
            }
            var st = stat()
            guard stat(store.objects.path(sha), &st) == 0 else {
                throw ArchiveError(.damaged, "object \(sha) that the snapshots need is not in the store; run `jmirror check`")
            }
            result.objects += 1
            result.bytes += Int64(st.st_size)
            manifest.objects.append(.init(sha256: sha, size: Int64(st.st_size), inBase: false))
        }
        manifest = try manifest.sealed()
        result.archive = manifest.id

        try ArchiveExporter.write(to: output) { writer in
            try writer.add("manifest.json", data: try encoder.encode(manifest))
            // Objects before the snapshot files: an importer makes the objects durable before it
            // reads what names them.
            for o in manifest.objects where !o.inBase {
                try writer.add("objects/sha256/\(o.sha256.prefix(2))/\(o.sha256)", file: store.objects.path(o.sha256))
            }
            for s in spools { try writer.add(s.path, file: s.file) }
        }
        return result
    }

    /// Writes an archive to `output`: standard output for "-"; otherwise a temporary file beside
    /// it, made durable and renamed when complete, so a killed export never leaves a partial
    /// archive under the name.
    static func write(to output: String, _ body: (TarWriter) throws -> Void) throws {
        var fd = STDOUT_FILENO
        var temporary: String?
        if output != "-" {
            let dir = (output as NSString).deletingLastPathComponent
            let t = (dir.isEmpty ? "." : dir) + "/.jmirror-export-\(getpid())-" + (output as NSString).lastPathComponent
            fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ArchiveError(.io, "\(output): cannot write: \(String(cString: strerror(errno)))") }
            temporary = t
        }
        do {
            let writer = try TarWriter(fd: fd)
            try body(writer)
            try writer.close()
            if let temporary {
                guard fsync(fd) == 0 else { throw ArchiveError(.io, "\(output): \(String(cString: strerror(errno)))") }
                close(fd)
                guard rename(temporary, output) == 0 else { throw ArchiveError(.io, "\(output): \(String(cString: strerror(errno)))") }
                AtomicFile.syncDirectory((output as NSString).deletingLastPathComponent)
            }
        } catch {
            if let temporary {
                close(fd)
                unlink(temporary)
            }
            throw error
        }
    }
}
