import Digest
import Foundation
import GRDB
import Store
import Testing

@Suite("Object store and catalog files")
struct StoreFilesTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "/jmirror-storefiles-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    @Test("a temporary file is named in tmp/, read-only, written through its descriptor, and adopted under its SHA-256")
    func temporaryFileLifecycle() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let objects = try ObjectStore(root: dir + "/objects", temporaryDirectory: dir + "/tmp")
        var paths = Set<String>()
        for i in 0..<20 {
            let (path, fd) = try objects.makeTemporaryFile()
            #expect(path.hasPrefix(dir + "/tmp/blob-"))
            #expect(paths.insert(path).inserted)
            var st = stat()
            #expect(fstat(fd, &st) == 0 && st.st_mode & 0o777 == 0o400 && st.st_nlink == 1)
            let data = Data("message \(i)\n".utf8)
            #expect(AtomicFile.writeAll(fd, data))
            close(fd)
            // The name given is the file written: what a crash leaves in tmp/ is found by name.
            #expect(FileManager.default.contents(atPath: path) == data)
            let sha = SHA256Hasher.hex(of: data)
            try objects.adopt(temporaryPath: path, sha256: sha)
            #expect(objects.contains(sha))
            #expect(try objects.verify(sha))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/tmp").isEmpty)
    }


    @Test("the catalog's WAL file outlives the last connection, so the next open writes nothing to set it up")
    func walPersists() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/catalog.sqlite"
        do {
            let catalog = try Catalog(path: path)
            try catalog.setScrubCursor("00")
        }
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")
        #expect((wal[.size] as? Int ?? 0) > 0)
        // The schema cookie (header offset 40) counts schema changes: GRDB's set-up of a missing
        // WAL created and dropped a table at every open, two changes per process.
        func cookie() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))[40..<44]) }
        let before = try cookie()
        for _ in 0..<3 {
            let catalog = try Catalog(path: path)
            #expect(try catalog.emailCount(account: "none") == 0)
        }
        #expect(try cookie() == before)
    }
    @Test("each open starts the kept WAL over: a run's writes are not carried and copied again by every later run")
    func walStartsOver() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/catalog.sqlite"
        do {
            // A first sync's worth of pages (about 700) left in the WAL by the last connection.
            let catalog = try Catalog(path: path)
            try catalog.pool.write { db in
                try db.execute(sql: "CREATE TABLE bulk(x BLOB)")
                for _ in 0..<5000 { try db.execute(sql: "INSERT INTO bulk VALUES (randomblob(500))") }
            }
        }
        // Each later run writes one small transaction; the frames its WAL then holds are its own.
        // Before, each opener took the 700 as new and the log only grew (700, 703, 706…).
        for _ in 0..<3 {
            let catalog = try Catalog(path: path)
            try catalog.setScrubCursor("ab")
            let frames = try catalog.pool.writeWithoutTransaction { db in
                try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)").map { $0[1] as Int } ?? -1
            }
            #expect(frames >= 1 && frames < 20)
        }
        let catalog = try Catalog(path: path)
        #expect(try catalog.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM bulk") } == 5000)
    }
}
