import Digest
import Formats
import Foundation
import JMAP
import Transport

/// An in-memory IETF JMAP server for the dialects no real server here speaks: RFC 9610 contacts
/// (AddressBook, ContactCard) and RFC 9661 Sieve, with RFC 9404 blobs and an empty mailbox. Its
/// objects are the RFCs' examples; `/changes` answers from a change log; result references are
/// resolved as RFC 8620 §3.7 says.
///
/// With `calendars`, it also keeps calendars whose events are in that JSCalendar and refuses
/// the others' names, as a strict server of that version would: `.bis` is a JSCalendar 2.0
/// server (the JMAP calendars draft, Stalwart); `.draft` is Cyrus up to 3.6 (its own capability
/// without `isRFC`, `"@type": "jsevent"`, one `calendarId`, no `sendSchedulingMessages`, and
/// an invitation for every event with participants, which it records in `invitations`).
public final class IETFServer: @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [String: [String: JSONValue]] = ["AddressBook": [:], "ContactCard": [:], "SieveScript": [:]]
    public let calendars: EventShape?
    /// Every `CalendarEvent/set`'s `sendSchedulingMessages` (nil where it was not given).
    public private(set) var schedulingArguments: [Bool?] = []
    /// The UIDs of events a `.draft` server would have sent invitations for.
    public private(set) var invitations: [String] = []

    public init(calendars: EventShape? = nil) {
        self.calendars = calendars
        if calendars != nil { objects["Calendar"] = [:]; objects["CalendarEvent"] = [:] }
    }
    private var log: [String: [(state: Int, id: String)]] = [:]
    private var states: [String: Int] = [:]
    private var blobs: [String: Data] = [:]
    /// States older than this answer cannotCalculateChanges, as after a server-side reset.
    public var oldestKnownState: [String: Int] = [:]
    public private(set) var calls: [String] = []

    public func put(_ type: String, _ object: JSONValue) {
        lock.withLock {
            let id = object["id"]!.stringValue!
            objects[type]![id] = object
            bump(type, id)
        }
    }

    public func destroy(_ type: String, _ id: String) {
        lock.withLock {
            objects[type]![id] = nil
            bump(type, id)
        }
    }

    public func blobData(_ id: String) -> Data? { lock.withLock { blobs[id] } }

    public func blob(_ data: Data) -> String {
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

    public static let session: JSONValue = [
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

    /// The session, with the calendars capability this server was made with.
    public var session: JSONValue {
        guard let calendars, case var .object(s) = IETFServer.session, case var .object(caps) = s["capabilities"],
              case var .object(accounts) = s["accounts"], case var .object(a) = accounts["A"], case var .object(acaps) = a["accountCapabilities"]
        else { return IETFServer.session }
        let urn = calendars == .bis ? "urn:ietf:params:jmap:calendars" : "https://cyrusimap.org/ns/jmap/calendars"
        caps[urn] = [:]
        acaps[urn] = calendars == .bis ? ["maxCalendarsPerEvent": 1, "mayCreateCalendar": true] : [:]
        a["accountCapabilities"] = .object(acaps)
        accounts["A"] = .object(a)
        s["accounts"] = .object(accounts)
        s["capabilities"] = .object(caps)
        return .object(s)
    }

    public var transport: RecordingTransport {
        RecordingTransport { [self] request in
            if request.url.path == "/session" { return RecordingTransport.json(session, url: request.url) }
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
        if type == "CalendarEvent" {
            if calendars == .draft, args["sendSchedulingMessages"] != nil {
                return ["error": "invalidArguments"]
            }
            schedulingArguments.append(args["sendSchedulingMessages"]?.boolValue)
        }
        for (cid, obj) in args["create"]?.objectValue ?? [:] {
            guard case var .object(o) = obj else { continue }
            if type == "CalendarEvent", let bad = refusedEventProperties(o) {
                notCreated[cid] = ["type": "invalidProperties", "properties": .strings(bad)]
                continue
            }
            if type == "CalendarEvent", calendars == .draft, !(o["participants"]?.objectValue ?? [:]).isEmpty {
                invitations.append(o["uid"]?.stringValue ?? cid)
            }
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
        var notUpdated: [String: JSONValue] = [:]
        for (id, patch) in args["update"]?.objectValue ?? [:] {
            guard case var .object(o) = objects[type]?[id] ?? .null else { continue }
            for (k, v) in patch.objectValue ?? [:] { o[k] = v.isNull ? nil : v }
            if type == "CalendarEvent", let bad = refusedEventProperties(o) {
                notUpdated[id] = ["type": "invalidProperties", "properties": .strings(bad)]
                continue
            }
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
                "created": .object(created), "updated": .object(updated), "notCreated": .object(notCreated),
                "notUpdated": .object(notUpdated)]
    }

    /// The names the other JSCalendar versions use, which this server's version does not know.
    private func refusedEventProperties(_ o: [String: JSONValue]) -> [String]? {
        var bad: [String] = []
        let bisOnly = ["organizerCalendarAddress", "endTimeZone", "calendarIds", "mayInviteSelf", "mayInviteOthers", "hideAttendees"]
        let old = calendars == .bis ? ["recurrenceRules", "excludedRecurrenceRules", "replyTo", "timeZones", "calendarId", "method"] : ["recurrenceRules"] + bisOnly
        bad += old.filter { o[$0] != nil }
        if o["@type"]?.stringValue != (calendars == .bis ? "Event" : "jsevent") { bad.append("@type") }
        for (pid, p) in o["participants"]?.objectValue ?? [:] {
            let refused = calendars == .bis ? ["sendTo", "roles/attendee", "roles/contact"] : ["calendarAddress", "roles/required"]
            for path in refused {
                let step = path.split(separator: "/").map(String.init)
                if (step.count == 1 ? p[step[0]] : p[step[0]]?[step[1]]) != nil { bad.append("participants/\(pid)/\(path)") }
            }
        }
        for (lid, l) in o["locations"]?.objectValue ?? [:] where calendars == .bis && (l["relativeTo"] != nil || l["timeZone"] != nil) {
            bad.append("locations/\(lid)")
        }
        if calendars == .bis, (o["calendarIds"]?.objectValue ?? [:]).isEmpty { bad.append("calendarIds") }
        if calendars == .draft, o["calendarId"]?.stringValue == nil { bad.append("calendarId") }
        return bad.isEmpty ? nil : bad.sorted()
    }

    private func handle(_ name: String, _ args: [String: JSONValue]) -> (String, JSONValue) {
        let parts = name.split(separator: "/").map(String.init)
        let (type, method) = (parts[0], parts[1])
        switch (type, method) {
        case ("CalendarEvent", "set"):
            let r = set(type, args)
            return r["error"] != nil ? ("error", ["type": r["error"] ?? "serverFail"]) : (name, r)
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


extension String {
    /// "0a1b…" → its bytes.
    public var hexBytes: [UInt8] {
        var out: [UInt8] = []
        var i = startIndex
        while i < endIndex, let j = index(i, offsetBy: 2, limitedBy: endIndex), let b = UInt8(self[i..<j], radix: 16) {
            out.append(b)
            i = j
        }
        return out
    }
}
