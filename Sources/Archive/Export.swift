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
        var files: [(path: String, data: Data)] = []
        var needed: [String: Int64] = [:]
        let encoder = Manifest.encoder()
        for s in snapshots.sorted(by: { ($0.account, $0.time, $0.id) < ($1.account, $1.time, $1.id) }) {
            let state = try AccountState.load(store.catalog, account: s.account, snapshot: s)
            var body = Data()
            for v in state.all.sorted(by: { ($0.type, $0.id) < ($1.type, $1.id) }) {
                body += try encoder.encode(VersionLine(v)) + Data("\n".utf8)
                if let sha = v.sha256 { needed[sha] = Int64(v.size) }
                for sha in v.blobs.values where needed[sha] == nil { needed[sha] = -1 }
            }
            let file = "snapshots/\(s.id).jsonl"
            files.append((file, body))
            manifest.snapshots.append(.init(id: s.id, account: s.account, time: s.time.timeIntervalSince1970, tags: s.tags,
                                            counts: s.counts, bytesNew: s.bytesNew, file: file,
                                            sha256: SHA256Hasher.hex(of: body), objects: state.objects.count))
        }
        var result = Result(archive: "", base: manifest.base, snapshots: manifest.snapshots.map(\.id))
        for sha in needed.keys.sorted() {
            var st = stat()
            let inArchive = baseSizes[sha] == nil
            if inArchive {
                guard stat(store.objects.path(sha), &st) == 0 else {
                    throw ArchiveError(.damaged, "object \(sha) that the snapshots need is not in the store; run `jmirror check`")
                }
                result.objects += 1
                result.bytes += Int64(st.st_size)
            } else {
                result.objectsInBase += 1
            }
            let size = inArchive ? Int64(st.st_size) : baseSizes[sha] ?? 0
            manifest.objects.append(.init(sha256: sha, size: size, inBase: !inArchive))
        }
        manifest = try manifest.sealed()
        result.archive = manifest.id

        let (fd, temporary) = try ArchiveExporter.openOutput(output)
        do {
            let writer = try TarWriter(fd: fd)
            try writer.add("manifest.json", data: try encoder.encode(manifest))
            for f in files { try writer.add(f.path, data: f.data) }
            for o in manifest.objects where !o.inBase {
                try writer.add("objects/sha256/\(o.sha256.prefix(2))/\(o.sha256)", file: store.objects.path(o.sha256))
            }
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
        return result
    }

    /// Standard output for "-"; otherwise a temporary file beside `path` (renamed when complete,
    /// so a killed export never leaves a partial archive under the name).
    static func openOutput(_ path: String) throws -> (Int32, String?) {
        if path == "-" { return (STDOUT_FILENO, nil) }
        let dir = (path as NSString).deletingLastPathComponent
        let temporary = (dir.isEmpty ? "." : dir) + "/.jmirror-export-\(getpid())-" + (path as NSString).lastPathComponent
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArchiveError(.io, "\(path): cannot write: \(String(cString: strerror(errno)))") }
        return (fd, temporary)
    }
}
