import Archive
import Digest
import Foundation
import History
import Store
import Testing

@Suite("Archives, without a server")
struct ArchiveUnitTests {
    /// A mirror with one account, three messages and one snapshot.
    func mirror() throws -> (MirrorStore, SnapshotRow, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jm-archive-\(UUID().uuidString)").path
        let store = try MirrorStore(root: dir)
        var round = CatalogRound(account: "acct")
        round.upsertMailboxes = [MailboxRow(id: "m1", parentId: nil, name: "Inbox", role: "inbox", json: Data(#"{"id":"m1","name":"Inbox","role":"inbox"}"#.utf8))]
        for i in 0..<3 {
            let body = Data("Subject: \(i)\r\n\r\nbody \(i)\r\n".utf8)
            let (path, fd) = try store.objects.makeTemporaryFile()
            _ = body.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            let sha = SHA256Hasher.hex(of: body)
            try store.objects.adopt(temporaryPath: path, sha256: sha)
            round.upsertEmails.append(EmailRow(id: "e\(i)", blobId: "B\(i)", sha256: sha, size: body.count, receivedAt: Date(timeIntervalSince1970: 1e9),
                                               keywords: ["$seen"], mailboxIds: ["m1"], json: Data(#"{"id":"e\#(i)"}"#.utf8)))
        }
        try store.catalog.apply(round)
        let snap = try #require(try store.catalog.recordSnapshot(account: "acct", tags: ["t"], force: false))
        return (store, snap, dir)
    }

    @discardableResult
    func run(_ args: [String], in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(args)")
        return String(decoding: data, as: UTF8.self)
    }

    @Test("export, verify, import into an empty mirror: the same state; twice: nothing new")
    func roundTrip() throws {
        let (store, snap, dir) = try mirror()
        let file = dir + "/a.tar.zst"
        let r = try ArchiveExporter(store: store).export([snap], to: file, base: nil)
        #expect(r.objects == 3)
        #expect(try ArchiveReader.verify(file).objects == 3)
        let other = try MirrorStore(root: dir + "/other")
        let importer = ArchiveImporter(store: other, configured: [])
        #expect(try importer.run(file, rename: nil).snapshotsImported == [snap.id])
        #expect(try other.catalog.versions(account: "acct", generation: other.catalog.snapshots()[0].generation)
            == (try store.catalog.versions(account: "acct", generation: snap.generation)))
        let again = try importer.run(file, rename: nil)
        #expect(again.snapshotsImported.isEmpty && again.snapshotsAlreadyHere == [snap.id] && again.objectsAdded == 0)
    }

    @Test("an object whose bytes do not match its name: verify and import say damaged, and import adds nothing")
    func damagedObject() throws {
        let (store, snap, dir) = try mirror()
        let file = dir + "/a.tar.zst"
        _ = try ArchiveExporter(store: store).export([snap], to: file, base: nil)
        // Rebuild the archive with one object's bytes changed (same size, same order of entries).
        let x = dir + "/x"
        try FileManager.default.createDirectory(atPath: x, withIntermediateDirectories: true)
        let order = try run(["/usr/bin/tar", "--zstd", "-tf", file], in: dir)
        try order.write(toFile: dir + "/order", atomically: true, encoding: .utf8)
        try run(["/usr/bin/tar", "--zstd", "-xf", file], in: x)
        let object = try #require(order.split(separator: "\n").first { $0.hasPrefix("objects/") })
        let path = x + "/" + object
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[3] ^= 0x20
        chmod(path, 0o600)
        try bytes.write(to: URL(fileURLWithPath: path))
        try run(["/usr/bin/tar", "--zstd", "-cf", dir + "/bad.tar.zst", "-T", dir + "/order"], in: x)

        #expect { try ArchiveReader.verify(dir + "/bad.tar.zst") } throws: { e in
            (e as? ArchiveError)?.kind == .damaged && "\(e)".contains("is damaged")
        }
        let other = try MirrorStore(root: dir + "/other")
        #expect(throws: ArchiveError.self) { try ArchiveImporter(store: other, configured: []).run(dir + "/bad.tar.zst", rename: nil) }
        #expect(try other.catalog.snapshots().isEmpty)
        let stored = FileManager.default.enumerator(atPath: other.objects.root)?.allObjects.count ?? 0
        #expect(stored == 0)
        // The intact archive still imports into that mirror afterwards.
        #expect(try ArchiveImporter(store: other, configured: []).run(file, rename: nil).snapshotsImported == [snap.id])
    }
}
