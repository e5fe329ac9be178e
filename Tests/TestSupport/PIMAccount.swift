import Foundation
import JMAP
import Transport

/// Contacts, calendars and scripts on the test server, by DAV (as other clients put them there)
/// and by JMAP.
extension ServerAccount {
    public static let pimCapabilities: Set<String> = [Capability.cyrusContacts, Capability.calendars, Capability.cyrusCalendars,
                                                      Capability.cyrusSieve, Capability.cyrusBlob, Capability.submission,
                                                      Capability.vacationResponse]

    /// One DAV request; `path` is under `/dav/`.
    @discardableResult
    public func dav(_ method: String, _ path: String, body: Data? = nil, contentType: String = "text/plain",
                    accept: String? = nil) async throws -> (status: Int, body: Data) {
        var headers: [(String, String)] = []
        if let accept { headers.append(("Accept", accept)) }
        if method == "MKCOL" || method == "MKCALENDAR" { headers.append(("Depth", "0")) }
        let request = HTTPRequest(method: method, url: server.httpBase.appendingPathComponent("dav/" + path), headers: headers,
                                  body: body.map { .data($0, contentType: contentType) } ?? .none,
                                  credentials: .basic(username: user, password: password))
        let r = try await TestServer.transport().perform(request, sink: .memory(limit: 16 << 20))
        return (r.status, r.body)
    }

    public func putEvent(_ ics: Data, name: String, calendar: String = "Default") async throws {
        let r = try await dav("PUT", "calendars/user/\(user)/\(calendar)/\(name).ics", body: ics, contentType: "text/calendar; charset=utf-8")
        guard (200..<300).contains(r.status) else { throw TestServerUnavailable(description: "CalDAV PUT \(name): \(r.status) \(String(decoding: r.body, as: UTF8.self))") }
    }

    public func putCard(_ vcf: Data, name: String, book: String = "Default") async throws {
        let r = try await dav("PUT", "addressbooks/user/\(user)/\(book)/\(name).vcf", body: vcf, contentType: "text/vcard; charset=utf-8")
        guard (200..<300).contains(r.status) else { throw TestServerUnavailable(description: "CardDAV PUT \(name): \(r.status) \(String(decoding: r.body, as: UTF8.self))") }
    }

    /// A /set with the PIM capabilities, in this account, retried like mail's (see `mutate`).
    @discardableResult
    public func pimSet(_ name: String, _ args: [String: JSONValue]) async throws -> [String: JSONValue] {
        var a = args
        a["accountId"] = .string(accountId)
        return try await mutate(name, a, using: ServerAccount.pimCapabilities)
    }

    /// Uploads `data` and returns its blobId (RFC 8620 §6.1).
    public func upload(_ data: Data, type: String = "application/sieve") async throws -> String {
        let url = URL(string: "/jmap/upload/\(accountId)/", relativeTo: server.httpBase)!.absoluteURL
        let request = HTTPRequest(method: "POST", url: url, body: .data(data, contentType: type),
                                  credentials: .basic(username: user, password: password))
        let r = try await TestServer.transport().perform(request, sink: .memory(limit: 1 << 20))
        guard let id = (try JSONValue.decode(r.body))["blobId"]?.stringValue else {
            throw TestServerUnavailable(description: "upload: \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        return id
    }
}

extension ServerAccount {
    /// Every object of `type` the server holds.
    public func pimList(_ type: String) async throws -> [JSONValue] {
        try await call("\(type)/get", ["accountId": .string(accountId), "ids": .null], using: ServerAccount.pimCapabilities)["list"]?
            .arrayValue ?? []
    }
}

/// A small iCalendar event with `uid`, for seeding.
public func sampleEvent(_ uid: String, title: String, day: Int = 1) -> Data {
    Data("""
        BEGIN:VCALENDAR\r
        VERSION:2.0\r
        PRODID:-//jmirror tests//EN\r
        BEGIN:VEVENT\r
        UID:\(uid)\r
        DTSTAMP:20260101T000000Z\r
        DTSTART:202605\(String(format: "%02d", day % 28 + 1))T100000Z\r
        DURATION:PT1H\r
        SUMMARY:\(title)\r
        END:VEVENT\r
        END:VCALENDAR\r

        """.utf8)
}

public func sampleCard(_ uid: String, name: String) -> Data {
    Data("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:\(uid)\r\nFN:\(name)\r\nN:\(name);;;;\r\nEND:VCARD\r\n".utf8)
}
