import Foundation

/// A query that cannot be read, pointing at the word that is wrong.
public struct QueryError: Error, CustomStringConvertible, Sendable, Equatable {
    public var word: String
    public var reason: String
    public var description: String { "in the query, at \"\(word)\": \(reason)" }
}

/// The search language: notmuch's and Gmail's words (see `jmirror search --help`), parsed into a tree.
public indirect enum Query: Equatable, Sendable {
    /// Text in a column of the index (nil: any), as FTS5 words or a phrase; `prefix` for `word*`.
    case text(column: String?, words: String, phrase: Bool, prefix: Bool)
    case folder(String, children: Bool)
    case keyword(String, present: Bool)
    case received(from: Date?, to: Date?)
    case size(min: Int64?, max: Int64?)
    case account(String)
    case thread(String)
    case hasAttachment
    case deleted(Bool)
    case and([Query])
    case or([Query])
    case not(Query)
    /// Matches everything (an empty query).
    case all

    /// Parses `text`; relative dates (`newer:7d`) count from `now`, in `calendar`'s time zone.
    public static func parse(_ text: String, now: Date = Date(), calendar: Calendar = .current) throws -> Query {
        var p = QueryParser(tokens: try QueryLexer.tokens(text), now: now, calendar: calendar)
        if p.tokens.isEmpty { return .all }
        let q = try p.parseOr()
        if p.index < p.tokens.count { throw QueryError(word: p.tokens[p.index].text, reason: "unexpected here (an unbalanced parenthesis?)") }
        return q
    }
}

struct QueryToken: Equatable {
    enum Kind { case word, phrase, open, close }
    var kind: Kind
    var text: String
}

enum QueryLexer {
    static func tokens(_ text: String) throws -> [QueryToken] {
        var out: [QueryToken] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c.isWhitespace { i = text.index(after: i); continue }
            if c == "(" || c == ")" {
                out.append(QueryToken(kind: c == "(" ? .open : .close, text: String(c)))
                i = text.index(after: i)
                continue
            }
            if c == "\"" {
                guard let end = text[text.index(after: i)...].firstIndex(of: "\"") else {
                    throw QueryError(word: String(text[i...]), reason: "the phrase has no closing quote")
                }
                out.append(QueryToken(kind: .phrase, text: String(text[text.index(after: i)..<end])))
                i = text.index(after: end)
                continue
            }
            // A word runs to the next space or parenthesis; `field:"a phrase"` keeps its quotes.
            var j = i
            var word = ""
            while j < text.endIndex, !text[j].isWhitespace, text[j] != "(", text[j] != ")" {
                if text[j] == "\"", word.hasSuffix(":") {
                    guard let end = text[text.index(after: j)...].firstIndex(of: "\"") else {
                        throw QueryError(word: String(text[i...]), reason: "the phrase has no closing quote")
                    }
                    word += String(text[j...end])
                    j = text.index(after: end)
                    continue
                }
                word.append(text[j])
                j = text.index(after: j)
            }
            out.append(QueryToken(kind: .word, text: word))
            i = j
        }
        return out
    }
}

struct QueryParser {
    let tokens: [QueryToken]
    var index = 0
    let now: Date
    let calendar: Calendar

    init(tokens: [QueryToken], now: Date, calendar: Calendar) {
        self.tokens = tokens
        self.now = now
        self.calendar = calendar
    }

    mutating func parseOr() throws -> Query {
        var parts = [try parseAnd()]
        while index < tokens.count, tokens[index] == QueryToken(kind: .word, text: "OR") {
            index += 1
            guard index < tokens.count else { throw QueryError(word: "OR", reason: "nothing follows it") }
            parts.append(try parseAnd())
        }
        return parts.count == 1 ? parts[0] : .or(parts)
    }

    mutating func parseAnd() throws -> Query {
        var parts = [try parseNot()]
        while index < tokens.count, tokens[index].kind != .close, tokens[index] != QueryToken(kind: .word, text: "OR") {
            if tokens[index] == QueryToken(kind: .word, text: "AND") {
                index += 1
                guard index < tokens.count else { throw QueryError(word: "AND", reason: "nothing follows it") }
            }
            parts.append(try parseNot())
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    mutating func parseNot() throws -> Query {
        guard index < tokens.count else { throw QueryError(word: tokens.last?.text ?? "", reason: "the query ends too early") }
        let t = tokens[index]
        if t == QueryToken(kind: .word, text: "NOT") {
            index += 1
            return .not(try parseNot())
        }
        if t.kind == .word, t.text.hasPrefix("-"), t.text.count > 1 {
            index += 1
            return .not(try term(QueryToken(kind: .word, text: String(t.text.dropFirst()))))
        }
        if t.kind == .open {
            index += 1
            let inner = try parseOr()
            guard index < tokens.count, tokens[index].kind == .close else { throw QueryError(word: "(", reason: "no closing parenthesis") }
            index += 1
            return inner
        }
        if t.kind == .close { throw QueryError(word: ")", reason: "no opening parenthesis") }
        index += 1
        return try term(t)
    }

    func term(_ t: QueryToken) throws -> Query {
        if t.kind == .phrase { return .text(column: nil, words: t.text, phrase: true, prefix: false) }
        guard let colon = t.text.firstIndex(of: ":"), colon != t.text.startIndex else { return textTerm(nil, t.text) }
        let field = t.text[..<colon].lowercased()
        var value = String(t.text[t.text.index(after: colon)...])
        guard !value.isEmpty else { throw QueryError(word: t.text, reason: "\(field): needs a value") }
        let quoted = value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2
        if quoted { value = String(value.dropFirst().dropLast()) }
        switch field {
        case "from": return textTerm("sender", value, phrase: quoted)
        case "to": return textTerm("recipients", value, phrase: quoted)
        case "subject": return textTerm("subject", value, phrase: quoted)
        case "body": return textTerm("body", value, phrase: quoted)
        case "attachment": return textTerm("attachment", value, phrase: quoted)
        case "title", "name": return textTerm("title", value, phrase: quoted)
        // A part's type (`mime:application/pdf`, `mime:image`), kept among the other words.
        case "mime": return textTerm("other", value, phrase: true)
        case "thread": return .thread(value)
        case "in", "folder", "path", "maildir":
            if value.hasSuffix("/*") { return .folder(String(value.dropLast(2)), children: true) }
            return .folder(value, children: false)
        case "is":
            switch value.lowercased() {
            case "unread": return .keyword("$seen", present: false)
            case "read", "seen": return .keyword("$seen", present: true)
            case "flagged", "starred": return .keyword("$flagged", present: true)
            case "answered", "replied": return .keyword("$answered", present: true)
            case "draft": return .keyword("$draft", present: true)
            case "forwarded": return .keyword("$forwarded", present: true)
            default: throw QueryError(word: t.text, reason: "is: takes unread, read, flagged, answered, draft or forwarded")
            }
        case "keyword", "tag": return .keyword(value.lowercased(), present: true)
        case "has":
            guard value.lowercased() == "attachment" else { throw QueryError(word: t.text, reason: "has: takes attachment") }
            return .hasAttachment
        case "account": return .account(value)
        case "deleted":
            switch value.lowercased() {
            case "yes", "true": return .deleted(true)
            case "no", "false": return .deleted(false)
            default: throw QueryError(word: t.text, reason: "deleted: takes yes or no")
            }
        case "date":
            let (from, to) = try dateRange(value, word: t.text)
            return .received(from: from, to: to)
        case "after": return .received(from: try datePeriod(value, word: t.text).upperBound, to: nil)
        case "before": return .received(from: nil, to: try datePeriod(value, word: t.text).lowerBound)
        case "since": return .received(from: try datePeriod(value, word: t.text).lowerBound, to: nil)
        case "newer": return .received(from: now.addingTimeInterval(-(try age(value, word: t.text))), to: nil)
        case "older": return .received(from: nil, to: now.addingTimeInterval(-(try age(value, word: t.text))))
        case "size": return try size(value, word: t.text)
        default:
            throw QueryError(word: t.text, reason: "unknown field \(field): (known: from, to, subject, body, attachment, mime, in, folder, "
                + "path, is, keyword, has, thread, date, after, before, newer, older, size, account, deleted; name and title for contacts and events)")
        }
    }

    func textTerm(_ column: String?, _ value: String, phrase: Bool = false) -> Query {
        if value.hasSuffix("*") && !phrase && value.count > 1 {
            return .text(column: column, words: String(value.dropLast()), phrase: false, prefix: true)
        }
        return .text(column: column, words: value, phrase: phrase, prefix: false)
    }

    /// `2024`, `2024-03`, `2024-03-05`: the whole year, month or day, local time; also the words
    /// notmuch and mu users type (`today`, `yesterday`, `this-week`, `last-month`, `june`, `now`)
    /// and an age (`7d`: from seven days ago until now).
    func datePeriod(_ text: String, word: String) throws -> Range<Date> {
        if let natural = try naturalPeriod(text.lowercased(), word: word) { return natural }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ $0 != nil }), let year = parts[0], (1000...9999).contains(year) else {
            throw QueryError(word: word, reason: "a date is written 2024, 2024-03, 2024-03-05, today, yesterday, "
                + "this-week, last-month, this-year, june or 7d")
        }
        var c = DateComponents(year: year, month: parts.count > 1 ? parts[1] : 1, day: parts.count > 2 ? parts[2] : 1)
        guard (1...12).contains(c.month ?? 0), (1...31).contains(c.day ?? 0), let start = calendar.date(from: c) else {
            throw QueryError(word: word, reason: "no such date")
        }
        c = DateComponents()
        switch parts.count {
        case 1: c.year = 1
        case 2: c.month = 1
        default: c.day = 1
        }
        guard let end = calendar.date(byAdding: c, to: start) else { throw QueryError(word: word, reason: "no such date") }
        return start..<end
    }

    /// `2024`, `2019..2021` (inclusive), `2024-01-01..2024-06-30`, `..2021`, `2019..`.
    func dateRange(_ text: String, word: String) throws -> (Date?, Date?) {
        guard let dots = text.range(of: "..") else {
            let p = try datePeriod(text, word: word)
            return (p.lowerBound, p.upperBound)
        }
        let a = String(text[..<dots.lowerBound]), b = String(text[dots.upperBound...])
        return (a.isEmpty ? nil : try datePeriod(a, word: word).lowerBound, b.isEmpty ? nil : try datePeriod(b, word: word).upperBound)
    }

    private static let months = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                                 "october", "november", "december"]

    func naturalPeriod(_ text: String, word: String) throws -> Range<Date>? {
        let words = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == "_" }).joined(separator: " ")
        func period(_ unit: Calendar.Component, back: Int) throws -> Range<Date> {
            guard let current = calendar.dateInterval(of: unit, for: now),
                  let start = calendar.date(byAdding: unit, value: -back, to: current.start),
                  let end = calendar.date(byAdding: unit, value: 1, to: start) else { throw QueryError(word: word, reason: "no such date") }
            return start..<end
        }
        switch words {
        case "now": return now..<now.addingTimeInterval(1)
        case "today": return try period(.day, back: 0)
        case "yesterday": return try period(.day, back: 1)
        case "this week", "thisweek": return try period(.weekOfYear, back: 0)
        case "last week", "lastweek": return try period(.weekOfYear, back: 1)
        case "this month", "thismonth": return try period(.month, back: 0)
        case "last month", "lastmonth": return try period(.month, back: 1)
        case "this year", "thisyear": return try period(.year, back: 0)
        case "last year", "lastyear": return try period(.year, back: 1)
        default: break
        }
        // A month by name (or its first three letters): that month of this year.
        if words.count >= 3, let m = Self.months.firstIndex(where: { $0 == words || (words.count == 3 && $0.hasPrefix(words)) }) {
            let year = calendar.component(.year, from: now)
            guard let start = calendar.date(from: DateComponents(year: year, month: m + 1, day: 1)),
                  let end = calendar.date(byAdding: .month, value: 1, to: start) else { throw QueryError(word: word, reason: "no such date") }
            return start..<end
        }
        if let last = words.last, "hdwmy".contains(last), Double(words.dropLast()) != nil {
            return now.addingTimeInterval(-(try age(words, word: word)))..<now
        }
        return nil
    }

    /// `7d`, `2w`, `3m`, `1y`, `12h`.
    func age(_ text: String, word: String) throws -> TimeInterval {
        guard let unit = text.last, let n = Double(text.dropLast()), n >= 0 else {
            throw QueryError(word: word, reason: "an age is written like 7d, 2w, 3m, 1y or 12h")
        }
        switch unit {
        case "h": return n * 3600
        case "d": return n * 86400
        case "w": return n * 7 * 86400
        case "m": return n * 30.44 * 86400
        case "y": return n * 365.25 * 86400
        default: throw QueryError(word: word, reason: "an age is written like 7d, 2w, 3m, 1y or 12h")
        }
    }

    /// `>1M`, `<10k`, `>=2M`, `1M..5M`, `5000`.
    func size(_ text: String, word: String) throws -> Query {
        func bytes(_ s: Substring) throws -> Int64 {
            var s = s.trimmingCharacters(in: .whitespaces).uppercased()
            var factor: Int64 = 1
            if s.hasSuffix("B") { s.removeLast() }
            switch s.last {
            case "K": factor = 1_000; s.removeLast()
            case "M": factor = 1_000_000; s.removeLast()
            case "G": factor = 1_000_000_000; s.removeLast()
            default: break
            }
            guard let n = Double(s), n >= 0 else { throw QueryError(word: word, reason: "a size is written like >1M, <10k or 1M..5M") }
            return Int64(n * Double(factor))
        }
        if let dots = text.range(of: "..") {
            let a = text[..<dots.lowerBound], b = text[dots.upperBound...]
            return .size(min: a.isEmpty ? nil : try bytes(a), max: b.isEmpty ? nil : try bytes(b))
        }
        if text.hasPrefix(">=") { return .size(min: try bytes(text.dropFirst(2)), max: nil) }
        if text.hasPrefix("<=") { return .size(min: nil, max: try bytes(text.dropFirst(2))) }
        if text.hasPrefix(">") { return .size(min: try bytes(text.dropFirst()) + 1, max: nil) }
        if text.hasPrefix("<") { return .size(min: nil, max: try bytes(text.dropFirst()) - 1) }
        let n = try bytes(text[...])
        return .size(min: n, max: n)
    }
}
