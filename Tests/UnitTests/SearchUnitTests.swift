import Foundation
import Testing
@testable import Search

@Suite("Search: query language, tokenizer, HTML text")
struct SearchUnitTests {
    let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
    let now = Date(timeIntervalSince1970: 1_764_547_200)  // 2025-12-01T00:00:00Z

    func parse(_ s: String) throws -> Query { try Query.parse(s, now: now, calendar: utc) }
    func date(_ s: String) -> Date { ISO8601DateFormatter().date(from: s)! }

    @Test("words, phrases, prefixes and fields")
    func terms() throws {
        #expect(try parse("") == .all)
        #expect(try parse("invoice") == .text(column: nil, words: "invoice", phrase: false, prefix: false))
        #expect(try parse("invoic*") == .text(column: nil, words: "invoic", phrase: false, prefix: true))
        #expect(try parse("\"quarterly report\"") == .text(column: nil, words: "quarterly report", phrase: true, prefix: false))
        #expect(try parse("from:alice@example.com") == .text(column: "sender", words: "alice@example.com", phrase: false, prefix: false))
        #expect(try parse("to:bob") == .text(column: "recipients", words: "bob", phrase: false, prefix: false))
        #expect(try parse("subject:\"hello world\"") == .text(column: "subject", words: "hello world", phrase: true, prefix: false))
        #expect(try parse("attachment:pdf") == .text(column: "attachment", words: "pdf", phrase: false, prefix: false))
        #expect(try parse("body:x") == .text(column: "body", words: "x", phrase: false, prefix: false))
        #expect(try parse("has:attachment") == .hasAttachment)
        #expect(try parse("in:Archive/2024") == .folder("Archive/2024", children: false))
        #expect(try parse("folder:Archive/*") == .folder("Archive", children: true))
        #expect(try parse("is:unread") == .keyword("$seen", present: false))
        #expect(try parse("is:flagged") == .keyword("$flagged", present: true))
        #expect(try parse("keyword:Work") == .keyword("work", present: true))
        #expect(try parse("account:home") == .account("home"))
        #expect(try parse("deleted:yes") == .deleted(true))
        #expect(try parse("thread:T42") == .thread("T42"))
        #expect(try parse("path:Archive/2024") == .folder("Archive/2024", children: false))
        #expect(try parse("maildir:Lists/*") == .folder("Lists", children: true))
        #expect(try parse("mime:application/pdf") == .text(column: "other", words: "application/pdf", phrase: true, prefix: false))
    }

    @Test("dates in words: today, yesterday, this and last week, month, year, a month's name, an age")
    func naturalDates() throws {
        // now is Monday 2025-12-01T00:00Z; weeks follow the calendar's first weekday (Sunday for gregorian).
        #expect(try parse("date:today") == .received(from: date("2025-12-01T00:00:00Z"), to: date("2025-12-02T00:00:00Z")))
        #expect(try parse("date:yesterday") == .received(from: date("2025-11-30T00:00:00Z"), to: date("2025-12-01T00:00:00Z")))
        #expect(try parse("date:this-week") == .received(from: date("2025-11-30T00:00:00Z"), to: date("2025-12-07T00:00:00Z")))
        #expect(try parse("date:\"last week\"") == .received(from: date("2025-11-23T00:00:00Z"), to: date("2025-11-30T00:00:00Z")))
        #expect(try parse("date:last-month") == .received(from: date("2025-11-01T00:00:00Z"), to: date("2025-12-01T00:00:00Z")))
        #expect(try parse("date:this-year") == .received(from: date("2025-01-01T00:00:00Z"), to: date("2026-01-01T00:00:00Z")))
        #expect(try parse("date:lastyear") == .received(from: date("2024-01-01T00:00:00Z"), to: date("2025-01-01T00:00:00Z")))
        #expect(try parse("date:june") == .received(from: date("2025-06-01T00:00:00Z"), to: date("2025-07-01T00:00:00Z")))
        #expect(try parse("date:Mar..May") == .received(from: date("2025-03-01T00:00:00Z"), to: date("2025-06-01T00:00:00Z")))
        #expect(try parse("date:7d..") == .received(from: now.addingTimeInterval(-7 * 86400), to: nil))
        #expect(try parse("date:2024..now") == .received(from: date("2024-01-01T00:00:00Z"), to: now.addingTimeInterval(1)))
        #expect(try parse("after:yesterday") == .received(from: date("2025-12-01T00:00:00Z"), to: nil))
        #expect(throws: QueryError.self) { try parse("date:someday") }
        #expect(throws: QueryError.self) { try parse("date:ju") }
    }

    @Test("dates: years, months, days, ranges, after/before, newer/older")
    func dates() throws {
        #expect(try parse("date:2024") == .received(from: date("2024-01-01T00:00:00Z"), to: date("2025-01-01T00:00:00Z")))
        #expect(try parse("date:2024-03") == .received(from: date("2024-03-01T00:00:00Z"), to: date("2024-04-01T00:00:00Z")))
        #expect(try parse("date:2024-02-29") == .received(from: date("2024-02-29T00:00:00Z"), to: date("2024-03-01T00:00:00Z")))
        #expect(try parse("date:2019..2021") == .received(from: date("2019-01-01T00:00:00Z"), to: date("2022-01-01T00:00:00Z")))
        #expect(try parse("date:2024-01-01..2024-06-30") == .received(from: date("2024-01-01T00:00:00Z"), to: date("2024-07-01T00:00:00Z")))
        #expect(try parse("date:..2021") == .received(from: nil, to: date("2022-01-01T00:00:00Z")))
        #expect(try parse("after:2024-06") == .received(from: date("2024-07-01T00:00:00Z"), to: nil))
        #expect(try parse("before:2024-06") == .received(from: nil, to: date("2024-06-01T00:00:00Z")))
        #expect(try parse("newer:7d") == .received(from: now.addingTimeInterval(-7 * 86400), to: nil))
        #expect(try parse("older:1y") == .received(from: nil, to: now.addingTimeInterval(-365.25 * 86400)))
    }

    @Test("a message's fingerprint keeps the form indexes already store (a new form would rewrite every row once)")
    func fingerprint() {
        for (k, f, r, d) in [([String](), [String](), nil as Date?, false), (["$seen"], ["INBOX"], Date(timeIntervalSince1970: 1_700_000_000.25), false),
                             (["$flagged", "$seen", "x"], ["Archive/2024", "INBOX"], Date(timeIntervalSince1970: 12), true)] {
            let facts = IndexedFacts(sha256: "ab12", received: r, size: 3, keywords: k, folders: f, deleted: d)
            #expect(facts.fingerprint == "ab12|\(k.joined(separator: " "))|\(f.joined(separator: "\n"))|\(r?.timeIntervalSince1970 ?? 0)|\(d)")
        }
    }

    @Test("sizes")
    func sizes() throws {
        #expect(try parse("size:>1M") == .size(min: 1_000_001, max: nil))
        #expect(try parse("size:<10k") == .size(min: nil, max: 9_999))
        #expect(try parse("size:1M..5M") == .size(min: 1_000_000, max: 5_000_000))
        #expect(try parse("size:>=2MB") == .size(min: 2_000_000, max: nil))
    }

    @Test("AND is implicit, OR binds looser, NOT and - negate, parentheses group")
    func booleans() throws {
        let a = Query.text(column: nil, words: "a", phrase: false, prefix: false)
        let b = Query.text(column: nil, words: "b", phrase: false, prefix: false)
        let c = Query.text(column: nil, words: "c", phrase: false, prefix: false)
        #expect(try parse("a b") == .and([a, b]))
        #expect(try parse("a AND b") == .and([a, b]))
        #expect(try parse("a b OR c") == .or([.and([a, b]), c]))
        #expect(try parse("a (b OR c)") == .and([a, .or([b, c])]))
        #expect(try parse("NOT a") == .not(a))
        #expect(try parse("-a b") == .and([.not(a), b]))
        #expect(try parse("-is:read") == .not(.keyword("$seen", present: true)))
    }

    @Test("a malformed query names the word that is wrong")
    func errors() {
        for (q, word) in [("date:2024-13", "date:2024-13"), ("size:big", "size:big"), ("colour:red", "colour:red"), ("(a OR b", "("),
                          ("a)", ")"), ("\"open phrase", "\"open phrase"), ("is:shiny", "is:shiny"), ("a OR", "OR"),
                          ("newer:7x", "newer:7x"), ("from:", "from:")] {
            do {
                _ = try parse(q)
                Issue.record("\(q) parsed")
            } catch let e as QueryError {
                #expect(e.word == word, "\(q): \(e)")
            } catch {
                Issue.record("\(q): \(error)")
            }
        }
    }

    @Test("CJK runs become overlapping pairs; other text is left to unicode61")
    func tokenizer() {
        #expect(CJKPairs.pieces("请查收附件中的发票") == ["请查", "查收", "收附", "附件", "件中", "中的", "的发", "发票"])
        #expect(CJKPairs.pieces("发票") == ["发票"])
        #expect(CJKPairs.pieces("票") == ["票"])
        #expect(CJKPairs.pieces("abc") == ["abc"])
        #expect(CJKPairs.pieces("pdf発票x") == ["pdf", "発票", "x"])
        #expect(CJKPairs.rewrite("plain text, Über") == "plain text, Über")
        #expect(CJKPairs.pieces("스티해") == ["스티", "티해"])
    }

    @Test("text parts are decoded and converted as they are read, and reading stops at the text budget")
    func textBudget() throws {
        func message(_ first: String) -> Data {
            Data(("From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                + "--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + first
                + "\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nc2Vjb25kIHBhcnQ=\r\n--B--\r\n").utf8)
        }
        let dir = NSTemporaryDirectory() + "/jmirror-textbudget-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func both(_ data: Data) throws -> [MessageText] {
            try data.write(to: URL(fileURLWithPath: dir + "/m.eml"))
            return [try MessageText.read(data), try MessageText.read(path: dir + "/m.eml")]
        }
        for m in try both(message("caf=E9 au lait")) { #expect(m.body == "café au lait\nsecond part") }
        // 1.5 MB of text once decoded: the first megabyte is read, the second part gets nothing.
        let line = String(repeating: "caf=E9 ", count: 10) + "\r\n"
        for m in try both(message(String(repeating: line, count: 25_000))) {
            #expect(m.body.utf8.count <= MessageText.textBudget && m.body.utf8.count > MessageText.textBudget - 8)
            #expect(m.body.hasPrefix(String(repeating: String(repeating: "café ", count: 10) + "\r\n", count: 100)))
            #expect(!m.body.contains("second part"))
        }
    }

    @Test("HTML as text: tags, scripts, styles, comments out; entities decoded; blocks on lines")
    func html() {
        let html = "<html><head><style>p {color: red}</style><script>var x = '<b>';</script></head><body><!-- hidden <p> -->"
            + "<p>Caf&eacute; &amp; cr&#232;me</p><div>second&nbsp;line &#x263A;</div>a<b>b</b>c</body></html>"
        #expect(HTMLText.text(html) == "Café & crème\n\nsecond line ☺\nabc")
        #expect(HTMLText.text("<table><tr><td>a</td><td>b</td></tr></table>") == "a b")
    }

    @Test("FTS5 expressions quote what the user typed")
    func fts() {
        #expect(Query.fts(nil, "a\"b", phrase: false, prefix: false) == "\"a\"\"b\"")
        #expect(Query.fts("sender", "alice", phrase: false, prefix: true) == "sender : \"alice\" *")
    }

    /// An empty index in a directory of its own (the caller removes the directory).
    func temporaryIndex() throws -> (SearchIndex, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try SearchIndex(path: dir + "/search.sqlite"), dir)
    }

    @Test("an index finds by words, accents, CJK, fields and facts")
    func index() throws {
        let (index, dir) = try temporaryIndex()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try index.db.write { db in
            let docs: [(String, String, String, String, String)] = [
                ("m1", "Über die Rechnung", "Jürgen <j@example.de>", "Die Rechnung für März", " $seen "),
                ("m2", "请查收", "李 <li@example.cn>", "请查收附件中的发票", " "),
                ("m3", "Quarterly report", "Alice <alice@example.com>", "numbers attached", " $flagged $seen "),
            ]
            for (i, d) in docs.enumerated() {
                try db.execute(sql: """
                    INSERT INTO doc(id, account, email_id, sha256, thread_id, received, size, keywords, folders, subject, sender,
                        has_attachment, fingerprint)
                    VALUES (?, 'a', ?, 'x', ?, ?, 100, ?, ?, ?, ?, 0, '')
                    """, arguments: [i + 1, d.0, i == 1 ? "T1" : "T0", 1_700_000_000 + Double(i), d.4,
                                     i == 2 ? "\nArchive/2024\n" : "\nINBOX\n", d.1, d.2])
                try SearchIndex.insertText(db, rowid: Int64(i + 1), [d.1, d.2, "", d.3, "", i == 2 ? "application/pdf" : "text/plain"])
            }
        }
        func ids(_ q: String) throws -> [String] { try index.search(try Query.parse(q)).map(\.id).sorted() }
        #expect(try ids("uber") == ["m1"])
        #expect(try ids("marz") == ["m1"])
        #expect(try ids("发票") == ["m2"])
        #expect(try ids("附件") == ["m2"])
        #expect(try ids("from:alice") == ["m3"])
        #expect(try ids("from:example.com") == ["m3"])
        #expect(try ids("is:unread") == ["m2"])
        #expect(try ids("in:archive/*") == ["m3"])
        #expect(try ids("in:inbox -is:read") == ["m2"])
        #expect(try ids("report OR rechnung") == ["m1", "m3"])
        #expect(try ids("\"quarterly report\" is:flagged") == ["m3"])
        #expect(try ids("quart*") == ["m3"])
        #expect(try ids("") == ["m1", "m2", "m3"])
        #expect(try ids("thread:T0") == ["m1", "m3"])
        #expect(try ids("mime:application/pdf") == ["m3"])
        #expect(try ids("mime:pdf") == ["m3"])
        #expect(try ids("path:INBOX") == ["m1", "m2"])
        // Ranked too: a message's title is its subject in the ranking expression as in the match.
        var ranked = SearchOptions()
        ranked.sort = .relevance
        #expect(try index.search(try Query.parse("title:report OR rechnung"), options: ranked).map(\.id).sorted() == ["m1", "m3"])
    }

    @Test("results come newest or oldest first, ties by index order, undated last or first; a limit takes the first ones")
    func ordering() throws {
        let (index, dir) = try temporaryIndex()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var generator = SystemRandomNumberGenerator()
        // 3,000 messages: dates with ties and some missing, every third deleted, a word in every other.
        var expected: [(id: Int, received: Double?, word: Bool, deleted: Bool)] = []
        try index.db.write { db in
            for i in 1...3_000 {
                let received: Double? = i % 97 == 0 ? nil : Double(Int.random(in: 0..<500, using: &generator))
                expected.append((i, received, i % 2 == 0, i % 3 == 0))
                try db.execute(sql: """
                    INSERT INTO doc(id, account, email_id, sha256, received, size, keywords, folders, subject, sender,
                        has_attachment, deleted, fingerprint)
                    VALUES (?, 'a', ?, 'x', ?, 1, ' ', '\nINBOX\n', '', '', 0, ?, '')
                    """, arguments: [i, "m\(i)", received, i % 3 == 0 ? 1 : 0])
                try SearchIndex.insertText(db, rowid: Int64(i), [i % 2 == 0 ? "invoice" : "other", "", "", "", "", ""])
            }
        }
        for sort in [SearchSort.newest, .oldest] {
            // Common words are tested message by message along the date index when a page is asked
            // for, and read whole when the newest messages hold too few matches ("invoice -invoice").
            typealias Doc = (id: Int, received: Double?, word: Bool, deleted: Bool)
            let cases: [(String, (Doc) -> Bool)] = [
                ("invoice", { $0.word }), ("", { _ in true }), ("other -invoice", { !$0.word }),
                ("invoice -invoice", { _ in false }), ("invoice OR other", { _ in true }), ("-invoice", { !$0.word }),
            ]
            for (q, match) in cases {
                for history in [false, true] {
                    let all = expected.filter { match($0) && (history || !$0.deleted) }.sorted { a, b in
                        let (x, y) = (a.received ?? -1, b.received ?? -1)
                        return x != y ? (x > y) == (sort == .newest) : (a.id > b.id) == (sort == .newest)
                    }.map { "m\($0.id)" }
                    for limit in [nil, 1, 20, 1_000, 1_001, 5_000] as [Int?] {
                        var options = SearchOptions()
                        options.sort = sort
                        options.limit = limit
                        options.history = history
                        let got = try index.search(try Query.parse(q), options: options).map(\.id)
                        #expect(got == Array(all.prefix(limit ?? all.count)), "\(q) \(sort) limit \(limit as Any) history \(history)")
                        // Handed over in chunks as read (what the CLI prints from): the same, in the same order.
                        var streamed: [String] = [], chunks = 0
                        try index.search(try Query.parse(q), options: options) { chunks += 1; streamed += $0.map(\.id) }
                        #expect(streamed == got && chunks == (got.count + 1_999) / 2_000)
                    }
                }
            }
        }
    }
    @Test("relevance: every match ranked in one pass, more occurrences first, ties newest first; matches without a ranked word last")
    func relevance() throws {
        let (index, dir) = try temporaryIndex()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 400 bodies of ten words, "invoice" 0-4 times: at equal length bm25 orders by that count.
        var docs: [(id: Int, count: Int, received: Double)] = []
        try index.db.write { db in
            for i in 1...400 {
                let count = (i * 7) % 5, received = Double(i % 37)
                docs.append((i, count, received))
                try db.execute(sql: """
                    INSERT INTO doc(id, account, email_id, sha256, received, size, keywords, folders, subject, sender,
                        has_attachment, deleted, fingerprint)
                    VALUES (?, 'a', ?, 'x', ?, 1, ' ', '\nINBOX\n', '', '', 0, 0, '')
                    """, arguments: [i, "m\(i)", received])
                let body = (Array(repeating: "invoice", count: count) + Array(repeating: "filler", count: 10 - count)).joined(separator: " ")
                try SearchIndex.insertText(db, rowid: Int64(i), ["", "", "", body, "", ""])
            }
        }
        func newestFirst(_ a: (id: Int, count: Int, received: Double), _ b: (id: Int, count: Int, received: Double)) -> Bool {
            a.received != b.received ? a.received > b.received : a.id > b.id
        }
        let ranked = docs.filter { $0.count > 0 }.sorted { a, b in a.count != b.count ? a.count > b.count : newestFirst(a, b) }
        let unranked = docs.filter { $0.count == 0 }.sorted(by: newestFirst)
        for (q, all) in [("invoice", ranked), ("invoice OR is:unread", ranked + unranked)] {
            for limit in [nil, 1, 20, 100] as [Int?] {
                var options = SearchOptions()
                options.sort = .relevance
                options.limit = limit
                let got = try index.search(try Query.parse(q), options: options).map(\.id)
                #expect(got == all.prefix(limit ?? all.count).map { "m\($0.id)" }, "\(q) limit \(limit as Any)")
            }
        }
    }
}
