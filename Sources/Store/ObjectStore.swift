import Digest
import Foundation

// Linux's syncfs(2) is declared only under _GNU_SOURCE, which the Glibc module does not set.
@_silgen_name("syncfs")
private func jm_syncfs(_ fd: Int32) -> Int32

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    static func errno(_ path: String, _ what: String) -> StoreError {
        StoreError(path: path, message: "\(what): \(String(cString: strerror(Glibc.errno)))")
    }
}

/// Every blob once, immutable, at `objects/sha256/<2 hex>/<64 hex>`, named by the SHA-256 of its
/// bytes. Files arrive as temporary files in `tmp/` (same filesystem) and are renamed into place.
public struct ObjectStore: Sendable {
    public let root: String
    public let temporaryDirectory: String

    public init(root: String, temporaryDirectory: String) throws {
        self.root = root
        self.temporaryDirectory = temporaryDirectory
        for dir in [root, temporaryDirectory] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    public func path(_ sha256: String) -> String {
        "\(root)/\(sha256.prefix(2))/\(sha256)"
    }

    public func contains(_ sha256: String) -> Bool {
        var st = stat()
        return stat(path(sha256), &st) == 0
    }

    /// Moves a temporary file (already durable, or made so by a later `syncFilesystem`) to its
    /// place. A blob already stored wins; the temporary copy is dropped.
    public func adopt(temporaryPath: String, sha256: String) throws {
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw StoreError(path: temporaryPath, message: "not a SHA-256: \(sha256)")
        }
        let target = path(sha256)
        if contains(sha256) {
            unlink(temporaryPath)
            return
        }
        if rename(temporaryPath, target) != 0 {
            // The shard directory is made on first use only: one syscall less per blob.
            let shard = "\(root)/\(sha256.prefix(2))"
            guard Glibc.errno == ENOENT, mkdir(shard, 0o700) == 0 || Glibc.errno == EEXIST,
                  rename(temporaryPath, target) == 0 else { throw StoreError.errno(target, "rename") }
        }
    }

    /// Makes everything written so far durable: one `syncfs` instead of an fsync per file.
    public func syncFilesystem() throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.errno(root, "open") }
        defer { close(fd) }
        guard jm_syncfs(fd) == 0 else { throw StoreError.errno(root, "syncfs") }
    }

    /// Re-hashes a stored blob: true when its bytes still match its name.
    public func verify(_ sha256: String) throws -> Bool {
        try SHA256Hasher.hex(ofFileAt: path(sha256)).sha256 == sha256
    }

    /// A new, empty temporary file in `tmp/`, opened for writing. Created read-only (0400): Maildir
    /// files are hard links to objects, and no reader may edit a stored blob.
    ///
    /// The inode is made nameless (`O_TMPFILE`) and named afterwards: creating a file by name holds
    /// the directory's lock while ext4 looks for a free inode, and on a filesystem without a journal
    /// that search steps over every inode freed in the last one to six minutes, so after a large
    /// deletion the four writers of a first sync queued (and spun) on `tmp/`'s lock for most of
    /// their time.
    public func makeTemporaryFile() throws -> (path: String, descriptor: Int32) {
        var anonymous = open(temporaryDirectory, ObjectStore.tmpfileFlags | O_WRONLY | O_CLOEXEC, 0o400)
        for _ in 0..<16 {
            let path = temporaryDirectory + "/blob-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            if anonymous >= 0 {
                // Linking by /proc needs no privilege, unlike AT_EMPTY_PATH.
                if linkat(AT_FDCWD, "/proc/self/fd/\(anonymous)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return (path, anonymous) }
                if Glibc.errno == EEXIST { continue }
                close(anonymous)  // no /proc: name it the ordinary way below
                anonymous = -1
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
            if fd >= 0 { return (path, fd) }
            if Glibc.errno != EEXIST { break }
        }
        throw StoreError.errno(temporaryDirectory, "create a temporary file")
    }

    /// `O_TMPFILE` as Linux defines it (`__O_TMPFILE | O_DIRECTORY`), which Glibc's module does not export.
    static let tmpfileFlags: Int32 = 0o20_000_000 | O_DIRECTORY

    /// Where damaged objects are kept aside (the server may no longer have them):
    /// `.jmirror/damaged/`.
    public var damagedDirectory: String {
        (((root as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("damaged")
    }

    /// Moves a damaged object out of the store, so that a fetch can put the right bytes there.
    public func moveAside(_ sha256: String) throws {
        try FileManager.default.createDirectory(atPath: damagedDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        guard rename(path(sha256), damagedDirectory + "/" + sha256) == 0 || errno == ENOENT else {
            throw StoreError.errno(path(sha256), "move aside")
        }
    }

    /// Leftovers of an interrupted run: never visible anywhere, safe to delete.
    public func removeTemporaryFiles() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
            unlink(temporaryDirectory + "/" + name)
        }
    }
}
