import Formats
import Foundation
import History
import JMAP
import Replay
import Store
import TestSupport
import Testing

/// jscalendarbis-15 §5.9 and §5.11 (the "..." of the examples filled with `@type`, `uid`,
/// `updated`), and an event that ends in another zone (§4.1.3's `endTimeZone`).
let bisEvents: [JSONValue] = [
    ["@type": "Event", "uid": "calculus-1@example.com", "updated": "2020-01-02T18:23:04Z", "title": "Calculus I",
     "start": "2020-01-08T09:00:00", "timeZone": "Europe/London", "duration": "PT1H30M",
     "locations": ["mlab": ["name": "Math lab room 1", "description": "Math Lab I, Department of Mathematics"]],
     "recurrenceRule": ["frequency": "weekly", "until": "2020-06-24T09:00:00"],
     "recurrenceOverrides": ["2020-01-07T14:00:00": ["title": "Introduction to Calculus I (optional)"],
                             "2020-04-01T09:00:00": ["excluded": true],
                             "2020-06-25T09:00:00": ["title": "Calculus I Exam", "start": "2020-06-25T10:00:00", "duration": "PT2H",
                                                     "locations": ["auditorium": ["name": "Big Auditorium", "description": "Big Auditorium, Other Road"]]]]],
    ["@type": "Event", "uid": "foobar-team@example.com", "updated": "2020-01-02T18:23:04Z", "title": "FooBar team meeting",
     "start": "2020-01-08T09:00:00", "timeZone": "Africa/Johannesburg", "duration": "PT1H",
     "virtualLocations": ["0": ["name": "ChatMe meeting room", "uri": "https://chatme.example.com?id=1234567&pw=a8a24627b63d"]],
     "recurrenceRule": ["frequency": "weekly"],
     "organizerCalendarAddress": "mailto:zoe@foobar.example.com",
     "participants": ["dG9tQGZvb2Jhci5xlLmNvbQ": ["name": "Tom Tool", "email": "tom@foobar.example.com",
                                                  "calendarAddress": "mailto:tom@calendar.example.com", "participationStatus": "accepted"],
                      "em9lQGZvb2GFtcGxlLmNvbQ": ["name": "Zoe Zelda", "calendarAddress": "mailto:zoe@foobar.example.com",
                                                  "participationStatus": "accepted", "roles": ["owner": true, "chair": true]]],
     "recurrenceOverrides": ["2020-03-04T09:00:00": ["participants/dG9tQGZvb2Jhci5xlLmNvbQ/participationStatus": "declined"]]],
    ["@type": "Event", "uid": "flight-1@example.com", "updated": "2020-01-02T18:23:04Z", "title": "Flight XY51 to London",
     "start": "2020-04-01T09:00:00", "timeZone": "America/Los_Angeles", "duration": "PT10H30M", "endTimeZone": "Europe/London"],
]

/// An event as Cyrus 3.6 lists it (built from its `jmap_ical.c` and `jmap_calendar.c`: no
/// server of that version runs here): `jsevent`, one `calendarId`, one `recurrenceRule`.
let draftEvent: JSONValue = [
    "@type": "jsevent", "id": "ev-draft", "calendarId": "Default", "uid": "draft-1@example.com", "updated": "2019-05-01T10:00:00Z",
    "title": "Yoga", "start": "2019-05-06T18:00:00", "timeZone": "Europe/Vienna", "duration": "PT1H", "showWithoutTime": false,
    "recurrenceRule": ["@type": "RecurrenceRule", "frequency": "weekly", "count": 8],
    "recurrenceOverrides": ["2019-05-13T18:00:00": ["excluded": true]], "replyTo": .null, "participants": .null,
    "x-href": "/dav/calendars/user/u/Default/draft-1.ics",
]

@Suite("JSCalendar 1.0, 2.0 and the drafts: translation, and replays into servers of each")
struct EventTranslationTests {
    static let serverSet: Set<String> = ["id", "blobId", "x-href", "isOrigin", "calendarIds"]

    @Test("Cyrus 3.10's own event (JSCalendar 1.0, recorded) through 2.0 and back is the same event")
    func roundTrip() throws {
        let cyrus = try Fixtures.json("cyrus-3.10-event.json").objectValue!.filter { !Self.serverSet.contains($0.key) }
        #expect(EventTranslation.shape(of: cyrus) == .rfc8984)
        let bis = try EventTranslation.translate(cyrus, to: .bis)
        #expect(EventTranslation.shape(of: bis) == .bis)
        #expect(bis["recurrenceRule"]?["count"] == 10 && bis["recurrenceRules"] == nil)
        #expect(bis["organizerCalendarAddress"] == "mailto:carol@example.com" && bis["replyTo"] == nil)
        #expect(bis["endTimeZone"] == "America/New_York" && bis["locations"]?.objectValue?.keys.sorted() == ["room"])
        #expect(bis["participants"]?["p1"]?["roles"] == ["owner": true, "required": true])
        #expect(bis["participants"]?["p2"]?["calendarAddress"] == "mailto:dan@example.com" && bis["participants"]?["p2"]?["sendTo"] == nil)
        #expect(bis["participants"]?["p3"]?["roles"] == ["optional": true])
        #expect(bis["recurrenceOverrides"]?["2026-01-19T10:00:00"]?["participants/p2/participationStatus"] == "declined")
        var back = try EventTranslation.translate(bis, to: .rfc8984)
        // The end zone comes back as a location of its own, under a new id.
        #expect(back["locations"]?["end"] == ["@type": "Location", "relativeTo": "end", "timeZone": "America/New_York"])
        back["locations"]?.renameEnd(to: "l1")
        #expect(JSONValue.object(back) == JSONValue.object(cyrus))
    }

    @Test("2.0 examples to 1.0 and the drafts' shape, and what cannot be said")
    func toOlder() throws {
        let team = try EventTranslation.translate(bisEvents[1].objectValue!, to: .rfc8984)
        #expect(team["recurrenceRules"] == [["frequency": "weekly"]] && team["recurrenceRule"] == nil)
        #expect(team["replyTo"] == ["imip": "mailto:zoe@foobar.example.com"])
        #expect(team["participants"]?["em9lQGZvb2GFtcGxlLmNvbQ"]?["roles"] == ["owner": true, "chair": true, "attendee": true])
        #expect(team["participants"]?["dG9tQGZvb2Jhci5xlLmNvbQ"]?["sendTo"] == ["imip": "mailto:tom@calendar.example.com"])
        let draft = try EventTranslation.translate(bisEvents[0].objectValue!, to: .draft)
        #expect(draft["@type"] == "jsevent" && draft["recurrenceRule"]?["until"] == "2020-06-24T09:00:00" && draft["recurrenceRules"] == nil)
        let fromDraft = try EventTranslation.translate(draftEvent.objectValue!, to: .bis)
        #expect(fromDraft["@type"] == "Event" && fromDraft["recurrenceRule"]?["count"] == 8 && fromDraft["replyTo"] == nil)
        // RFC 8984 §4.3.3 allows several rules and excluded rules; 2.0 has one rule and no exclusions.
        var two = bisEvents[0].objectValue!
        two["recurrenceRule"] = nil
        two["recurrenceRules"] = [["frequency": "weekly"], ["frequency": "monthly"]]
        #expect(throws: Untranslatable.self) { try EventTranslation.translate(two, to: .bis) }
        #expect(throws: Untranslatable.self) {
            try EventTranslation.translate(["@type": "Event", "uid": "x", "excludedRecurrenceRules": [["frequency": "daily"]]], to: .bis)
        }
    }

    func replay(_ versions: [VersionRow], into server: IETFServer) async throws -> ReplayReport {
        let store = try MirrorStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-evt-\(UUID().uuidString)").path)
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: server.transport)
        var options = ReplayOptions()
        options.only = [.calendars]
        return try await Replayer(catalog: store.catalog, objects: store.objects)
            .run(AccountState(account: "src", versions: versions), snapshot: "src@x", into: try await ReplayTarget.open(client, name: "t"), options: options)
    }

    func events(_ server: IETFServer) async throws -> [String: JSONValue] {
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: server.transport)
        let list = try await client.get("CalendarEvent", accountId: "A", ids: nil, using: [Capability.calendars, Capability.cyrusCalendars]).list
        return Dictionary(list.map { ($0["uid"]?.stringValue ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("Cyrus's 1.0 events and a 3.6 event replayed into a JSCalendar 2.0 server: in 2.0's names, never scheduling, idempotent")
    func intoBis() async throws {
        let server = IETFServer(calendars: .bis)
        let cyrus = try Fixtures.json("cyrus-3.10-event.json")
        let versions = [VersionRow(type: "Calendar", id: "Default", json: JSONValue.object(["id": "Default", "name": "personal"]).encoded()),
                        VersionRow(type: "CalendarEvent", id: cyrus["id"]!.stringValue!, json: cyrus.encoded()),
                        VersionRow(type: "CalendarEvent", id: "ev-draft", json: draftEvent.encoded())]
        let r = try await replay(versions, into: server)
        let k = try #require(r.kinds.first { $0.kind == "calendars" })
        #expect(r.ok && k.created == 2 && k.verified == 2, "\(r)")
        let got = try await events(server)
        let team = try #require(got["rec-1@example.com"])
        #expect(team["@type"] == "Event" && team["recurrenceRule"]?["byDay"] == [["@type": "NDay", "day": "mo"]])
        #expect(team["organizerCalendarAddress"] == "mailto:carol@example.com" && team["endTimeZone"] == "America/New_York")
        #expect(team["participants"]?["p2"]?["roles"] == ["required": true] && team["participants"]?["p2"]?["expectReply"] == true)
        #expect(team["recurrenceOverrides"]?["2026-01-12T10:00:00"] == ["excluded": true])
        #expect(got["draft-1@example.com"]?["recurrenceRule"]?["count"] == 8 && got["draft-1@example.com"]?["calendarIds"]?.objectValue?.count == 1)
        #expect(server.schedulingArguments.allSatisfy { $0 == false } && !server.schedulingArguments.isEmpty)

        let again = try await replay(versions, into: server)
        let k2 = try #require(again.kinds.first { $0.kind == "calendars" })
        #expect(again.ok && k2.created == 0 && k2.updated == 0 && k2.present == 2, "\(again)")
    }

    @Test("2.0 events replayed into a pre-RFC server (Cyrus ≤ 3.6): carried as jsevent with one calendarId; one with participants refused, no one invited")
    func intoDraft() async throws {
        let server = IETFServer(calendars: .draft)
        server.put("Calendar", ["id": "Default", "name": "personal"])
        let versions = bisEvents.enumerated().map { n, e in VersionRow(type: "CalendarEvent", id: "e\(n)", json: e.encoded()) }
        let r = try await replay(versions, into: server)
        let k = try #require(r.kinds.first { $0.kind == "calendars" })
        #expect(!r.ok && k.created == 2 && k.verified == 2, "\(r)")
        #expect(k.refused.map(\.item) == ["foobar-team@example.com"] && k.refused.first?.reason.contains("invitations") == true)
        #expect(server.invitations.isEmpty && server.schedulingArguments.allSatisfy { $0 == nil })
        let got = try await events(server)
        #expect(got["calculus-1@example.com"]?["@type"] == "jsevent" && got["calculus-1@example.com"]?["calendarId"] == "Default")
        #expect(got["flight-1@example.com"]?["locations"]?["end"]?["timeZone"] == "Europe/London")
    }
}

private extension JSONValue {
    mutating func renameEnd(to key: String) {
        guard case var .object(o) = self, let v = o.removeValue(forKey: "end") else { return }
        o[key] = v
        self = .object(o)
    }
}
