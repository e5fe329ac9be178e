import Foundation
import Store

/// Deletes the objects that neither the current state nor any kept snapshot references.
/// Safe to kill at any instant: it only ever unlinks unreferenced files, under the mirror lock.
public struct Pruner {
    public struct Result: Codable, Sendable {
        public var objects = 0
        public var bytes: Int64 = 0
        public var kept = 0
        public var dryRun = false
    }

    let store: MirrorStore

    public init(store: MirrorStore) { self.store = store }

    public func run(dryRun: Bool) throws -> Result {
        let referenced = try store.catalog.referencedObjects()
        var result = Result(dryRun: dryRun)
        for (sha, path, size) in ObjectWalk.all(store.objects) {
            if referenced.contains(sha) {
                result.kept += 1
                continue
            }
            if !dryRun {
                guard unlink(path) == 0 || errno == ENOENT else {
                    throw StoreError(path: path, message: "cannot delete: \(String(cString: strerror(errno)))")
                }
            }
            result.objects += 1
            result.bytes += size
        }
        return result
    }
}

/// Every file in the object store: (SHA-256 from its name, path, size).
enum ObjectWalk {
    static func all(_ objects: ObjectStore) -> [(String, String, Int64)] {
        var out: [(String, String, Int64)] = []
        let fm = FileManager.default
        for shard in ((try? fm.contentsOfDirectory(atPath: objects.root)) ?? []).sorted() where shard.count == 2 {
            let dir = objects.root + "/" + shard
            for name in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where name.count == 64 {
                var st = stat()
                let path = dir + "/" + name
                guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                out.append((name, path, Int64(st.st_size)))
            }
        }
        return out
    }
}
