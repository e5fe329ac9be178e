import Foundation
import Formats
import JMAP
import Testing

private func json(_ s: String) throws -> JSONValue { try JSONValue.decode(Data(s.utf8)) }

private func lines(_ s: String) -> [String] {
    // Unfold (RFC 6350 §3.2) so assertions see logical lines.
    s.replacingOccurrences(of: "\r\n ", with: "").components(separatedBy: "\r\n").filter { !$0.isEmpty }
}

@Suite("vCard and iCalendar rendering")
struct RenderingTests {
    /// The Card of RFC 9553 §2 and RFC 9555's examples, combined: what an IETF (RFC 9610) server sends.
    @Test("JSContact Card → vCard 4.0 as RFC 9555 §3 maps it")
    func contactCard() throws {
        let card = try json("""
            {"@type":"Card","version":"1.0","id":"c1","addressBookIds":{"b1":true},
             "uid":"urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065","kind":"individual","updated":"2021-10-31T22:27:10Z",
             "name":{"components":[{"kind":"title","value":"Mr."},{"kind":"given","value":"John"},{"kind":"given2","value":"Quinlan"},
                                   {"kind":"surname","value":"Public"},{"kind":"credential","value":"Esq."}],"full":"Mr. John Q. Public, Esq."},
             "nicknames":{"k1":{"name":"Johnny"}},
             "organizations":{"o1":{"name":"ABC, Inc.","units":[{"name":"North American Division"},{"name":"Marketing"}]}},
             "titles":{"t1":{"kind":"title","name":"Research Scientist"},"t2":{"kind":"role","name":"Project Leader"}},
             "emails":{"e1":{"address":"jqpublic@xyz.example.com","contexts":{"work":true},"pref":1}},
             "phones":{"p1":{"number":"+1-555-555-5555","features":{"mobile":true,"voice":true},"contexts":{"private":true}},
                       "p2":{"number":"tel:+1-201-555-0123;ext=456","features":{"voice":true}}},
             "addresses":{"a1":{"components":[{"kind":"number","value":"54321"},{"kind":"name","value":"Oak St"},
                                              {"kind":"locality","value":"Reston"},{"kind":"region","value":"VA"},
                                              {"kind":"postcode","value":"20190"},{"kind":"country","value":"USA"}],
                                "countryCode":"US","coordinates":"geo:46.772673,-71.282945","timeZone":"America/New_York"}},
             "anniversaries":{"k8":{"kind":"birth","date":{"@type":"PartialDate","month":4,"day":15}},
                              "k9":{"kind":"wedding","date":{"@type":"PartialDate","year":2003,"month":5,"day":23}}},
             "keywords":{"internet":true,"IETF":true},
             "notes":{"n1":{"note":"Open office hours are 1600 to 1715 EST, Mon-Fri; ask first, please."}},
             "links":{"l1":{"uri":"https://example.com/~jqp"}},
             "speakToAs":{"grammaticalGender":"neuter"},
             "example.com:custom":{"x":1}}
            """)
        let l = lines(VCardWriter.card(card))
        #expect(l.first == "BEGIN:VCARD" && l[1] == "VERSION:4.0" && l.last == "END:VCARD")
        #expect(l.contains("UID:urn:uuid:22B2C7DF-9120-4969-8460-05956FE6B065"))
        #expect(l.contains("FN:Mr. John Q. Public\\, Esq."))
        #expect(l.contains("N:Public;John;Quinlan;Mr.;Esq."))
        #expect(l.contains("NICKNAME;PROP-ID=k1:Johnny"))
        #expect(l.contains("ORG;PROP-ID=o1:ABC\\, Inc.;North American Division;Marketing"))
        #expect(l.contains("TITLE;PROP-ID=t1:Research Scientist") && l.contains("ROLE;PROP-ID=t2:Project Leader"))
        #expect(l.contains("EMAIL;PROP-ID=e1;TYPE=work;PREF=1:jqpublic@xyz.example.com"))
        #expect(l.contains("TEL;PROP-ID=p1;TYPE=home,cell,voice:+1-555-555-5555"))
        #expect(l.contains("TEL;PROP-ID=p2;TYPE=voice;VALUE=uri:tel:+1-201-555-0123;ext=456"))
        #expect(l.contains(#"ADR;PROP-ID=a1;CC=US;GEO="geo:46.772673,-71.282945";TZ=America/New_York:;;54321 Oak St;Reston;VA;20190;USA"#))
        #expect(l.contains("BDAY;PROP-ID=k8:--0415") && l.contains("ANNIVERSARY;PROP-ID=k9:20030523"))
        #expect(l.contains("CATEGORIES:IETF,internet"))
        #expect(l.contains("NOTE;PROP-ID=n1:Open office hours are 1600 to 1715 EST\\, Mon-Fri\\; ask first\\, please."))
        #expect(l.contains("URL;PROP-ID=l1:https://example.com/~jqp"))
        #expect(l.contains("REV:20211031T222710Z"))
        // What vCard has no property for travels as JSPROP (RFC 9555 §3.3), nothing dropped.
        #expect(l.contains(#"JSPROP;JSPTR=speakToAs:{"grammaticalGender":"neuter"}"#))
        #expect(l.contains(#"JSPROP;JSPTR=example.com:custom:{"x":1}"#) == false)
        #expect(l.contains(#"JSPROP;JSPTR="example.com:custom":{"x":1}"#))
        #expect(!l.contains { $0.hasPrefix("JSPROP;JSPTR=addressBookIds") || $0.hasPrefix("JSPROP;JSPTR=id") })
    }

    @Test("a group card: KIND:group with MEMBER URIs; FN derived when the Card has no full name")
    func groupCard() throws {
        let card = try json("""
            {"@type":"Card","version":"1.0","uid":"urn:uuid:ab4310aa-fa43-11e9-8f0b-362b9e155667","kind":"group",
             "name":{"components":[{"kind":"surname","value":"The Doe family"}]},
             "members":{"urn:uuid:03a0e51f-d1aa-4385-8a53-e29025acd8af":true,"urn:uuid:b8767877-b4a1-4c70-9acc-505d3819e519":true}}
            """)
        let l = lines(VCardWriter.card(card))
        #expect(l.contains("KIND:group"))
        #expect(l.contains("FN;DERIVED=TRUE:The Doe family"))
        #expect(l.filter { $0.hasPrefix("MEMBER:urn:uuid:") }.count == 2)
    }

    @Test("legacy Cyrus contact without a vCard blob, and a legacy group")
    func legacy() throws {
        let c = try json("""
            {"id":"x","uid":"u-1","firstName":"Jöhn","lastName":"Doe","prefix":"Dr.","suffix":"","company":"","department":"",
             "jobTitle":"","emails":[{"type":"work","value":"john@example.com","isDefault":true}],
             "phones":[{"type":"mobile","value":"+1 555"}],"addresses":[],"online":[],"nickname":"","birthday":"0000-05-17",
             "anniversary":"0000-00-00","notes":"a; b"}
            """)
        let l = lines(VCardWriter.legacyContact(c))
        #expect(l.contains("FN:Dr. Jöhn Doe") && l.contains("N:Doe;Jöhn;;Dr.;"))
        #expect(l.contains("EMAIL;TYPE=work;PREF=1:john@example.com") && l.contains("TEL;TYPE=cell:+1 555"))
        #expect(l.contains("BDAY:--0517") && !l.contains { $0.hasPrefix("ANNIVERSARY") })
        #expect(l.contains("NOTE:a\\; b"))
        let g = lines(VCardWriter.legacyGroup(try json(#"{"uid":"g-1","name":"Friends"}"#),
                                              memberUIDs: ["4fbe8971-0bc3-424c-9c26-36c3e1eff6b1", "plain-uid"]))
        #expect(g.contains("VERSION:3.0") && g.contains("X-ADDRESSBOOKSERVER-KIND:group") && g.contains("FN:Friends") && g.contains("N:Friends;;;;"))
        #expect(g.contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"))
        #expect(g.contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:plain-uid"))
    }

    @Test("a vCard's inline photo is found in each spelling exporters and servers use; a linked one is not")
    func inlinePhoto() {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]
        let b64 = Data(png).base64EncodedString()
        let cards = [
            "BEGIN:VCARD\r\nVERSION:3.0\r\nPHOTO;ENCODING=b;TYPE=PNG:\(b64)\r\nEND:VCARD\r\n",
            "BEGIN:VCARD\r\nVERSION:3.0\r\nPHOTO;BASE64:\r\n  \(b64.prefix(4))\r\n  \(b64.dropFirst(4))\r\nEND:VCARD\r\n",
            "BEGIN:VCARD\r\nVERSION:3.0\r\nPHOTO;type=BASE64: \(b64)\r\nEND:VCARD\r\n",
            "BEGIN:VCARD\r\nVERSION:4.0\r\nitem1.PHOTO:data:image/png;base64,\(b64)\r\nEND:VCARD\r\n",
        ]
        for card in cards {
            let photo = VCardPhoto.inline(in: Data(card.utf8))
            #expect(photo?.bytes == Data(png) && photo?.type == "image/png", "\(card)")
        }
        #expect(VCardPhoto.inline(in: Data("BEGIN:VCARD\r\nPHOTO;VALUE=uri:https://example.com/a.jpg\r\nEND:VCARD\r\n".utf8)) == nil)
        #expect(VCardPhoto.inline(in: Data("BEGIN:VCARD\r\nFN:No Photo\r\nEND:VCARD\r\n".utf8)) == nil)
    }

    @Test("lines fold at 75 octets and never inside a UTF-8 sequence")
    func folding() {
        var out = ContentLines()
        out.add("SUMMARY", ContentLines.text(String(repeating: "Ünïcödé 🎉 ", count: 20)))
        let physical = out.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(physical.count > 3)
        #expect(physical.allSatisfy { $0.utf8.count <= 75 })
        #expect(physical.dropFirst().allSatisfy { $0.hasPrefix(" ") })
        #expect(lines(out.text) == ["SUMMARY:" + String(repeating: "Ünïcödé 🎉 ", count: 20)])
    }

    /// JSCalendar 2.0 as an IETF JMAP server sends it (draft-ietf-jmap-calendars, jscalendarbis).
    @Test("JSCalendar 2.0 event → iCalendar: rule, overrides, participants, alerts, places")
    func jscalendar2() throws {
        let e = try json("""
            {"@type":"Event","id":"ev1","calendarIds":{"c1":true},"uid":"a8df6573-0474-496d-8496-033ad45d7fea",
             "updated":"2026-01-02T03:04:05Z","title":"Planning; Q1, all hands","description":"Line 1\\nLine 2",
             "start":"2026-01-15T09:00:00","timeZone":"America/New_York","duration":"PT1H30M",
             "recurrenceRule":{"@type":"RecurrenceRule","frequency":"monthly","interval":1,
                               "byDay":[{"@type":"NDay","day":"th","nthOfPeriod":3}],"until":"2026-12-31T23:59:59"},
             "recurrenceOverrides":{"2026-02-19T09:00:00":{"excluded":true},
                                    "2026-03-19T09:00:00":{"start":"2026-03-19T13:00:00","participants/p2/participationStatus":"declined"},
                                    "2026-04-01T09:00:00":{}},
             "organizerCalendarAddress":"mailto:boss@example.com",
             "participants":{"p1":{"@type":"Participant","name":"Boss","calendarAddress":"mailto:boss@example.com","roles":{"owner":true}},
                             "p2":{"@type":"Participant","name":"Ann","calendarAddress":"mailto:ann@example.com",
                                   "roles":{"required":true},"participationStatus":"accepted","expectReply":true},
                             "p3":{"@type":"Participant","calendarAddress":"mailto:room@example.com","kind":"location","roles":{"informational":true}}},
             "alerts":{"a1":{"@type":"Alert","trigger":{"@type":"OffsetTrigger","offset":"-PT10M"}},
                       "a2":{"@type":"Alert","trigger":{"@type":"AbsoluteTrigger","when":"2026-01-14T12:00:00Z"},"action":"email"}},
             "locations":{"l1":{"@type":"Location","name":"Room 101","coordinates":"geo:40.7,-74.0"}},
             "virtualLocations":{"v1":{"@type":"VirtualLocation","name":"Video","uri":"https://meet.example.com/x"}},
             "privacy":"secret","status":"confirmed","freeBusyStatus":"free","sequence":2,"keywords":{"work":true}}
            """)
        let text = ICalendarWriter.event(e)
        let l = lines(text)
        #expect(l.first == "BEGIN:VCALENDAR" && l.last == "END:VCALENDAR")
        #expect(l.filter { $0 == "BEGIN:VEVENT" }.count == 2)
        #expect(l.contains("DTSTART;TZID=America/New_York:20260115T090000") && l.contains("DURATION:PT1H30M"))
        // UNTIL in UTC because DTSTART has a zone (RFC 5545 §3.3.10): 23:59:59 EST is 04:59:59Z.
        #expect(l.contains("RRULE:FREQ=MONTHLY;BYDAY=3TH;UNTIL=20270101T045959Z"))
        #expect(l.contains("EXDATE;TZID=America/New_York:20260219T090000"))
        #expect(l.contains("RDATE;TZID=America/New_York:20260401T090000"))
        #expect(l.contains("RECURRENCE-ID;TZID=America/New_York:20260319T090000"))
        #expect(l.contains("DTSTART;TZID=America/New_York:20260319T130000"))
        #expect(l.contains("ATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED;RSVP=TRUE:mailto:ann@example.com"))
        #expect(l.contains("ATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:ann@example.com"))
        #expect(l.contains("ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:room@example.com"))
        #expect(l.contains("ORGANIZER;CN=Boss:mailto:boss@example.com"))
        #expect(!l.contains { $0.hasPrefix("ATTENDEE") && $0.hasSuffix("boss@example.com") })
        #expect(l.contains("SUMMARY:Planning\\; Q1\\, all hands") && l.contains("DESCRIPTION:Line 1\\nLine 2"))
        #expect(l.contains("LOCATION:Room 101") && l.contains("GEO:40.7;-74.0"))
        #expect(l.contains("CONFERENCE;VALUE=URI;LABEL=Video:https://meet.example.com/x"))
        #expect(l.contains("CLASS:CONFIDENTIAL") && l.contains("TRANSP:TRANSPARENT") && l.contains("STATUS:CONFIRMED"))
        #expect(l.contains("SEQUENCE:2") && l.contains("CATEGORIES:work") && l.contains("DTSTAMP:20260102T030405Z"))
        #expect(l.contains("TRIGGER:-PT10M") && l.contains("TRIGGER;VALUE=DATE-TIME:20260114T120000Z") && l.contains("ACTION:EMAIL"))
        #expect(l.contains("BEGIN:VTIMEZONE") && l.contains("TZID:America/New_York") && l.contains("TZOFFSETTO:-0400"))
    }

    // The JSON of these three is what Cyrus 3.10 answers for RFC 5545's RDATE examples (§3.8.5.2),
    // from the real-world corpus test (CalendarCorpusTests).
    @Test("no start is written without DTSTART; duration-only overrides are RDATEs (periods, or dates of a timed event)")
    func rdatesAndMissingStart() throws {
        let noStart = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"n","start":"0000-00-00T00:00:00","duration":"PT0S",
             "recurrenceOverrides":{"1997-07-14T12:30:00":{}}}
            """)))
        #expect(!noStart.contains { $0.hasPrefix("DTSTART") || $0.hasPrefix("DURATION") || $0.hasPrefix("DTEND") })
        #expect(noStart.contains("RDATE:19970714T123000"))
        let periods = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"p","start":"1996-12-30T02:00:00","timeZone":"Etc/UTC","duration":"PT4H",
             "recurrenceOverrides":{"1997-01-01T18:00:00":{"duration":"PT13H"},"1997-09-01T18:00:00":{"duration":"PT5H30M"},
                                    "1997-10-01T18:00:00":{"title":"moved"}}}
            """)))
        #expect(periods.contains("RDATE;VALUE=PERIOD:19970101T180000Z/PT13H,19970901T180000Z/PT5H30M"))
        #expect(periods.filter { $0 == "BEGIN:VEVENT" }.count == 2)  // only the override with a title
        let dates = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"d","start":"1997-01-01T18:00:00","timeZone":"America/New_York","duration":"PT0S",
             "recurrenceOverrides":{"1997-01-01T00:00:00":{"duration":"P1D"}}}
            """)))
        #expect(dates.contains("RDATE;VALUE=DATE:19970101"))
        #expect(dates.filter { $0 == "BEGIN:VEVENT" }.count == 1)
    }

    @Test("LOCATION is the first location with a name when the first has none; the other named ones are VLOCATIONs")
    func namedLocation() throws {
        let l = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"f","start":"2026-06-15T11:00:00","timeZone":"America/New_York","duration":"PT14H",
             "locations":{"a":{"@type":"Location","relativeTo":"end","timeZone":"Asia/Tokyo"},
                          "b":{"@type":"Location","name":"JFK Terminal 1","relativeTo":"start"}}}
            """)))
        #expect(l.contains("LOCATION:JFK Terminal 1"))
        let two = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"g","start":"2026-06-15T11:00:00","duration":"PT1H",
             "locations":{"a":{"@type":"Location","name":"Hall A"},"b":{"@type":"Location","name":"Overflow room, B","locationTypes":{"room":true}}}}
            """)))
        #expect(two.contains("LOCATION:Hall A"))
        #expect(two.contains("BEGIN:VLOCATION") && two.contains("UID:b") && two.contains("NAME:Overflow room\\, B") && two.contains("LOCATION-TYPE:room"))
    }

    @Test("a SKIP brings its RSCALE (RFC 7529 allows no SKIP without one)")
    func rscale() throws {
        let l = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"r","start":"2026-02-28T09:00:00","timeZone":"Etc/UTC","duration":"PT1H",
             "recurrenceRules":[{"@type":"RecurrenceRule","frequency":"yearly","rscale":"gregorian","skip":"forward"}]}
            """)))
        #expect(l.contains("RRULE:FREQ=YEARLY;RSCALE=GREGORIAN;SKIP=FORWARD"))
        let plain = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"p","start":"2026-02-28T09:00:00","duration":"PT1H","recurrenceRules":[{"frequency":"weekly"}]}
            """)))
        #expect(plain.contains("RRULE:FREQ=WEEKLY"))
    }

    @Test("parameter values by RFC 6868")
    func carets() throws {
        let l = ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"z","start":"2022-01-01T00:00:00","showWithoutTime":true,"duration":"P0D",
             "participants":{"p":{"@type":"Participant","name":"George Herman \\"Babe\\" Ruth ^","sendTo":{"imip":"mailto:babe@example.com"},
                                  "roles":{"attendee":true}}}}
            """)).replacingOccurrences(of: "\r\n ", with: "")
        #expect(l.contains("CN=George Herman ^'Babe^' Ruth ^^"))
    }

    @Test("an override of an instance the rule does not generate is also an RDATE (libical expands the rule)")
    func overrideOutsideTheRule() throws {
        let l = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"w","start":"2026-03-02T10:00:00","timeZone":"Europe/Paris","duration":"PT1H",
             "recurrenceRules":[{"@type":"RecurrenceRule","frequency":"weekly","count":6}],
             "recurrenceOverrides":{"2026-03-09T10:00:00":{"title":"moved in the rule"},"2026-03-11T15:00:00":{"title":"extra"}}}
            """)))
        #expect(l.contains("RDATE;TZID=Europe/Paris:20260311T150000"))
        #expect(!l.contains { $0.hasPrefix("RDATE") && $0.contains("20260309") })
        #expect(l.filter { $0 == "BEGIN:VEVENT" }.count == 3)
    }

    @Test("links: describedby is URL, a link without rel an ATTACH, an inline one in its binary form")
    func linkKinds() throws {
        let l = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"l","start":"2026-06-15T11:00:00","duration":"PT1H","links":{
              "a":{"@type":"Link","href":"https://example.com/info","rel":"describedby"},
              "b":{"@type":"Link","href":"data:image/png;base64,iVBORw0K","contentType":"image/png"},
              "c":{"@type":"Link","href":"https://example.com/agenda.pdf"}}}
            """)))
        #expect(l.contains("URL:https://example.com/info"))
        #expect(l.contains("ATTACH;VALUE=BINARY;ENCODING=BASE64;FMTTYPE=image/png:iVBORw0K"))
        #expect(l.contains("ATTACH:https://example.com/agenda.pdf"))
    }

    @Test("all-day, floating and UTC times")
    func timeForms() throws {
        let allDay = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"d","start":"2026-03-10T00:00:00","timeZone":null,"showWithoutTime":true,"duration":"P3D"}
            """)))
        #expect(allDay.contains("DTSTART;VALUE=DATE:20260310") && allDay.contains("DTEND;VALUE=DATE:20260313"))
        #expect(!allDay.contains("BEGIN:VTIMEZONE"))
        let floating = lines(ICalendarWriter.event(try json(#"{"@type":"Event","uid":"f","start":"2026-04-02T08:30:00","duration":"PT45M"}"#)))
        #expect(floating.contains("DTSTART:20260402T083000"))
        let utc = lines(ICalendarWriter.event(try json(#"{"@type":"Event","uid":"u","start":"2026-01-30T16:00:00","timeZone":"Etc/UTC"}"#)))
        #expect(utc.contains("DTSTART:20260130T160000Z") && !utc.contains("BEGIN:VTIMEZONE"))
        let twoZones = lines(ICalendarWriter.event(try json("""
            {"@type":"Event","uid":"t","start":"2026-06-15T11:00:00","timeZone":"America/New_York","duration":"PT14H30M",
             "endTimeZone":"Asia/Tokyo"}
            """)))
        #expect(twoZones.contains("DTEND;TZID=Asia/Tokyo:20260616T143000"))
    }

    @Test("names become one safe path component, cut with a hash past 255 bytes")
    func components() {
        #expect(MaildirNames.component("a/b.c%", suffix: ".vcf") == "a%2Fb%2Ec%25.vcf")
        let long = MaildirNames.component(String(repeating: "é", count: 200), suffix: ".ics")
        #expect(long.utf8.count <= 255 && long.hasSuffix(".ics") && long.contains("~"))
        #expect(MaildirNames.component("", suffix: ".vcf") != ".vcf")
    }
}
