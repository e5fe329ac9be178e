import Digest
import Formats
import Foundation
import JMAP
import Transport

/// A fresh user on the test server, and the changes a test makes to it through JMAP.
public struct ServerAccount: Sendable {
    public let server: TestServer
    public let user: String
    public let client: JMAPClient

    /// Creates a new user (unique per call) with the special-use folders.
    public static func fresh(_ server: TestServer, prefix: String = "t") async throws -> ServerAccount {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../contrib/test-server/add-user.sh").standardized.path
        var attempt = 0
        while true {
            attempt += 1
            let user = prefix + String(UUID().uuidString.prefix(8)).lowercased()
            do {
                try run(["/bin/bash", script, server.base, user])
                return ServerAccount(server: server, user: user, client: try await server.client(user))
            } catch where attempt < 3 {
                try await Task.sleep(nanoseconds: 500_000_000)
            }
        }
    }

    public var accountId: String { user }
    public var password: String { server.password(user) }

    // MARK: Mailboxes

    public func mailboxes() async throws -> [JSONValue] {
        try await client.get("Mailbox", accountId: accountId, ids: nil, using: [Capability.mail]).list
    }

    public func mailboxId(role: String) async throws -> String {
        guard let id = try await mailboxes().first(where: { $0["role"]?.stringValue == role })?["id"]?.stringValue else {
            throw TestServerUnavailable(description: "no mailbox with role \(role)")
        }
        return id
    }

    @discardableResult
    public func setMailbox(create name: String? = nil, update id: String? = nil, patch: [String: JSONValue] = [:],
                           destroy: String? = nil, removeEmails: Bool = false) async throws -> String? {
        var args: [String: JSONValue] = ["accountId": .string(accountId)]
        if let name {
            var obj = patch
            obj["name"] = .string(name)
            args["create"] = ["m": .object(obj)]
        }
        if let id { args["update"] = [id: .object(patch)] }
        if let destroy {
            args["destroy"] = [.string(destroy)]
            args["onDestroyRemoveEmails"] = .bool(removeEmails)
        }
        let r = try await mutate("Mailbox/set", args)
        return r["created"]?["m"]?["id"]?.stringValue
    }

    // MARK: Emails

    /// Uploads raw bytes and imports them as a message.
    @discardableResult
    public func importMessage(_ raw: Data, mailboxIds: [String], keywords: [String] = [],
                              receivedAt: String = "2024-03-01T10:00:00Z") async throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("msg-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: file, contents: raw)
        defer { unlink(file) }
        let blob = try await client.upload(accountId: accountId, file: file, type: "message/rfc822")
        var mb: [String: JSONValue] = [:]
        for m in mailboxIds { mb[m] = true }
        var kw: [String: JSONValue] = [:]
        for k in keywords { kw[k] = true }
        let r = try await mutate("Email/import", ["accountId": .string(accountId), "emails": [
            "e": ["blobId": .string(blob.blobId), "mailboxIds": .object(mb), "keywords": .object(kw),
                  "receivedAt": .string(receivedAt)],
        ]], allow: "alreadyExists")
        if let existing = r["notCreated"]?["e"]?["existingId"]?.stringValue { return existing }
        guard let id = r["created"]?["e"]?["id"]?.stringValue else {
            throw TestServerUnavailable(description: "Email/import failed: \(r)")
        }
        return id
    }

    public func updateEmail(_ id: String, _ patch: [String: JSONValue]) async throws {
        try await mutate("Email/set", ["accountId": .string(accountId), "update": [id: .object(patch)]])
    }

    public func destroyEmails(_ ids: [String]) async throws {
        try await mutate("Email/set", ["accountId": .string(accountId), "destroy": .strings(ids)])
    }

    public func allEmailIds() async throws -> [String] {
        let r = try await call("Email/query", ["accountId": .string(accountId), "limit": 10000])
        return (r["ids"]?.arrayValue ?? []).compactMap(\.stringValue)
    }

    public func call(_ name: String, _ args: [String: JSONValue],
                     using: Set<String> = [Capability.mail, Capability.cyrusBlob]) async throws -> [String: JSONValue] {
        var request = Request(using: using)
        let c = request.add(name, args)
        return try await client.send(request).result(of: c)
    }

    /// A /set or /import, retried when Cyrus refuses it as invalidProperties or serverFail: under
    /// the suite's parallel load, Cyrus 3.10 sometimes refuses a valid create (nothing is created
    /// then) and accepts it a moment later. jmirror's behaviour is not what these calls test.
    @discardableResult
    func mutate(_ name: String, _ args: [String: JSONValue], allow: String? = nil,
                using: Set<String> = [Capability.mail, Capability.cyrusBlob]) async throws -> [String: JSONValue] {
        var attempt = 0
        while true {
            attempt += 1
            let r = try await call(name, args, using: using)
            do {
                try Self.checkSet(r, allow: allow)
                return r
            } catch let e as TestServerUnavailable where attempt < 6 && (e.description.contains("invalidProperties") || e.description.contains("serverFail")) {
                try await Task.sleep(nanoseconds: 300_000_000)
            }
        }
    }

    static func checkSet(_ r: [String: JSONValue], allow: String? = nil) throws {
        for key in ["notCreated", "notUpdated", "notDestroyed"] {
            if let o = r[key]?.objectValue, !o.isEmpty, !o.values.allSatisfy({ $0["type"]?.stringValue == allow }) {
                throw TestServerUnavailable(description: "\(key): \(JSONValue.object(o))")
            }
        }
    }

    // MARK: What the server holds, in the mirror's terms

    /// The mailboxes by id, and each one's Maildir folder as jmirror's layout names it.
    func mailboxFolders() async throws -> (byId: [String: JSONValue], folders: [String: String]) {
        let boxes = try await mailboxes()
        var byId: [String: JSONValue] = [:]
        for b in boxes { if let id = b["id"]?.stringValue { byId[id] = b } }
        let folders = MaildirLayout.folders(boxes.compactMap { b in
            b["id"]?.stringValue.map { .init(id: $0, parentId: b["parentId"]?.stringValue, name: b["name"]?.stringValue ?? "",
                                             role: b["role"]?.stringValue) }
        })
        return (byId, folders)
    }

    /// Every folder the Maildir view should have, with the (SHA-256, flags) of each message in it.
    public func expectedMaildir() async throws -> [String: Set<String>] {
        let (byId, folders) = try await mailboxFolders()
        func folder(_ id: String) -> String { folders[id] ?? "?" }
        var out: [String: Set<String>] = [:]
        for id in byId.keys { out[folder(id)] = [] }
        let ids = try await allEmailIds()
        guard !ids.isEmpty else { return out }
        let emails = try await client.get("Email", accountId: accountId, ids: ids, properties: ["blobId", "mailboxIds", "keywords"],
                                          using: [Capability.mail]).list
        let digests = try await sha256(blobIds: emails.compactMap { $0["blobId"]?.stringValue })
        for e in emails {
            let keywords = Set((e["keywords"]?.objectValue ?? [:]).keys)
            let entry = snapshotEntry(digests[e["blobId"]?.stringValue ?? ""] ?? "?", MaildirNames.flags(keywords: keywords),
                                      MaildirNames.otherKeywords(keywords))
            for m in (e["mailboxIds"]?.objectValue ?? [:]).keys { out[folder(m), default: []].insert(entry) }
        }
        return out
    }

    /// Blob id → SHA-256 (hex) of its bytes, as the server computes it.
    func sha256(blobIds: [String]) async throws -> [String: String] {
        var digests: [String: String] = [:]
        for start in stride(from: 0, to: blobIds.count, by: 200) {
            let part = Array(blobIds[start..<min(start + 200, blobIds.count)])
            let r = try await call("Blob/get", ["accountId": .string(accountId), "ids": .strings(part), "properties": ["digest:sha-256"]])
            for b in r["list"]?.arrayValue ?? [] {
                guard let id = b["id"]?.stringValue, let d = b["digest:sha-256"]?.stringValue, let raw = Data(base64Encoded: d) else { continue }
                digests[id] = SHA256Hasher.hex([UInt8](raw))
            }
        }
        return digests
    }

    /// Every mailbox's messages as an IMAP client should see them (bytes, keywords, receivedAt),
    /// keyed by the mailbox's IMAP name with separator `/` (`INBOX` for the inbox, `INBOX/…` for
    /// its children), or, with `storage`, by its Maildir folder as Dovecot's default settings name
    /// it (the directory without its leading dot).
    public func imapView(storage: Bool = false) async throws -> [String: Set<IMAPMessage>] {
        let (byId, folders) = try await mailboxFolders()
        func name(_ id: String) -> String {
            if storage { return folders[id].map { $0.isEmpty ? "INBOX" : String($0.dropFirst()) } ?? "?" }
            var names: [String] = []
            var cursor = byId[id]
            while let c = cursor {
                if c["role"]?.stringValue == "inbox" { names.insert("INBOX", at: 0); break }
                names.insert(c["name"]?.stringValue ?? "", at: 0)
                cursor = c["parentId"]?.stringValue.flatMap { byId[$0] }
            }
            return names.joined(separator: "/")
        }
        var out: [String: Set<IMAPMessage>] = [:]
        for id in byId.keys { out[name(id)] = [] }
        let ids = try await allEmailIds()
        guard !ids.isEmpty else { return out }
        let emails = try await client.get("Email", accountId: accountId, ids: ids, properties: ["blobId", "mailboxIds", "keywords", "receivedAt"],
                                          using: [Capability.mail]).list
        let digests = try await sha256(blobIds: emails.compactMap { $0["blobId"]?.stringValue })
        for e in emails {
            let date = e["receivedAt"]?.stringValue.flatMap(UTCDate.parse).map { Int($0.timeIntervalSince1970) } ?? 0
            let m = IMAPMessage(sha256: digests[e["blobId"]?.stringValue ?? ""] ?? "?", keywords: Set((e["keywords"]?.objectValue ?? [:]).keys), date: date)
            for box in (e["mailboxIds"]?.objectValue ?? [:]).keys { out[name(box), default: []].insert(m) }
        }
        return out
    }

    /// Fills the account with `count` generated messages (contrib/test-server/seed.py), a share of
    /// them big, in the given folders; returns when they are all there.
    public func seed(count: Int, bigShare: Double, folders: String) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../contrib/test-server/seed.py").standardized.path
        let env = ProcessInfo.processInfo.environment["JMIRROR_TEST_SERVER_ENV"] ?? "/tmp/jmirror-test-server/server.env"
        try ServerAccount.run(["/usr/bin/python3", script, "--env", env, "--user", user, "--count", "\(count)",
                               "--big-share", "\(bigShare)", "--folders", folders])
    }

    @discardableResult
    public static func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw TestServerUnavailable(description: "\(args.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

/// What a Maildir on disk holds: folder → (SHA-256, flags) of each message in `cur/` and `new/`.
/// Also checks that no temporary or partial file is visible.
public func maildirSnapshot(_ root: String) throws -> [String: Set<String>] {
    var out: [String: Set<String>] = [:]
    let fm = FileManager.default
    var folders = [""]
    for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".") {
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: root + "/" + name, isDirectory: &isDir), isDir.boolValue { folders.append(name) }
    }
    for folder in folders {
        let dir = folder.isEmpty ? root : root + "/" + folder
        var entries = Set<String>()
        var names: [Int: String] = [:]
        for line in ((try? String(contentsOfFile: dir + "/dovecot-keywords", encoding: .utf8)) ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2, let i = Int(parts[0]) { names[i] = String(parts[1]) }
        }
        for sub in ["cur", "new"] {
            for file in (try? fm.contentsOfDirectory(atPath: dir + "/" + sub)) ?? [] {
                let info = file.components(separatedBy: ":2,").dropFirst().first ?? ""
                // Dovecot keyword letters (a–z) name keywords through the folder's dovecot-keywords.
                let flags = String(info.filter { !$0.isLowercase })
                let keywords = info.filter(\.isLowercase).map { letter in
                    names[Int(letter.asciiValue! - 97)]?.lowercased() ?? "?\(letter)"
                }
                entries.insert(snapshotEntry(try SHA256Hasher.hex(ofFileAt: dir + "/" + sub + "/" + file).sha256, flags, keywords))
            }
        }
        out[folder] = entries
    }
    return out
}

/// One message in a snapshot: `<sha256> <flags>` and, when it has other keywords, ` kw1,kw2`.
func snapshotEntry(_ sha: String, _ flags: String, _ keywords: [String]) -> String {
    "\(sha) \(flags)" + (keywords.isEmpty ? "" : " " + keywords.sorted().joined(separator: ","))
}

/// The jmirror executable built beside the tests.
public var jmirrorBinary: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/jmirror").standardized.path
}

/// A message with the given subject and body, CRLF line ends.
public func sampleMessage(_ subject: String, body: String = "Hello.", extraHeaders: String = "") -> Data {
    Data(("From: Sender <sender@example.org>\r\nTo: someone@example.com\r\nSubject: \(subject)\r\n"
        + "Date: Fri, 01 Mar 2024 10:00:00 +0000\r\nMessage-ID: <\(UUID().uuidString)@example.org>\r\n\(extraHeaders)"
        + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\(body)\r\n").utf8)
}
