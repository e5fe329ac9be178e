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
            _ = try await mirror.sync(account)
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
    }
}
