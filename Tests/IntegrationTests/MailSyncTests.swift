import Foundation
import JMAP
import Logging
import Mirror
import Store
import Sync
import TestSupport
import Testing

/// A mirror in a temporary directory, synced in-process like `jmirror sync` does.
struct TestMirror {
    let dir: String
    let name = "acct"

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-mirror-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    var mailRoot: String { dir + "/\(name)/mail" }

    func sync(_ account: ServerAccount, force: Bool = false) async throws -> SyncSummary {
        let store = try MirrorStore(root: dir)
        var options = SyncOptions()
        options.force = force
        let client = try await account.server.client(account.user)
        return try await MailSync(name: name, client: client, store: store, options: options,
                                  logger: Logger(label: "test"), onProgress: { _ in }).run()
    }

    func snapshot() throws -> [String: Set<String>] { try maildirSnapshot(mailRoot) }

    func inode(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    /// Paths (relative to mail/) of every message file.
    func files() -> [String] {
        (FileManager.default.enumerator(atPath: mailRoot)?.allObjects as? [String] ?? [])
            .filter { $0.contains("/cur/") || $0.hasPrefix("cur/") }
    }
}

extension Integration {
    @Suite("Mail sync against the real Cyrus")
    struct MailSyncTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("first sync copies everything; a rerun with no changes is one API request and no blob")
        func initialAndNoChange() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            let archive = try await account.mailboxId(role: "archive")
            for i in 0..<6 {
                try await account.importMessage(sampleMessage("m\(i)"), mailboxIds: [i % 2 == 0 ? inbox : archive],
                                                keywords: i % 3 == 0 ? ["$seen"] : [])
            }
            let mirror = try TestMirror()
            let first = try await mirror.sync(account)
            #expect(first.created == 6 && first.blobsDownloaded == 6 && first.failed.isEmpty)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))

            let again = try await mirror.sync(account)
            #expect(again.apiRequests == 1)
            #expect(again.blobsDownloaded == 0 && again.created == 0 && !again.fullResync)

            // The quiet request asks only for the Email state; a moved state costs a second request with the changes.
            let ids = try await account.allEmailIds()
            try await account.updateEmail(ids[0], ["keywords/$flagged": true])
            let flagged = try await mirror.sync(account)
            #expect(flagged.apiRequests == 2 && flagged.updated == 1 && flagged.blobsDownloaded == 0)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            #expect(FileManager.default.fileExists(atPath: mirror.mailRoot + "/.Archive/maildirfolder"))
            #expect(!FileManager.default.fileExists(atPath: mirror.mailRoot + "/maildirfolder"))
        }

        @Test("other keywords become Dovecot keyword letters, named in each folder's dovecot-keywords")
        func dovecotKeywords() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            let archive = try await account.mailboxId(role: "archive")
            let a = try await account.importMessage(sampleMessage("a"), mailboxIds: [inbox], keywords: ["$seen", "work"])
            let b = try await account.importMessage(sampleMessage("b"), mailboxIds: [inbox, archive], keywords: ["$junk"])
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            // Letters in first-seen order per folder; a flag file name stays in ASCII order.
            let inboxKeywords = read(mirror.mailRoot + "/dovecot-keywords")
            #expect(Set(inboxKeywords.split(separator: "\n")) == ["0 $junk", "1 work"] || Set(inboxKeywords.split(separator: "\n")) == ["0 work", "1 $junk"])
            #expect(read(mirror.mailRoot + "/.Archive/dovecot-keywords") == "0 $junk\n")
            #expect(mirror.files().contains(".Archive/cur/jmap-\(b):2,a"))
            #expect(mirror.files().contains { $0.hasPrefix("cur/jmap-\(a):2,S") && $0.count == "cur/jmap-\(a):2,Sx".count })

            // A keyword change renames; an existing letter keeps its meaning.
            try await account.updateEmail(a, ["keywords": ["$seen": true, "work": true, "$junk": true, "$flagged": true]])
            try await account.updateEmail(b, ["keywords": [:]])
            _ = try await mirror.sync(account)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            #expect(mirror.files().contains(".Archive/cur/jmap-\(b):2,"))
            #expect(mirror.files().contains("cur/jmap-\(a):2,FSab"))
            #expect(read(mirror.mailRoot + "/dovecot-keywords") == inboxKeywords)
        }

        @Test("new mail, keyword changes, a move, one message in three mailboxes, destroy")
        func changesFollow() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            let archive = try await account.mailboxId(role: "archive")
            let trash = try await account.mailboxId(role: "trash")
            let a = try await account.importMessage(sampleMessage("a"), mailboxIds: [inbox])
            let b = try await account.importMessage(sampleMessage("b"), mailboxIds: [inbox])
            let c = try await account.importMessage(sampleMessage("c"), mailboxIds: [inbox])
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)

            try await account.importMessage(sampleMessage("new"), mailboxIds: [inbox])
            try await account.updateEmail(a, ["keywords": ["$seen": true, "$flagged": true, "$answered": true]])
            try await account.updateEmail(b, ["mailboxIds": [.init(stringLiteral: archive): true]])
            try await account.updateEmail(c, ["mailboxIds": [.init(stringLiteral: inbox): true, .init(stringLiteral: archive): true,
                                                             .init(stringLiteral: trash): true]])
            let s = try await mirror.sync(account)
            #expect(s.created == 1 && s.moved == 2 && s.updated == 1 && !s.fullResync)
            #expect(s.blobsDownloaded == 1)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            let flagged = mirror.files().filter { $0.hasSuffix(":2,FRS") }
            #expect(flagged.count == 1)
            // One object, three links.
            let cFiles = mirror.files().filter { $0.contains("jmap-\(c):") }
            #expect(cFiles.count == 3)
            #expect(Set(cFiles.map { mirror.inode(mirror.mailRoot + "/" + $0) }).count == 1)
            var st = stat()
            stat(mirror.mailRoot + "/" + cFiles[0], &st)
            #expect(st.st_nlink == 4)  // three folders plus the object itself
            #expect(st.st_mtim.tv_sec == 1_709_287_200)  // receivedAt 2024-03-01T10:00:00Z
            #expect(st.st_mode & 0o777 == 0o400)  // read-only: a reader cannot edit the stored object

            try await account.destroyEmails([a, c])
            let d = try await mirror.sync(account)
            #expect(d.destroyed == 2)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            #expect(mirror.files().filter { $0.contains("jmap-\(c):") }.isEmpty)
        }

        @Test("mailbox create, rename, reparent and destroy; destroy forces a full reconcile that downloads nothing")
        func mailboxLifecycle() async throws {
            let account = try await ServerAccount.fresh(server)
            let archive = try await account.mailboxId(role: "archive")
            let projects = try #require(try await account.setMailbox(create: "Projects"))
            let y2024 = try #require(try await account.setMailbox(create: "2024", patch: ["parentId": .string(projects)]))
            let old = try #require(try await account.setMailbox(create: "Old"))
            try await account.importMessage(sampleMessage("p"), mailboxIds: [projects])
            try await account.importMessage(sampleMessage("y"), mailboxIds: [y2024])
            let o = try await account.importMessage(sampleMessage("o"), mailboxIds: [old])
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            #expect(Set(try mirror.snapshot().keys).isSuperset(of: [".Projects", ".Projects.2024", ".Old"]))

            try await account.setMailbox(update: projects, patch: ["name": "Work"])
            try await account.setMailbox(update: y2024, patch: ["parentId": .string(archive)])
            let renamed = try await mirror.sync(account)
            #expect(renamed.blobsDownloaded == 0)
            let snap = try mirror.snapshot()
            #expect(snap == (try await account.expectedMaildir()))
            #expect(snap[".Work"]?.count == 1 && snap[".Archive.2024"]?.count == 1)
            #expect(snap[".Projects"] == nil && snap[".Projects.2024"] == nil)

            try await account.updateEmail(o, ["mailboxIds": [.init(stringLiteral: archive): true]])
            try await account.setMailbox(destroy: old)
            let afterDestroy = try await mirror.sync(account)
            #expect(afterDestroy.fullResync)  // Cyrus: Email/changes → cannotCalculateChanges
            #expect(afterDestroy.blobsDownloaded == 0)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
            #expect(!FileManager.default.fileExists(atPath: mirror.mailRoot + "/.Old"))
        }

        @Test("unicode, '&', '~' and '.' in mailbox names are named as Dovecot names them and stay inside mail/")
        func awkwardNames() async throws {
            let account = try await ServerAccount.fresh(server)
            // Cyrus refuses '%' (an IMAP wildcard), control characters and ".." in names, and takes '/' as
            // its hierarchy separator; the escaping of those is unit-tested (FormatsTests).
            let names = ["Über.Ordner", "日本語", "~tilde & more", "a.b.c"]
            for n in names {
                let id = try #require(try await account.setMailbox(create: n))
                try await account.importMessage(sampleMessage(n), mailboxIds: [id])
            }
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            let snap = try mirror.snapshot()
            #expect(snap == (try await account.expectedMaildir()))
            for folder in [".&ANw-ber\\2eOrdner", ".&ZeVnLIqe-", ".\\7etilde &- more", ".a\\2eb\\2ec"] {
                #expect(snap[folder]?.count == 1, "\(folder)")
            }
            // Nothing escaped the mail directory: beside it are only the other views.
            let parent = Set((try? FileManager.default.contentsOfDirectory(atPath: mirror.dir + "/acct")) ?? [])
            #expect(parent.contains("mail"))
            #expect(parent.isSubset(of: ["mail", "contacts", "calendars", "sieve", "identities.json", "vacation.json"]))
        }

        @Test("8-bit and malformed messages are stored byte for byte")
        func eightBit() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            var raw = Data("From: =?broken <x@example.org>\r\nSubject: caf\u{E9} utf-8 without encoding\r\n".utf8)
            raw.append(contentsOf: [0x53, 0x75, 0x62, 0x6A, 0x3A, 0x20, 0xE9, 0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A])  // raw 8-bit header
            raw.append(contentsOf: (0..<2000).map { UInt8(128 + $0 % 128) })  // 8-bit body, no charset
            raw.append(Data("\r\n--no-boundary-closed\r\nContent-Type: multipart/broken\r\n".utf8))
            try await account.importMessage(raw, mailboxIds: [inbox])
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            let files = mirror.files()
            #expect(files.count == 1)
            let stored = try Data(contentsOf: URL(fileURLWithPath: mirror.mailRoot + "/" + files[0]))
            #expect(stored == raw)  // the test server keeps 8-bit headers (munge8bit: no)
            let id = try #require(try await account.allEmailIds().first)
            let blobId = try #require(try await account.client.get("Email", accountId: account.accountId, ids: [id],
                                                                   properties: ["blobId"], using: [Capability.mail]).list.first?["blobId"]?.stringValue)
            let served = try await account.client.download(accountId: account.accountId, blobId: blobId, into: mirror.dir)
            #expect(try Data(contentsOf: URL(fileURLWithPath: served.temporaryPath)) == stored)
        }

        @Test("a server that suddenly reports an empty account does not empty the mirror without --force")
        func emptyAccountGuard() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            for i in 0..<3 { try await account.importMessage(sampleMessage("g\(i)"), mailboxIds: [inbox]) }
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            let before = try mirror.snapshot()
            try await account.destroyEmails(try await account.allEmailIds())
            await #expect(throws: SafetyGuardError.self) { _ = try await mirror.sync(account) }
            #expect(try mirror.snapshot() == before)
            await #expect(throws: SafetyGuardError.self) { _ = try await mirror.sync(account) }  // still refused
            let forced = try await mirror.sync(account, force: true)
            #expect(forced.destroyed == 3)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
        }

        @Test("a mailbox losing more than max_deleted_share of its messages is refused; moving mail out counts too")
        func mailboxShareGuard() async throws {
            let account = try await ServerAccount.fresh(server)
            let inbox = try await account.mailboxId(role: "inbox")
            let archive = try await account.mailboxId(role: "archive")
            var ids: [String] = []
            for i in 0..<25 { ids.append(try await account.importMessage(sampleMessage("s\(i)"), mailboxIds: [inbox])) }
            try await account.importMessage(sampleMessage("elsewhere"), mailboxIds: [archive])
            let mirror = try TestMirror()
            _ = try await mirror.sync(account)
            let before = try mirror.snapshot()
            // 24 of 25 (96% > 90%) leave the inbox: 20 destroyed, 4 moved to the archive.
            try await account.destroyEmails(Array(ids[0..<20]))
            for id in ids[20..<24] { try await account.updateEmail(id, ["mailboxIds": [.init(stringLiteral: archive): true]]) }
            await #expect {
                _ = try await mirror.sync(account)
            } throws: { error in
                "\(error)".contains("would lose 24 of its 25 messages")
            }
            #expect(try mirror.snapshot() == before)
            _ = try await mirror.sync(account, force: true)
            #expect(try mirror.snapshot() == (try await account.expectedMaildir()))
        }
    }
}
