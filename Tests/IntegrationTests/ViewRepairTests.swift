import Digest
import Foundation
import JMAP
import Store
import TestSupport
import Testing

extension Integration {
    @Suite("The Maildir is read-only for users: what others change is undone by the next sync")
    struct ViewRepairTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("a reader's renamed file, a deleted file, a deleted folder and a lost catalog all converge to the server, never doubled")
        func converges() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "vr")
            let inbox = try await account.mailboxId(role: "inbox")
            let projects = try #require(try await account.setMailbox(create: "Projects"))
            var ids: [String] = []
            for i in 0..<6 {
                ids.append(try await account.importMessage(sampleMessage("m\(i)"), mailboxIds: [i < 4 ? inbox : projects]))
            }
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            let cur = mirror.mailRoot + "/cur"
            func file(_ id: String) throws -> String {
                try #require(try FileManager.default.contentsOfDirectory(atPath: cur).first { $0.hasPrefix("jmap-\(id):") })
            }

            // A mail reader marks a message read by renaming its file; then the server flags it.
            let read = try file(ids[0])
            #expect(rename(cur + "/" + read, cur + "/" + read + "S") == 0)
            try await account.updateEmail(ids[0], ["keywords/$flagged": true])
            _ = try await mirror.sync(account)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            // The same rename with nothing changed on the server is undone too.
            let again = try file(ids[1])
            #expect(rename(cur + "/" + again, cur + "/" + again + "S") == 0)
            _ = try await mirror.sync(account)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))

            // A deleted file and a deleted folder come back; a foreign file is left alone.
            unlink(cur + "/" + (try file(ids[2])))
            try FileManager.default.removeItem(atPath: mirror.mailRoot + "/.Projects")
            FileManager.default.createFile(atPath: cur + "/notes.txt", contents: Data("mine".utf8))
            _ = try await mirror.sync(account)
            #expect(FileManager.default.fileExists(atPath: cur + "/notes.txt"))
            unlink(cur + "/notes.txt")
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))

            // The catalog is lost while the server changes flags: the next sync neither keeps stale
            // files nor doubles anything.
            for id in ids.prefix(4) { try await account.updateEmail(id, ["keywords/$answered": true]) }
            for suffix in ["", "-wal", "-shm"] { unlink(mirror.dir + "/.jmirror/catalog.sqlite" + suffix) }
            let rebuilt = try await mirror.sync(account)
            // Every message is still in the store: known by the digests the server reports, none
            // downloaded again.
            #expect(rebuilt.blobsDownloaded == 0 && rebuilt.bytesDownloaded == 0, "\(rebuilt.blobsDownloaded) blobs downloaded")
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            #expect(mirror.files().count == 6)

            // Renaming a folder with a non-ASCII name, twice (SQLite counts characters, not bytes).
            try await account.setMailbox(update: projects, patch: ["name": "Überprojekte"])
            _ = try await mirror.sync(account)
            try await account.setMailbox(update: projects, patch: ["name": "Überprojekte 日本"])
            try await account.updateEmail(ids[5], ["keywords/$seen": true])
            _ = try await mirror.sync(account)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            #expect(mirror.files().count == 6)
        }

        @Test("a damaged object is found by the next sync that changes something, moved aside, and fetched again in that run")
        func scrub() async throws {
            let account = try await ServerAccount.fresh(server, prefix: "sc")
            let inbox = try await account.mailboxId(role: "inbox")
            let other = try #require(try await account.setMailbox(create: "Other"))
            var ids: [String] = []
            for i in 0..<3 { ids.append(try await account.importMessage(sampleMessage("s\(i)", body: "body \(i)"), mailboxIds: [inbox])) }
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            let expected = try mirror.snapshot()
            let shas = Array(expected[""] ?? []).map { String($0.prefix(64)) }.sorted()
            func object(_ sha: String) -> String { mirror.dir + "/.jmirror/objects/sha256/\(sha.prefix(2))/\(sha)" }

            // A flipped bit, same size: nothing links it anew, the rolling scrub finds it.
            try flipByte(object(shas[0]), at: 20)
            try await account.importMessage(sampleMessage("trigger"), mailboxIds: [inbox])
            let s1 = try await mirror.sync(account)
            #expect(s1.failed.isEmpty)
            #expect(try SHA256Hasher.hex(ofFileAt: object(shas[0])).sha256 == shas[0])
            #expect(FileManager.default.fileExists(atPath: mirror.dir + "/.jmirror/damaged/" + shas[0]))
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))

            // A truncated object about to be linked into another folder: its size gives it away.
            let victim = try #require(ids.first { id in
                (try? FileManager.default.contentsOfDirectory(atPath: mirror.mailRoot + "/cur"))?.contains { $0.hasPrefix("jmap-\(id):") } == true
            })
            let file = try #require(try FileManager.default.contentsOfDirectory(atPath: mirror.mailRoot + "/cur").first { $0.hasPrefix("jmap-\(victim):") })
            let sha = try SHA256Hasher.hex(ofFileAt: mirror.mailRoot + "/cur/" + file).sha256
            chmod(object(sha), 0o600)
            truncate(object(sha), 10)
            try await account.updateEmail(victim, ["mailboxIds/\(other)": true])
            let s2 = try await mirror.sync(account)
            #expect(s2.failed.isEmpty)
            #expect(try SHA256Hasher.hex(ofFileAt: object(sha)).sha256 == sha)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
        }
    }
}
