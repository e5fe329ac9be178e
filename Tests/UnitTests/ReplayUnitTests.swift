import Digest
import Formats
import Foundation
import History
@testable import JMAP
import Logging
import Mirror
@testable import Replay
import Store
import Sync
import TestSupport
import Testing

/// A Cyrus vendor contact and group exactly as Cyrus 3.10.1 answers `Contact/get` and
/// `ContactGroup/get` (recorded from the test server).
let cyrusContact: JSONValue = [
    "lastName": "Example", "firstName": "Ann", "prefix": "Dr.", "suffix": "", "company": "ACME", "department": "Research",
    "jobTitle": "Chemist", "addresses": [["type": "work", "street": "1 Main St", "locality": "Springfield", "region": "IL",
                                          "postcode": "62701", "country": "USA", "isDefault": true, "label": .null]],
    "emails": [["type": "work", "isDefault": true, "value": "ann@example.com"], ["type": "personal", "value": "ann@home.example"]],
    "phones": [["type": "mobile", "value": "+1 555 1234"], ["type": "work", "value": "+1 555 9876"]],
    "online": [["type": "uri", "value": "https://ann.example"]], "nickname": "Annie", "anniversary": "0000-00-00",
    "birthday": "1980-04-01", "notes": "Met at the conference.", "x-hasPhoto": false, "avatar": .null, "isFlagged": false,
    "importance": .double(0), "x-href": "/dav/addressbooks/user/alice/Default/c1.vcf", "blobId": "VTTdjemZ1ZjhjcTlzcndidTFtbzh3dTFyMjox",
    "size": 143, "id": "c1-uid", "uid": "c1-uid", "addressbookId": "Default",
]
let cyrusGroup: JSONValue = [
    "name": "Friends", "contactIds": ["c1-uid"], "otherAccountContactIds": [:], "id": "88yyyn23o8oyw80lz2bkj3dm",
    "uid": "88yyyn23o8oyw80lz2bkj3dm", "addressbookId": "Default",
    "x-href": "/dav/addressbooks/user/alice/Default/88yyyn23o8oyw80lz2bkj3dm.vcf",
]

@Suite("Replay: contact translation and the IETF dialects, against an in-memory RFC server")
struct ReplayUnitTests {
    @Test("a vendor contact becomes an RFC 9553 Card (RFC 9555's mapping of the same vCard properties) and back")
    func translation() throws {
        let card = ContactTranslation.card(fromContact: cyrusContact.objectValue!)
        #expect(card["uid"] == "c1-uid" && card["kind"] == "individual" && card["@type"] == "Card")
        #expect(card["name"]?["components"] == [["kind": "title", "value": "Dr."], ["kind": "given", "value": "Ann"],
                                                 ["kind": "surname", "value": "Example"]])
        #expect(card["emails"]?["e1"] == ["address": "ann@example.com", "contexts": ["work": true], "pref": 1])
        #expect(card["emails"]?["e2"] == ["address": "ann@home.example", "contexts": ["private": true]])
        #expect(card["phones"]?["p1"] == ["number": "+1 555 1234", "features": ["mobile": true]])
        #expect(card["organizations"]?["o1"] == ["name": "ACME", "units": [["name": "Research"]]])
        #expect(card["titles"]?["t1"]?["name"] == "Chemist")
        #expect(card["anniversaries"]?["birth"]?["date"] == ["@type": "PartialDate", "year": 1980, "month": 4, "day": 1])
        #expect(card["anniversaries"]?["wedding"] == nil)
        #expect(card["addresses"]?["a1"]?["components"]?.arrayValue?.count == 5)
        #expect(card["links"]?["l1"]?["uri"] == "https://ann.example")
        #expect(card["notes"]?["n1"]?["note"] == "Met at the conference.")
        for key in ["id", "blobId", "x-href", "avatar", "addressbookId"] { #expect(card[key] == nil) }

        let back = ContactTranslation.contact(fromCard: card)
        for key in ["uid", "firstName", "lastName", "prefix", "company", "department", "jobTitle", "nickname", "notes", "birthday"] {
            #expect(back[key] == cyrusContact[key], "\(key)")
        }
        #expect(back["emails"]?.arrayValue?.map { $0["value"] } == ["ann@example.com", "ann@home.example"])
        #expect(back["emails"]?.arrayValue?.map { $0["type"] } == ["work", "personal"])
        #expect(back["phones"]?.arrayValue?.map { $0["type"] } == ["mobile", "work"])
        #expect(back["addresses"]?.arrayValue?.first?["postcode"] == "62701" && back["addresses"]?.arrayValue?.first?["region"] == "IL")

        // RFC 9553 §2.1.9's group, and a card with only a full name (RFC 9553 §2.2.1).
        let group = ContactTranslation.group(fromCard: ["@type": "Card", "version": "1.0", "kind": "group", "uid": "g",
                                                         "name": ["full": "The Doe family"],
                                                         "members": ["urn:uuid:03a0e51f": true, "urn:uuid:b8767877": true]])
        #expect(group["name"] == "The Doe family" && group["contactIds"] == ["urn:uuid:03a0e51f", "urn:uuid:b8767877"])
        let full = ContactTranslation.contact(fromCard: ["@type": "Card", "uid": "x", "name": ["full": "Mr. John Q. Public, Esq."]])
        #expect(full["firstName"] == "Mr. John Q. Public, Esq." && full["addresses"] == [])
    }

    func target(_ server: IETFServer) async throws -> ReplayTarget {
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: server.transport)
        return try await ReplayTarget.open(client, name: "ietf")
    }

    func store() throws -> MirrorStore {
        try MirrorStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-replay-\(UUID().uuidString)").path)
    }

    func kind(_ r: ReplayReport, _ k: String) -> KindReport? { r.kinds.first { $0.kind == k } }

    @Test("RFC 9610 cards and RFC 9661 scripts replayed into an empty RFC server: books by name, the active script, then a rerun does nothing")
    func ietfToIetf() async throws {
        let source = IETFItemsTests().seeded()
        let mirror = try store()
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: source.transport)
        _ = try await MailSync(name: "acct", client: client, store: mirror, options: SyncOptions(), logger: Logger(label: "t"),
                               onProgress: { _ in }).run()
        let state = try AccountState.load(mirror.catalog, account: "acct", snapshot: nil)
        let empty = IETFServer()
        var options = ReplayOptions()
        options.only = [.contacts, .sieve]
        let replayer = Replayer(catalog: mirror.catalog, objects: mirror.objects)
        let r = try await replayer.run(state, snapshot: "acct@now", into: try await target(empty), options: options)
        #expect(r.ok, "\(r)")
        #expect(kind(r, "contacts")?.created == 2 && kind(r, "contacts")?.verified == 2)
        #expect(kind(r, "sieve")?.created == 2 && kind(r, "sieve")?.verified == 2)
        let books = try await (target(empty)).client.get("AddressBook", accountId: "A", ids: nil, using: [Capability.contacts]).list
        #expect(books.map { $0["name"] } == ["Personal"])
        let cards = try await (target(empty)).client.get("ContactCard", accountId: "A", ids: nil, using: [Capability.contacts]).list
        #expect(Set(cards.compactMap { $0["uid"]?.stringValue }) == ["urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065",
                                                                     "urn:uuid:ab4310aa-fa43-11e9-8f0b-362b9e155667"])
        #expect(cards.allSatisfy { $0["addressBookIds"]?.objectValue?.keys.first == books.first?["id"]?.stringValue })
        let scripts = try await (target(empty)).client.get("SieveScript", accountId: "A", ids: nil, using: [Capability.sieve]).list
        #expect(scripts.first { $0["isActive"] == true }?["name"] == "vacation")

        let again = try await replayer.run(state, snapshot: "acct@now", into: try await target(empty), options: options)
        #expect(again.ok && again.kinds.allSatisfy { $0.created == 0 && $0.updated == 0 }, "\(again)")
    }

    @Test("a snapshot of Cyrus vendor contacts replayed into an RFC 9610 server: translated, the group's members by UID, idempotent")
    func vendorToIetf() async throws {
        let mirror = try store()
        let state = AccountState(account: "cyrus", versions: [
            VersionRow(type: "Contact", id: "c1-uid", json: cyrusContact.encoded()),
            VersionRow(type: "Contact", id: "c2", json: JSONValue.object(["id": "c2", "uid": "c2-uid", "firstName": "Bo", "lastName": "",
                                                                            "emails": [], "phones": [], "addresses": []]).encoded()),
            VersionRow(type: "ContactGroup", id: cyrusGroup["id"]!.stringValue!, json: cyrusGroup.encoded()),
        ])
        let server = IETFServer()
        server.put("AddressBook", ["id": "b1", "name": "Personal", "isDefault": true])
        var options = ReplayOptions()
        options.only = [.contacts]
        let replayer = Replayer(catalog: mirror.catalog, objects: mirror.objects)
        let r = try await replayer.run(state, snapshot: "cyrus@x", into: try await target(server), options: options)
        #expect(r.ok, "\(r)")
        #expect(kind(r, "contacts")?.created == 3 && kind(r, "contacts")?.verified == 3)
        let cards = try await (target(server)).client.get("ContactCard", accountId: "A", ids: nil, using: [Capability.contacts]).list
        let ann = try #require(cards.first { $0["uid"] == "c1-uid" })
        #expect(ann["emails"]?["e1"]?["address"] == "ann@example.com" && ann["addressBookIds"] == ["b1": true])
        let group = try #require(cards.first { $0["kind"] == "group" })
        #expect(group["members"] == ["c1-uid": true] && group["name"]?["full"] == "Friends")
        let again = try await replayer.run(state, snapshot: "cyrus@x", into: try await target(server), options: options)
        #expect(again.ok && kind(again, "contacts")?.present == 3 && kind(again, "contacts")?.created == 0 && kind(again, "contacts")?.updated == 0)
    }

    @Test("a request naming files carries their base64 in place, byte for byte, and stays valid JSON")
    func spooledBody() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-spool-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }), b = Data("From: x\r\n\r\nshort\r\n".utf8)
        FileManager.default.createFile(atPath: dir + "/a", contents: a)
        FileManager.default.createFile(atPath: dir + "/b", contents: b)
        var request = Request(using: ["urn:ietf:params:jmap:blob"])
        let ra = request.base64(ofFile: dir + "/a"), rb = request.base64(ofFile: dir + "/b")
        request.add("Blob/upload", ["accountId": "A", "create": ["x": ["data": [["data:asBase64": ra]]], "y": ["data": [["data:asBase64": rb]]],
                                                                 "z": ["data": [["data:asText": "a \u{1}jmirror-file-0 lookalike"]]]]])
        let path = try BodySpool.write(request)
        defer { unlink(path) }
        let json = try JSONValue.decode(try Data(contentsOf: URL(fileURLWithPath: path)))
        let create = json["methodCalls"]?.arrayValue?.first?.arrayValue?[1]["create"]
        #expect(create?["x"]?["data"]?.arrayValue?.first?["data:asBase64"] == .string(a.base64EncodedString()))
        #expect(create?["y"]?["data"]?.arrayValue?.first?["data:asBase64"] == .string(b.base64EncodedString()))
        #expect(create?["z"]?["data"]?.arrayValue?.first?["data:asText"] == "a \u{1}jmirror-file-0 lookalike")
    }

    @Test("keywords: RFC 8621 syntax, server-set keywords, --map parsing")
    func keywordsAndOptions() throws {
        for k in ["$seen", "$label1", "project-x", "a.b", String(repeating: "k", count: 255)] { #expect(Keywords.isValid(k), "\(k)") }
        for k in ["", "bad(kw", "a b", "50%", "quo\"te", "back\\slash", "brace]", "ü", String(repeating: "k", count: 256)] {
            #expect(!Keywords.isValid(k), "\(k)")
        }
        #expect(Keywords.same(["$seen", "$hasattachment"], ["$seen"]) && !Keywords.same(["$seen"], ["$seen", "x"]))
        #expect(try ReplayOptions.parseMap("/Old/Work/=New/Work") == ("Old/Work", "New/Work"))
        #expect(throws: HistoryError.self) { try ReplayOptions.parseMap("NoEquals") }
        #expect(throws: HistoryError.self) { try ReplayOptions.parseMap("=X") }
    }
}

/// Contact photos between the vendor dialect and RFC 9610 cards, against the in-memory server.
@Suite("Replay: contact photos between vendor contacts and RFC 9610 cards")
struct PhotoReplayTests {
    /// A real export with an inline photo (ez-vcard's Mac Address Book card, Fixtures/vcards/SOURCE.md).
    static let iphone = FileManager.default.contents(atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../IntegrationTests/Fixtures/vcards/John_Doe_MAC_ADDRESS_BOOK.vcf").standardized.path)!

    func put(_ data: Data, _ store: MirrorStore) throws -> String {
        let sha = SHA256Hasher.hex(of: data)
        let (path, fd) = try store.objects.makeTemporaryFile()
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try store.objects.adopt(temporaryPath: path, sha256: sha)
        return sha
    }

    func replay(_ versions: [VersionRow], _ store: MirrorStore, into server: IETFServer) async throws -> KindReport {
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: server.transport)
        var options = ReplayOptions()
        options.only = [.contacts]
        let r = try await Replayer(catalog: store.catalog, objects: store.objects)
            .run(AccountState(account: "src", versions: versions), snapshot: "src@x", into: try await ReplayTarget.open(client, name: "t"), options: options)
        return try #require(r.kinds.first { $0.kind == "contacts" })
    }

    func cards(_ server: IETFServer) async throws -> [JSONValue] {
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: server.transport)
        return try await client.get("ContactCard", accountId: "A", ids: nil, using: [Capability.contacts]).list
    }

    func photo(of card: JSONValue, _ server: IETFServer) -> Data? {
        card["media"]?.objectValue?.values.first { $0["kind"] == "photo" }?["blobId"]?.stringValue.flatMap(server.blobData)
    }

    func mirror() throws -> MirrorStore {
        try MirrorStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-photo-\(UUID().uuidString)").path)
    }

    @Test("a vendor contact's photo (from its stored vCard) becomes the card's media photo; a rerun does nothing")
    func vendorToCard() async throws {
        let store = try mirror()
        let sha = try put(Self.iphone, store)
        let bytes = try #require(VCardPhoto.inline(in: Self.iphone)?.bytes)
        let contact: JSONValue = ["id": "c1", "uid": "john-uid", "firstName": "John", "lastName": "Doe", "emails": [], "phones": [],
                                  "addresses": [], "blobId": "V1", "avatar": ["blobId": "A1", "type": "image/jpeg", "size": .int(Int64(bytes.count))]]
        let versions = [VersionRow(type: "Contact", id: "c1", json: contact.encoded(), blobs: ["V1": sha])]
        let server = IETFServer()
        server.put("AddressBook", ["id": "b1", "name": "Personal", "isDefault": true])
        let k = try await replay(versions, store, into: server)
        #expect(k.created == 1 && k.refused.isEmpty, "\(k)")
        let card = try #require(try await cards(server).first)
        #expect(photo(of: card, server) == bytes)
        let again = try await replay(versions, store, into: server)
        #expect(again.created == 0 && again.updated == 0 && again.present == 1, "\(again)")
    }

    @Test("a card's photo (a blob of the source server) is uploaded to the other card server; a changed photo is replaced; a removed one taken away")
    func cardToCard() async throws {
        let store = try mirror()
        let bytes = try #require(VCardPhoto.inline(in: Self.iphone)?.bytes)
        let sha = try put(bytes, store)
        func card(_ media: JSONValue?) -> JSONValue {
            var c: [String: JSONValue] = ["@type": "Card", "version": "1.0", "id": "k1", "uid": "urn:uuid:k1", "kind": "individual",
                                          "addressBookIds": ["b1": true], "name": ["full": "John Doe"]]
            c["media"] = media
            return .object(c)
        }
        let withBlob = card(["p": ["@type": "Media", "kind": "photo", "blobId": "SRC-BLOB", "mediaType": "image/jpeg"],
                             "l": ["@type": "Media", "kind": "logo", "uri": "https://example.com/logo.png"]])
        let book = VersionRow(type: "AddressBook", id: "b1", json: JSONValue.object(["id": "b1", "name": "Personal"]).encoded())
        let server = IETFServer()
        var k = try await replay([book, VersionRow(type: "ContactCard", id: "k1", json: withBlob.encoded(), blobs: ["SRC-BLOB": sha])], store, into: server)
        #expect(k.created == 1 && k.refused.isEmpty, "\(k)")
        var got = try #require(try await cards(server).first)
        #expect(photo(of: got, server) == bytes && got["media"]?["l"]?["uri"] == "https://example.com/logo.png")
        #expect(got["media"]?.objectValue?.values.contains { $0["blobId"] == "SRC-BLOB" } == false)
        k = try await replay([book, VersionRow(type: "ContactCard", id: "k1", json: withBlob.encoded(), blobs: ["SRC-BLOB": sha])], store, into: server)
        #expect(k.created == 0 && k.updated == 0 && k.present == 1, "\(k)")

        // Another photo, as a data: URI this time (RFC 9553 §2.6.4).
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 7, count: 40)
        let withURI = card(["p": ["@type": "Media", "kind": "photo", "uri": .string("data:image/png;base64," + png.base64EncodedString())]])
        k = try await replay([book, VersionRow(type: "ContactCard", id: "k1", json: withURI.encoded())], store, into: server)
        #expect(k.updated == 1, "\(k)")
        got = try #require(try await cards(server).first)
        #expect(photo(of: got, server) == png)
        k = try await replay([book, VersionRow(type: "ContactCard", id: "k1", json: withURI.encoded())], store, into: server)
        #expect(k.updated == 0 && k.present == 1, "\(k)")

        k = try await replay([book, VersionRow(type: "ContactCard", id: "k1", json: card(nil).encoded())], store, into: server)
        #expect(k.updated == 1, "\(k)")
        got = try #require(try await cards(server).first)
        #expect((got["media"] ?? .null).isNull, "\(got)")
    }
}
