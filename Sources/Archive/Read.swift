import Digest
import Foundation
import History
import Store

/// Reads an archive front to back, checking everything on the way: the manifest first, each
/// snapshot file against its SHA-256, each object against its name and the manifest, and at the
/// end that nothing the manifest lists is missing. Needs no mirror and no configuration.
public struct ArchiveReader {
    public struct Summary: Codable, Sendable {
        public var archive: String
        public var base: String?
        public var snapshots: [Manifest.Snapshot]
        public var objects = 0
        public var objectsInBase = 0
        public var bytes: Int64 = 0
    }

    /// Where object data goes while it is read and hashed: nowhere (verify) or the store (import).
    protocol Sink: Sendable {
        mutating func begin(_ sha256: String) throws
        mutating func write(_ chunk: UnsafeRawBufferPointer) throws
        /// Called once the object's bytes are known to match its name.
        mutating func finish(_ sha256: String) throws
        mutating func discard()
    }

    struct NoSink: Sink {
        func begin(_ sha256: String) {}
        func write(_ chunk: UnsafeRawBufferPointer) {}
        func finish(_ sha256: String) {}
        func discard() {}
    }

    static func open(_ path: String) throws -> (Int32, String) {
        if path == "-" { return (STDIN_FILENO, "standard input") }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError(.usage, "\(path): cannot open: \(String(cString: strerror(errno)))") }
        return (fd, path)
    }

    /// Only the manifest (the first entry): enough for `list` and to find an archive's base.
    public static func manifest(of path: String) throws -> Manifest {
        let first = try firstEntry(of: path)
        guard first.path == "manifest.json" else {
            throw ArchiveError(.damaged, "\(path): not a jmirror archive (it does not start with manifest.json)")
        }
        return try Manifest.decode(first.data, name: path)
    }

    /// The first entry's name and bytes: `manifest.json` (ours) or `archive.json` (PDPA).
    public static func firstEntry(of path: String) throws -> (path: String, data: Data) {
        let (fd, name) = try open(path)
        defer { if fd != STDIN_FILENO { close(fd) } }
        let reader = try TarReader(fd: fd, name: name)
        guard let first = try reader.next() else { throw ArchiveError(.damaged, "\(name): an empty archive") }
        return (first.path, try reader.readAll(limit: 256 << 20))
    }

    /// Reads the whole archive. `onManifest` may refuse it before any object is read;
    /// `onSnapshot` gets each snapshot's objects.
    static func read<S: Sink>(_ path: String, sink: S, onManifest: (Manifest) throws -> Void = { _ in },
                              onSnapshot: (Manifest.Snapshot, [VersionRow]) throws -> Void = { _, _ in }) throws -> (Summary, S) {
        let (fd, name) = try open(path)
        defer { if fd != STDIN_FILENO { close(fd) } }
        let reader = try TarReader(fd: fd, name: name)
        guard let first = try reader.next(), first.path == "manifest.json" else {
            throw ArchiveError(.damaged, "\(name): not a jmirror archive (it does not start with manifest.json)")
        }
        let manifest = try Manifest.decode(try reader.readAll(limit: 256 << 20), name: name)
        return try read(reader, manifest: manifest, sink: sink, onManifest: onManifest, onObjects: { _ in }, onSnapshot: onSnapshot)
    }

    /// The rest of an archive whose manifest has been read.
    /// `onObjects` gets the sink once every object is read and checked (before the snapshot files,
    /// which come last), so that an importer can make them durable while the rest is read.
    static func read<S: Sink>(_ reader: TarReader, manifest: Manifest, sink: S, onManifest: (Manifest) throws -> Void,
                              onObjects: (S) throws -> Void,
                              onSnapshot: (Manifest.Snapshot, [VersionRow]) throws -> Void) throws -> (Summary, S) {
        let name = reader.name
        try onManifest(manifest)
        var summary = Summary(archive: manifest.id, base: manifest.base, snapshots: manifest.snapshots)
        let snapshotFiles = Dictionary(manifest.snapshots.map { ($0.file, $0) }, uniquingKeysWith: { a, _ in a })
        var expected = Set(manifest.objects.filter { !$0.inBase }.map(\.sha256))
        summary.objectsInBase = manifest.objects.count - expected.count
        var seenSnapshots = Set<String>()
        let pipeline = ObjectPipeline(sink: sink)
        var objectsDone: S?
        func finishObjects() throws -> S {
            if let done = objectsDone { return done }
            let done = try pipeline.drain()
            objectsDone = done
            try onObjects(done)
            return done
        }
        do {
        while let entry = try reader.next() {
            if pipeline.failed { break }
            if let snap = snapshotFiles[entry.path] {
                _ = try finishObjects()
                let body = try reader.readAll(limit: 1 << 31)
                guard SHA256Hasher.hex(of: body) == snap.sha256 else {
                    throw ArchiveError(.damaged, "\(name): \(entry.path) is damaged (its SHA-256 differs from the manifest's)")
                }
                guard let rows = VersionLine.rows(body) else {
                    throw ArchiveError(.damaged, "\(name): \(entry.path) has a line jmirror cannot read")
                }
                seenSnapshots.insert(snap.file)
                try onSnapshot(snap, rows)
            } else if entry.path.hasPrefix("objects/sha256/") {
                let sha = String(entry.path.split(separator: "/").last ?? "")
                guard objectsDone == nil else { throw ArchiveError(.damaged, "\(name): an object after the snapshot files") }
                guard expected.remove(sha) != nil else {
                    throw ArchiveError(.damaged, "\(name): \(entry.path) is not in the manifest (or appears twice)")
                }
                pipeline.begin(sha)
                try reader.read { pipeline.write($0) }
                pipeline.finish(sha, name: name)
                summary.objects += 1
                summary.bytes += entry.size
            } else {
                throw ArchiveError(.damaged, "\(name): unexpected entry \(entry.path)")
            }
        }
        } catch {
            pipeline.abandon()
            throw error
        }
        let landed = try finishObjects()
        let missingSnapshots = Set(snapshotFiles.keys).subtracting(seenSnapshots)
        guard missingSnapshots.isEmpty, expected.isEmpty else {
            throw ArchiveError(.damaged, "\(name): truncated: \(missingSnapshots.count) snapshot files and \(expected.count) objects "
                + "that the manifest lists are missing")
        }
        return (summary, landed)
    }

    /// `jmirror archive verify`: every byte checked; throws on the first problem. A PDPA archive
    /// carries no checksums: it is read to the end, which proves it complete and readable.
    public static func verify(_ path: String) throws -> Summary {
        let (fd, name) = try open(path)
        defer { if fd != STDIN_FILENO { close(fd) } }
        let reader = try TarReader(fd: fd, name: name)
        let first = try reader.next()
        if first?.path == "archive.json" {
            var summary = Summary(archive: "pdpa", snapshots: [])
            try reader.read { _ in }
            while let entry = try reader.next() {
                try reader.read { _ in }
                summary.objects += 1
                summary.bytes += entry.size
            }
            return summary
        }
        guard first?.path == "manifest.json" else {
            throw ArchiveError(.damaged, "\(name): neither a jmirror archive (manifest.json) nor a PDPA archive (archive.json)")
        }
        let manifest = try Manifest.decode(try reader.readAll(limit: 256 << 20), name: name)
        return try read(reader, manifest: manifest, sink: NoSink(), onManifest: { _ in }, onObjects: { _ in }, onSnapshot: { _, _ in }).0
    }
}
