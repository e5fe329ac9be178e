import Foundation
import JMAP
import Testing
@testable import Transport

@Suite("Transport rules")
struct TransportTests {
    @Test("compressed answers are asked for JSON from remote servers only; never for blobs or loopback")
    func compression() {
        let remote = URL(string: "https://api.fastmail.com/jmap/api/")!
        #expect(Transfer.asksForCompression(remote, .memory(limit: 1 << 20)))
        #expect(!Transfer.asksForCompression(remote, .file(descriptor: 3)))
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            #expect(!Transfer.asksForCompression(URL(string: "http://\(host):8080/jmap/")!, .memory(limit: 1 << 20)), "\(host)")
        }
    }

    @Test("Retry-After as seconds or an HTTP date")
    func retryAfter() {
        #expect(RetryPolicy.parseRetryAfter("120") == 120)
        #expect(RetryPolicy.parseRetryAfter(" 0 ") == 0)
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now: now) == 30)
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
    }

    @Test("backoff grows, is jittered within bounds, and Retry-After wins")
    func backoff() {
        let p = RetryPolicy(maxAttempts: 6, baseDelay: 1, maxDelay: 8, maxRetryAfter: 60)
        for attempt in 1...6 {
            let ceiling = min(8, pow(2, Double(attempt - 1)))
            let d = p.delay(afterAttempt: attempt, retryAfter: nil)
            #expect(d >= ceiling / 2 && d <= ceiling)
        }
        #expect(p.delay(afterAttempt: 1, retryAfter: 7) == 7)
        #expect(p.delay(afterAttempt: 1, retryAfter: 600) == 60)
    }

    @Test("which statuses are transient")
    func retryableStatuses() {
        for s in [429, 500, 502, 503, 504] { #expect(RetryPolicy.isRetryable(status: s)) }
        for s in [200, 400, 401, 403, 404, 413] { #expect(!RetryPolicy.isRetryable(status: s)) }
    }

    @Test("plain http is refused unless opted in, and then only to loopback")
    func insecureHTTP() async {
        let strict = CurlHTTPClient()
        await #expect {
            _ = try await strict.perform(HTTPRequest(url: URL(string: "http://127.0.0.1:1/")!), sink: .memory(limit: 10))
        } throws: { error in
            if case TransportError.insecureURLRefused = error { return true }
            return false
        }
        var options = TransportOptions()
        options.allowInsecureLoopbackHTTP = true
        let lax = CurlHTTPClient(options: options)
        await #expect {
            _ = try await lax.perform(HTTPRequest(url: URL(string: "http://example.com/")!), sink: .memory(limit: 10))
        } throws: { error in
            if case TransportError.insecureURLRefused = error { return true }
            return false
        }
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "[::1]", "::1"] { #expect(CurlHTTPClient.isLoopback(host)) }
        for host in ["example.com", "10.0.0.1", "128.0.0.1", "127.0.0.1.example.com"] { #expect(!CurlHTTPClient.isLoopback(host)) }
    }
}

@Suite("Dialect detection")
struct DialectTests {
    @Test("Cyrus 3.10: IETF mail and calendars, vendor contacts, Sieve and blob")
    func cyrus() throws {
        let s = try Fixtures.session(Fixtures.json("cyrus-3.10-session.json"))
        let d = Dialects.detect(s, accountId: "alice")
        #expect(d[.mail]?.dialect == .ietf)
        #expect(d[.calendars]?.dialect == .ietf)
        #expect(d[.contacts]?.dialect == .cyrus)
        #expect(d[.contacts]?.types == ["Contact", "ContactGroup"])
        #expect(d[.sieve]?.dialect == .cyrus)
        #expect(d[.sieve]?.hasChanges == false)
        #expect(d[.blob]?.capability == Capability.cyrusBlob)
        #expect(d[.vacation]?.dialect == .ietf)
    }

    @Test("an IETF-only server, and an account that offers less than the Session")
    func ietf() throws {
        let s = try Fixtures.session(Fixtures.ietfSession)
        let d = Dialects.detect(s, accountId: "A13824")
        #expect(d[.contacts]?.dialect == .ietf)
        #expect(d[.contacts]?.types == ["AddressBook", "ContactCard"])
        #expect(d[.sieve]?.capability == Capability.sieve)
        #expect(d[.blob]?.dialect == .ietf)
        let shared = Dialects.detect(s, accountId: "A97813")
        #expect(shared.keys.sorted { $0.rawValue < $1.rawValue } == [.mail])
        #expect(Dialects.detect(s, accountId: "nope").isEmpty)
    }

    @Test("Fastmail's vendor contacts; Cyrus calendars without isRFC are flagged as pre-RFC")
    func vendor() throws {
        var json = Fixtures.ietfSession
        guard case var .object(root) = json, case var .object(caps) = root["capabilities"]!,
              case var .object(accounts) = root["accounts"]!, case var .object(a) = accounts["A13824"]! else { return }
        caps["urn:ietf:params:jmap:contacts"] = nil
        caps["urn:ietf:params:jmap:calendars"] = nil
        caps[Capability.fastmailContacts] = [:]
        caps[Capability.cyrusCalendars] = [:]
        a["accountCapabilities"] = [.init(stringLiteral: Capability.fastmailContacts): [:], .init(stringLiteral: Capability.cyrusCalendars): [:]]
        accounts["A13824"] = .object(a)
        root["capabilities"] = .object(caps)
        root["accounts"] = .object(accounts)
        json = .object(root)
        let d = Dialects.detect(try Fixtures.session(json), accountId: "A13824")
        #expect(d[.contacts]?.dialect == .fastmail)
        #expect(d[.calendars]?.dialect == .cyrus)
        #expect(d[.calendars]?.note?.contains("jsevent") == true)
    }
}

@Suite("UTCDate")
struct UTCDateTests {
    @Test("RFC 3339 dates as JMAP sends them", arguments: [
        ("2024-03-01T10:00:00Z", 1_709_287_200.0), ("1970-01-01T00:00:00Z", 0.0), ("2000-02-29T23:59:59Z", 951_868_799.0),
        ("2024-03-01T10:00:00.5Z", 1_709_287_200.5), ("2024-03-01T12:00:00+02:00", 1_709_287_200.0),
        ("1969-12-31T23:59:59Z", -1.0), ("2038-01-19T03:14:08Z", 2_147_483_648.0),
    ])
    func parses(text: String, seconds: Double) {
        #expect(UTCDate.parse(text)?.timeIntervalSince1970 == seconds)
    }

    @Test("garbage is nil", arguments: ["", "2024-03-01", "2024-13-01T10:00:00Z", "2024-03-01T10:00:00", "2024-03-01T10:00:00Zjunk",
                                         "2024-03-01 10:00:00Z", "20x4-03-01T10:00:00Z"])
    func rejects(text: String) {
        #expect(UTCDate.parse(text) == nil)
    }
}
