import Foundation
import Formats
import GRDB
import JMAP
import Testing
import TestSupport

extension Integration {
    /// The Maildir read by a real Dovecot (2.3, Debian's), the way a user serves a mirror over IMAP.
    @Suite("Dovecot reads the mirror")
    struct DovecotTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        /// An account with every kind of awkward name Cyrus takes (it refuses `\`, `%` and control
        /// characters; their escaping is unit-tested), a message in three mailboxes, every system
        /// keyword and custom ones. Returns mailbox ids by name.
        func richAccount(_ account: ServerAccount) async throws -> [String: String] {
            var ids = ["INBOX": try await account.mailboxId(role: "inbox")]
            let tree: [(String, String?)] = [
                ("Überweisungen", nil), ("日本語", nil), ("サブフォルダ", "日本語"), ("a&b", nil), ("a.b", nil), ("c.d", "a.b"),
                (".hidden", nil), ("trail.", nil), ("~tilde", nil), ("mid~dle", nil), ("with space", nil),
                ("Receipts", "INBOX"), ("2023", "Receipts"), ("Old", nil), ("Project", nil),
            ]
            for (name, parent) in tree {
                let patch: [String: JSONValue] = parent.map { ["parentId": .string(ids[$0]!)] } ?? [:]
                ids[name] = try #require(try await account.setMailbox(create: name, patch: patch), "\(name)")
            }
            let keywordSets: [[String]] = [
                ["$seen"], ["$seen", "$answered"], ["$flagged"], ["$draft"], ["$forwarded", "$seen"], ["$junk"], ["$notjunk", "$seen"],
                ["$phishing"], ["$mdnsent", "project-x"], [],
            ]
            var n = 0
            for (name, id) in ids.sorted(by: { $0.key < $1.key }) {
                for i in 0..<2 {
                    n += 1
                    try await account.importMessage(sampleMessage("\(name) \(i)"), mailboxIds: [id], keywords: keywordSets[n % keywordSets.count],
                                                    receivedAt: "2024-03-\(String(format: "%02d", 1 + n % 27))T10:\(String(format: "%02d", n % 60)):07Z")
                }
            }
            try await account.importMessage(sampleMessage("in three"), mailboxIds: [ids["INBOX"]!, ids["a&b"]!, ids["2023"]!],
                                            keywords: ["$seen", "$flagged", "$forwarded", "custom"], receivedAt: "2023-12-31T23:59:59Z")
            return ids
        }

        func compare(_ seen: [String: IMAPFolder], _ expected: [String: Set<IMAPMessage>], _ label: String) {
            #expect(Set(seen.keys) == Set(expected.keys), "\(label): folders")
            for (name, want) in expected {
                let got = seen[name]
                #expect(got?.error == nil, "\(label): \(name) does not open: \(got?.error ?? "not listed")")
                #expect(got?.messages == want, "\(label): \(name)")
            }
        }

        @Test("every folder opens in Dovecot with the server's messages, flags, keywords and dates; after changes too, open sessions follow")
        func dovecotServesTheMirror() async throws {
            let account = try await ServerAccount.fresh(server)
            let ids = try await richAccount(account)
            let dir = try CLI.scratch("dovecot")
            let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                       user: account.user, password: account.password))
            let mail = dir + "/mirror/main/mail"
            @discardableResult
            func sync() throws -> String {
                let r = try cli.run(["sync"])
                #expect(r.code == 0, "\(r.err)")
                try Dovecot.handOver([dir + "/mirror", dir + "/mirror/main"], recursive: mail)
                return r.err
            }
            try sync()

            // Dovecot's defaults: every folder opens (names as stored, `.` as separator).
            do {
                let plain = try Dovecot(maildir: mail, listescape: false)
                compare(try plain.folders(raw: true), try await account.imapView(storage: true), "default settings")
            }
            // With contrib/dovecot/jmirror.conf: the server's names exactly.
            let dovecot = try Dovecot(maildir: mail, listescape: true)
            compare(try dovecot.folders(), try await account.imapView(), "listescape")
            let folders = try FileManager.default.contentsOfDirectory(atPath: mail)
            #expect(folders.contains(".INBOX.Receipts.2023") && folders.contains(".\\7etilde") && folders.contains(".a\\2eb.c\\2ed"), "\(folders)")
            #expect(FileManager.default.fileExists(atPath: mail + "/.Old/dovecot-uidlist"), "Dovecot indexed Old")

            // Clients keep sessions open while the server changes and jmirror follows.
            let inboxSession = try dovecot.session("INBOX")
            let view = try await account.imapView()
            #expect(inboxSession.first == view["INBOX"])
            let stranger = mail + "/.Old/cur/1700000000.M1P1.reader:2,S"
            FileManager.default.createFile(atPath: stranger, contents: sampleMessage("written by someone else"))
            let inbox = try await account.call("Email/query", ["accountId": .string(account.accountId),
                                                               "filter": ["inMailbox": .string(ids["INBOX"]!)]])["ids"]?.arrayValue ?? []
            let first = try #require(inbox.first?.stringValue)
            let second = try #require(inbox.dropFirst().first?.stringValue)
            try await account.updateEmail(first, ["mailboxIds": [ids["Überweisungen"]!: true]])
            try await account.updateEmail(second, ["keywords/$seen": .bool(true), "keywords/$forwarded": .bool(true), "keywords/$junk": .bool(true)])
            try await account.setMailbox(update: ids["Project"]!, patch: ["name": "Projekt.2026"])
            try await account.setMailbox(destroy: ids["Old"]!, removeEmails: true)
            let warning = try sync()
            #expect(warning.contains(".Old") && warning.contains("set-aside"), "\(warning)")

            let after = try await account.imapView()
            #expect(after["Projekt.2026"] != nil && after["Old"] == nil)
            compare(try dovecot.folders(), after, "after changes")
            #expect(try inboxSession.check() == after["INBOX"], "an open session follows")
            // The destroyed folder is gone with Dovecot's files, and no reader lists a ghost; the
            // file jmirror did not write was set aside, and the user was told.
            #expect(!FileManager.default.fileExists(atPath: mail + "/.Old"))
            #expect(FileManager.default.fileExists(atPath: dir + "/mirror/.jmirror/set-aside/main/.Old/cur/1700000000.M1P1.reader:2,S"))
            #expect(try cli.run(["sync"]).err.isEmpty)  // said once, not at every run
            // Readers' files stay in folders that still exist, renamed ones included.
            #expect(FileManager.default.fileExists(atPath: mail + "/.a\\2eb/dovecot-uidlist"))
            #expect(FileManager.default.fileExists(atPath: mail + "/.Projekt\\2e2026/dovecot-uidlist"))
            #expect(try cli.run(["check"]).code == 0)
        }
    }
}

extension Integration.DovecotTests {
    /// Puts a mirror made by this version back into the layout of jmirror 0.4 (the mailbox-name
    /// escaping `%XX` with UTF-8, the inbox's children under its own name, no letter for
    /// `$forwarded`), as an old mirror on disk would be, catalog included.
    func downgrade(mirror: String, account: String) throws {
        let mail = mirror + "/" + account + "/mail"
        let db = try DatabaseQueue(path: mirror + "/.jmirror/catalog.sqlite")
        try db.write { db in
            var boxes: [String: (parent: String?, name: String, role: String?)] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT id, parent_id, name, role FROM mailbox WHERE account = ?", arguments: [account]) {
                boxes[r[0]] = (r[1], r[2], r[3])
            }
            func old(_ id: String) -> String {
                guard boxes[id]?.role != "inbox" else { return "" }
                var names: [String] = []
                var cursor: String? = id
                while let c = cursor, let b = boxes[c] { names.insert(MaildirNames.escape(b.name), at: 0); cursor = b.parent }
                return "." + names.joined(separator: ".")
            }
            for r in try Row.fetchAll(db, sql: "SELECT mailbox_id, folder FROM rendered_folder WHERE account = ?", arguments: [account]) {
                let (id, now): (String, String) = (r[0], r[1])
                let before = old(id)
                guard before != now else { continue }
                #expect(rename(mail + "/" + now, mail + "/" + before) == 0)
                try db.execute(sql: "UPDATE rendered_folder SET folder = ? WHERE account = ? AND mailbox_id = ?", arguments: [before, account, id])
                try db.execute(sql: "UPDATE rendered SET path = ? || substr(path, ?) WHERE account = ? AND substr(path, 1, ?) = ?",
                               arguments: [before + "/", now.count + 2, account, now.count + 1, now + "/"])
            }
            // $forwarded had no letter: the files lose it, and so does dovecot-keywords.
            for r in try Row.fetchAll(db, sql: """
                SELECT r.email_id, r.path, l.idx FROM rendered r JOIN membership m ON m.account = r.account AND m.email_id = r.email_id
                JOIN keyword_letter l ON l.account = r.account AND l.mailbox_id = m.mailbox_id AND l.keyword = '$forwarded'
                JOIN rendered_folder f ON f.account = r.account AND f.mailbox_id = m.mailbox_id
                WHERE r.account = ? AND (f.folder = '' AND r.path LIKE 'cur/%' OR r.path LIKE f.folder || '/cur/%')
                """, arguments: [account]) {
                let (id, path, idx): (String, String, Int) = (r[0], r[1], r[2])
                let letter = Character(UnicodeScalar(UInt8(97 + idx)))
                guard path.last == letter else { continue }
                let stripped = String(path.dropLast())
                #expect(rename(mail + "/" + path, mail + "/" + stripped) == 0)
                try db.execute(sql: "UPDATE rendered SET path = ? WHERE account = ? AND email_id = ? AND path = ?",
                               arguments: [stripped, account, id, path])
            }
            for r in try Row.fetchAll(db, sql: """
                SELECT f.folder FROM keyword_letter l JOIN rendered_folder f ON f.account = l.account AND f.mailbox_id = l.mailbox_id
                WHERE l.account = ? AND l.keyword = '$forwarded'
                """, arguments: [account]) {
                let folder: String = r[0]
                unlink(mail + (folder.isEmpty ? "" : "/" + folder) + "/dovecot-keywords")
            }
            try db.execute(sql: "DELETE FROM keyword_letter WHERE keyword = '$forwarded'")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v9%'")
        }
    }

    @Test("a mirror in the layout of jmirror 0.4 is converted by the next sync, even one killed half-way, and Dovecot then reads it")
    func oldLayoutIsConverted() async throws {
        let account = try await ServerAccount.fresh(server)
        let inbox = try await account.mailboxId(role: "inbox")
        let receipts = try #require(try await account.setMailbox(create: "Receipts", patch: ["parentId": .string(inbox)]))
        let dotted = try #require(try await account.setMailbox(create: "a.b"))
        let umlaut = try #require(try await account.setMailbox(create: "Über"))
        try await account.importMessage(sampleMessage("fwd"), mailboxIds: [dotted, inbox], keywords: ["$forwarded", "$seen"])
        try await account.importMessage(sampleMessage("receipt"), mailboxIds: [receipts], keywords: ["$junk"])
        try await account.importMessage(sampleMessage("ü"), mailboxIds: [umlaut])
        let dir = try CLI.scratch("dovecot-upgrade")
        let cli = CLI(dir: dir, config: writeConfig(in: dir, mirror: dir + "/mirror", account: "main", url: server.hostPort,
                                                   user: account.user, password: account.password))
        let mail = dir + "/mirror/main/mail"
        #expect(try cli.run(["sync"]).code == 0)
        try downgrade(mirror: dir + "/mirror", account: "main")
        let old = try FileManager.default.contentsOfDirectory(atPath: mail)
        #expect(old.contains(".Inbox.Receipts") && old.contains(".a%2Eb") && old.contains(".Über"), "\(old)")
        #expect(try maildirSnapshot(mail) != (try await account.expectedMaildir()))

        var r = try cli.run(["sync"])
        #expect(r.code == 0, "\(r.err)")
        // The conversion is crash-safe: killed at random instants, the next sync finishes it.
        var killed = 0
        for delay in [3, 8, 15, 25, 40, 70, 100, 130] {
            try downgrade(mirror: dir + "/mirror", account: "main")
            let pid = try spawn([jmirrorBinary, "--config", cli.config, "sync"], stdout: dir + "/killed")
            usleep(useconds_t(delay * 1000))
            kill(pid, SIGKILL)
            if waitExit(pid) == 128 + SIGKILL { killed += 1 }
            r = try cli.run(["sync"])
            #expect(r.code == 0, "\(r.err)")
            #expect(try maildirSnapshot(mail) == (try await account.expectedMaildir()), "killed after \(delay) ms")
        }
        #expect(killed > 0)
        // Killed between one of a move's two renames and the catalog's update (the instants are
        // too short to hit by chance every time): the next sync finds the folder where it went and
        // leaves no temporary folder behind.
        let temp = ".~jmirror-move-" + MaildirNames.escape(dotted)
        try downgrade(mirror: dir + "/mirror", account: "main")
        #expect(rename(mail + "/.a%2Eb", mail + "/" + temp) == 0)
        r = try cli.run(["sync"])
        #expect(r.code == 0, "\(r.err)")
        #expect(try maildirSnapshot(mail) == (try await account.expectedMaildir()), "after the first rename")
        try await DatabaseQueue(path: dir + "/mirror/.jmirror/catalog.sqlite").write { db in
            try db.execute(sql: "UPDATE rendered_folder SET folder = ? WHERE folder = ?", arguments: [temp, ".a\\2eb"])
            try db.execute(sql: "UPDATE rendered SET path = replace(path, ?, ?)", arguments: [".a\\2eb/", temp + "/"])
        }
        r = try cli.run(["sync"])
        #expect(r.code == 0, "\(r.err)")
        #expect(try maildirSnapshot(mail) == (try await account.expectedMaildir()), "after the second rename")
        let now = Set(try FileManager.default.contentsOfDirectory(atPath: mail).filter { $0.hasPrefix(".") })
        #expect(now.isSuperset(of: [".INBOX.Receipts", ".a\\2eb", ".&ANw-ber"]), "\(now)")
        #expect(now.isDisjoint(with: [".Inbox.Receipts", ".a%2Eb", ".Über"]), "\(now)")
        #expect(try maildirSnapshot(mail) == (try await account.expectedMaildir()))
        #expect(try cli.run(["check"]).code == 0)
        try Dovecot.handOver([dir + "/mirror", dir + "/mirror/main"], recursive: mail)
        let dovecot = try Dovecot(maildir: mail, listescape: true)
        compare(try dovecot.folders(), try await account.imapView(), "converted")
    }
}
