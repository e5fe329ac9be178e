import Digest
import Foundation
import JMAP
import Logging
import Mirror
import Store
import Sync
import TestSupport
import Testing
import Transport

/// An in-memory IETF JMAP server for the dialects no real server here speaks: RFC 9610 contacts
/// (AddressBook, ContactCard) and RFC 9661 Sieve, with RFC 9404 blobs and an empty mailbox. Its
/// objects are the RFCs' examples; `/changes` answers from a change log; result references are
/// resolved as RFC 8620 §3.7 says.
final class IETFServer: @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [String: [String: JSONValue]] = ["AddressBook": [:], "ContactCard": [:], "SieveScript": [:]]
    private var log: [String: [(state: Int, id: String)]] = [:]
    private var states: [String: Int] = [:]
    private var blobs: [String: Data] = [:]
    /// States older than this answer cannotCalculateChanges, as after a server-side reset.
    var oldestKnownState: [String: Int] = [:]
    private(set) var calls: [String] = []

    func put(_ type: String, _ object: JSONValue) {
        lock.withLock {
            let id = object["id"]!.stringValue!
            objects[type]![id] = object
            bump(type, id)
        }
    }

    func destroy(_ type: String, _ id: String) {
        lock.withLock {
            objects[type]![id] = nil
            bump(type, id)
        }
    }

    func blob(_ data: Data) -> String {
        lock.withLock {
            let id = "B\(blobs.count)"
            blobs[id] = data
            return id
        }
    }

    private func bump(_ type: String, _ id: String) {
        let s = (states[type] ?? 0) + 1
        states[type] = s
        log[type, default: []].append((s, id))
    }

    static let session: JSONValue = [
        "apiUrl": "/api/", "downloadUrl": "/d/{accountId}/{blobId}/{name}?accept={type}", "uploadUrl": "/u/{accountId}/",
        "eventSourceUrl": "/es/", "state": "s1", "username": "u",
        "accounts": ["A": ["name": "A", "isPersonal": true, "isReadOnly": false, "accountCapabilities": [
            "urn:ietf:params:jmap:mail": [:], "urn:ietf:params:jmap:blob": [:],
            "urn:ietf:params:jmap:contacts": ["maxAddressBooksPerCard": 1, "mayCreateAddressBook": true],
            "urn:ietf:params:jmap:sieve": ["maxSizeScriptName": 512, "maxNumberScripts": 10, "sieveExtensions": ["fileinto"]],
        ]]],
        "primaryAccounts": ["urn:ietf:params:jmap:mail": "A", "urn:ietf:params:jmap:contacts": "A"],
        "capabilities": ["urn:ietf:params:jmap:core": ["maxObjectsInGet": 500, "maxCallsInRequest": 50, "maxConcurrentRequests": 4,
                                                      "maxSizeUpload": 50_000_000, "maxConcurrentUpload": 4, "maxSizeRequest": 10_000_000,
                                                      "collationAlgorithms": []],
                         "urn:ietf:params:jmap:mail": [:], "urn:ietf:params:jmap:blob": [:],
                         "urn:ietf:params:jmap:contacts": [:], "urn:ietf:params:jmap:sieve": ["implementation": "example"]],
    ]

    var transport: RecordingTransport {
        RecordingTransport { [self] request in
            if request.url.path == "/session" { return RecordingTransport.json(IETFServer.session, url: request.url) }
            if request.url.path.hasPrefix("/u/") {
                // RFC 8620 §6.1 upload: the bytes come from a file or memory.
                var data = Data()
                if case let .file(path, _) = request.body { data = FileManager.default.contents(atPath: path) ?? Data() }
                if case let .data(d, _) = request.body { data = d }
                let id = blob(data)
                return RecordingTransport.json(["accountId": "A", "blobId": .string(id), "type": "application/octet-stream",
                                                "size": .int(Int64(data.count))], url: request.url)
            }
            let body = RecordingTransport.body(request)
            var responses: [JSONValue] = []
            for call in body?["methodCalls"]?.arrayValue ?? [] {
                guard let c = call.arrayValue, c.count == 3, let name = c[0].stringValue, case var .object(args) = c[1] else { continue }
                // Result references (RFC 8620 §3.7), only the flat "/created" and "/updated" jmirror uses.
                for (key, ref) in args where key.hasPrefix("#") {
                    let earlier = responses.first { $0.arrayValue?[2] == ref["resultOf"] }
                    let path = ref["path"]?.stringValue?.dropFirst() ?? ""
                    args[String(key.dropFirst())] = earlier?.arrayValue?[1][String(path)] ?? []
                    args[key] = nil
                }
                let answer = lock.withLock { () -> (String, JSONValue) in
                    calls.append(name)
                    return handle(name, args)
                }
                responses.append([.string(answer.0), answer.1, c[2]])
            }
            return RecordingTransport.json(["methodResponses": .array(responses), "sessionState": "s1"], url: request.url)
        }
    }

    /// RFC 8620 §5.3 /set, with the checks the RFCs make: a card belongs to an address book
    /// (RFC 9610 §3), and `onSuccessActivateScript` (RFC 9661 §2.2) may name a creation id.
    private func set(_ type: String, _ args: [String: JSONValue]) -> JSONValue {
        let old = states[type] ?? 0
        var created: [String: JSONValue] = [:], updated: [String: JSONValue] = [:], notCreated: [String: JSONValue] = [:]
        for (cid, obj) in args["create"]?.objectValue ?? [:] {
            guard case var .object(o) = obj else { continue }
            if type == "ContactCard", (o["addressBookIds"]?.objectValue ?? [:]).isEmpty {
                notCreated[cid] = ["type": "invalidProperties", "properties": ["addressBookIds"]]
                continue
            }
            if type == "SieveScript", let blob = o["blobId"]?.stringValue, blobs[blob] == nil {
                notCreated[cid] = ["type": "invalidProperties", "properties": ["blobId"]]
                continue
            }
            let id = "\(type.prefix(1))n\(objects[type]!.count + 1)-\(old)"
            o["id"] = .string(id)
            if type == "SieveScript" { o["isActive"] = false }
            objects[type]![id] = .object(o)
            bump(type, id)
            created[cid] = ["id": .string(id)]
        }
        for (id, patch) in args["update"]?.objectValue ?? [:] {
            guard case var .object(o) = objects[type]?[id] ?? .null else { continue }
            for (k, v) in patch.objectValue ?? [:] { o[k] = v.isNull ? nil : v }
            objects[type]![id] = .object(o)
            bump(type, id)
            updated[id] = .null
        }
        if type == "SieveScript", let activate = args["onSuccessActivateScript"]?.stringValue {
            let id = activate.hasPrefix("#") ? created[String(activate.dropFirst())]?["id"]?.stringValue : activate
            for (sid, script) in objects[type]! {
                guard case var .object(o) = script else { continue }
                let active = sid == id
                if o["isActive"]?.boolValue != active { o["isActive"] = .bool(active); objects[type]![sid] = .object(o); bump(type, sid) }
            }
        }
        return ["accountId": "A", "oldState": .string("\(old)"), "newState": .string("\(states[type] ?? 0)"),
                "created": .object(created), "updated": .object(updated), "notCreated": .object(notCreated)]
    }

    private func handle(_ name: String, _ args: [String: JSONValue]) -> (String, JSONValue) {
        let parts = name.split(separator: "/").map(String.init)
        let (type, method) = (parts[0], parts[1])
        switch (type, method) {
        case ("Mailbox", "get"), ("Email", "get"): return (name, ["accountId": "A", "state": "m0", "list": [], "notFound": []])
        case ("Email", "query"): return (name, ["accountId": "A", "ids": [], "total": 0, "position": 0, "queryState": "q"])
        case ("Mailbox", "changes"), ("Email", "changes"):
            return (name, ["accountId": "A", "oldState": "m0", "newState": "m0", "hasMoreChanges": false,
                           "created": [], "updated": [], "destroyed": []])
        case ("Blob", "get"):
            let wantsDigest = (args["properties"]?.arrayValue ?? []).contains("digest:sha-256")
            let list = (args["ids"]?.arrayValue ?? []).compactMap(\.stringValue).compactMap { id -> JSONValue? in
                blobs[id].map { data -> JSONValue in
                    wantsDigest ? ["id": .string(id), "size": .int(Int64(data.count)),
                                   "digest:sha-256": .string(Data(SHA256Hasher.hex(of: data).hexBytes).base64EncodedString())]
                        : ["id": .string(id), "data:asBase64": .string(data.base64EncodedString()), "size": .int(Int64(data.count))]
                }
            }
            return (name, ["accountId": "A", "list": .array(list), "notFound": []])
        case (_, "get") where objects[type] != nil:
            let all = objects[type]!
            let ids = args["ids"].flatMap { $0.isNull ? nil : $0.arrayValue?.compactMap(\.stringValue) }
            let list = (ids ?? all.keys.sorted()).compactMap { all[$0] }
            let notFound = (ids ?? []).filter { all[$0] == nil }.map(JSONValue.string)
            return (name, ["accountId": "A", "state": .string("\(states[type] ?? 0)"), "list": .array(list), "notFound": .array(notFound)])
        case (_, "set") where objects[type] != nil:
            return (name, set(type, args))
        case ("SieveScript", "changes"):
            return ("error", ["type": "unknownMethod"])  // RFC 9661 defines none
        case (_, "changes") where objects[type] != nil:
            guard let since = args["sinceState"]?.stringValue.flatMap(Int.init), since >= (oldestKnownState[type] ?? 0) else {
                return ("error", ["type": "cannotCalculateChanges"])
            }
            let touched = Set((log[type] ?? []).filter { $0.state > since }.map(\.id))
            let existedBefore = Set((log[type] ?? []).filter { $0.state <= since }.map(\.id))
            let now = objects[type]!
            return (name, ["accountId": "A", "oldState": .string("\(since)"), "newState": .string("\(states[type] ?? 0)"),
                           "hasMoreChanges": false,
                           "created": .strings(touched.filter { now[$0] != nil && !existedBefore.contains($0) }.sorted()),
                           "updated": .strings(touched.filter { now[$0] != nil && existedBefore.contains($0) }.sorted()),
                           "destroyed": .strings(touched.filter { now[$0] == nil && existedBefore.contains($0) }.sorted())])
        default:
            return ("error", ["type": "unknownMethod"])
        }
    }
}

@Suite("RFC 9610 contacts and RFC 9661 Sieve, by exchanges built from the RFCs' examples")
struct IETFItemsTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-ietf-\(UUID().uuidString)").path

    func sync(_ server: IETFServer) async throws -> SyncSummary {
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: server.transport)
        return try await MailSync(name: "acct", client: client, store: try MirrorStore(root: dir), options: SyncOptions(),
                                  logger: Logger(label: "test"), onProgress: { _ in }).run()
    }

    func read(_ rel: String) -> String? { try? String(contentsOfFile: dir + "/acct/" + rel, encoding: .utf8) }

    /// RFC 9610 §2 (AddressBook), RFC 9553 §2 and §2.1.9 (a Card, a group), RFC 9661 §2 (scripts).
    func seeded() -> IETFServer {
        let s = IETFServer()
        s.put("AddressBook", ["id": "b1", "name": "Personal", "isDefault": true, "isSubscribed": true, "sortOrder": 0,
                              "myRights": ["mayRead": true, "mayWrite": true, "mayShare": false, "mayDelete": false]])
        s.put("ContactCard", ["@type": "Card", "version": "1.0", "id": "c1", "addressBookIds": ["b1": true],
                              "uid": "urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065", "kind": "individual",
                              "name": ["components": [["kind": "given", "value": "John"], ["kind": "surname", "value": "Doe"]],
                                       "isOrdered": true],
                              "emails": ["e1": ["address": "jdoe@example.com", "contexts": ["work": true]]]])
        s.put("ContactCard", ["@type": "Card", "version": "1.0", "id": "g1", "addressBookIds": ["b1": true],
                              "uid": "urn:uuid:ab4310aa-fa43-11e9-8f0b-362b9e155667", "kind": "group",
                              "name": ["full": "The Doe family"],
                              "members": ["urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065": true]])
        let vacation = s.blob(Data("require \"vacation\";\r\nvacation \"I'm away\";\r\n".utf8))
        let spam = s.blob(Data("require \"fileinto\";\r\nif header :contains \"X-Spam\" \"yes\" { fileinto \"Junk\"; }\r\n".utf8))
        s.put("SieveScript", ["id": "S1", "name": "vacation", "blobId": .string(vacation), "isActive": true])
        s.put("SieveScript", ["id": "S2", "name": "spam", "blobId": .string(spam), "isActive": false])
        return s
    }

    @Test("first sync, deltas by ContactCard/changes, scripts listed in full, all in one request when quiet")
    func lifecycle() async throws {
        let server = seeded()
        var summary = try await sync(server)
        #expect(summary.failed.isEmpty)
        #expect(summary.items["ContactCard"]?.created == 2 && summary.items["SieveScript"]?.created == 2)
        #expect(summary.notOnServer.contains("calendars"))
        let card = try #require(read("contacts/Personal/urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065.vcf"))
        #expect(card.contains("FN;DERIVED=TRUE:John Doe") && card.contains("EMAIL;PROP-ID=e1;TYPE=work:jdoe@example.com"))
        let group = try #require(read("contacts/Personal/urn:uuid:ab4310aa-fa43-11e9-8f0b-362b9e155667.vcf"))
        #expect(group.contains("KIND:group") && group.contains("MEMBER:urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065"))
        #expect(read("contacts/Personal/displayname") == "Personal")
        #expect(read("sieve/vacation.sieve")?.contains("vacation \"I'm away\";") == true)
        #expect(read("sieve/spam.sieve")?.contains("fileinto \"Junk\"") == true)
        #expect(read("sieve/active") == "vacation")

        // Nothing changed: one request, carrying ContactCard/changes and SieveScript/get with the mail.
        let before = server.calls.count
        summary = try await sync(server)
        #expect(summary.apiRequests == 1 && summary.blobsDownloaded == 0)
        let quiet = Array(server.calls[before...])
        #expect(quiet.contains("ContactCard/changes") && quiet.contains("AddressBook/changes") && quiet.contains("SieveScript/get"))
        #expect(!quiet.contains("SieveScript/changes"))

        // A card renamed and moved to a new book, the group destroyed, another script active.
        server.put("AddressBook", ["id": "b2", "name": "Work", "isDefault": false, "isSubscribed": true])
        server.put("ContactCard", ["@type": "Card", "version": "1.0", "id": "c1", "addressBookIds": ["b2": true],
                                   "uid": "urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065",
                                   "name": ["full": "John Q. Doe"]])
        server.destroy("ContactCard", "g1")
        server.put("SieveScript", ["id": "S1", "name": "vacation", "blobId": .string(server.blob(Data("keep;\r\n".utf8))), "isActive": false])
        server.put("SieveScript", ["id": "S2", "name": "spam", "blobId": .string(server.blob(Data("discard;\r\n".utf8))), "isActive": true])
        summary = try await sync(server)
        #expect(summary.items["ContactCard"]?.updated == 1 && summary.items["ContactCard"]?.destroyed == 1)
        #expect(read("contacts/Personal/urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065.vcf") == nil)
        #expect(read("contacts/Personal/urn:uuid:ab4310aa-fa43-11e9-8f0b-362b9e155667.vcf") == nil)
        #expect(read("contacts/Work/urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065.vcf")?.contains("FN:John Q. Doe") == true)
        #expect(read("sieve/vacation.sieve") == "keep;\r\n" && read("sieve/spam.sieve") == "discard;\r\n")
        #expect(read("sieve/active") == "spam")

        // The server lost our state: the type is listed in full and converges.
        server.destroy("SieveScript", "S1")
        server.put("ContactCard", ["@type": "Card", "version": "1.0", "id": "c2", "addressBookIds": ["b1": true], "uid": "new-card",
                                   "name": ["full": "Jane Roe"]])
        server.oldestKnownState["ContactCard"] = 1_000
        summary = try await sync(server)
        #expect(summary.failed.isEmpty)
        #expect(read("contacts/Personal/new-card.vcf")?.contains("FN:Jane Roe") == true)
        #expect(read("contacts/Work/urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065.vcf") != nil)
        #expect(read("sieve/vacation.sieve") == nil && read("sieve/active") == "spam")
    }
}

extension String {
    /// "0a1b…" → its bytes.
    var hexBytes: [UInt8] {
        var out: [UInt8] = []
        var i = startIndex
        while i < endIndex, let j = index(i, offsetBy: 2, limitedBy: endIndex), let b = UInt8(self[i..<j], radix: 16) {
            out.append(b)
            i = j
        }
        return out
    }
}
