import Foundation

/// A mirror root: `<root>/.jmirror/{catalog.sqlite, objects/, tmp/}` beside the per-account views.
/// One process at a time: a lock file is held for the life of the value.
public final class MirrorStore: Sendable {
    public let root: String
    public let catalog: Catalog
    public let objects: ObjectStore
    private let lock: FileLock

    public init(root: String) throws {
        self.root = root
        let meta = root + "/.jmirror"
        // A new mirror root is private (0700) whatever the umask; an existing one is left as it is
        // (the CLI warns when others can read it).
        if !FileManager.default.fileExists(atPath: root) {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        try FileManager.default.createDirectory(atPath: meta, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        guard let lock = try FileLock(path: meta + "/lock", exclusive: true, wait: false) else {
            throw StoreError(path: root, message: "another jmirror is working on this mirror (lock \(meta)/lock is held)")
        }
        self.lock = lock
        objects = try ObjectStore(root: meta + "/objects/sha256", temporaryDirectory: meta + "/tmp")
        catalog = try Catalog(path: meta + "/catalog.sqlite")
    }

    /// The catalog and the object store without the lock, for readers that must work while a
    /// daemon holds it (search). SQLite keeps their reads consistent; they write nothing but
    /// their own files and the search journal's bookkeeping (`CatalogSearchJournal.swift`).
    public static func reader(root: String) throws -> (catalog: Catalog, objects: ObjectStore) {
        let meta = root + "/.jmirror"
        guard FileManager.default.fileExists(atPath: meta + "/catalog.sqlite") else {
            throw StoreError(path: root, message: "no mirror here yet (run `jmirror sync` first)")
        }
        return (try Catalog(path: meta + "/catalog.sqlite"),
                try ObjectStore(root: meta + "/objects/sha256", temporaryDirectory: meta + "/tmp"))
    }

    /// A warning when group or others may list or read the mirror root.
    public var sharedRootWarning: String? {
        var st = stat()
        guard stat(root, &st) == 0, st.st_mode & 0o077 != 0 else { return nil }
        return "warning: the mirror \(root) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 700 \(root)"
    }
}

/// An account's name is a folder of the mirror: letters, digits, '.', '_' and '-', not starting
/// with a punctuation mark. (A character test, not a regular expression: ICU's regex compiler
/// cost 2.3 ms per account at every start.)
public enum AccountName {
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first, Self.alphanumeric(first) else { return false }
        return name.utf8.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    static func alphanumeric(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }
}
