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

