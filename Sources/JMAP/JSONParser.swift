import Foundation

/// Where and why a JSON text could not be read.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// RFC 8259 text straight into `JSONValue`. Every response of every request goes through here:
/// through `JSONDecoder`, where `JSONValue.init(from:)` can only learn a value's type by trying
/// each in turn (and every failed try builds an error with its coding path), decoding took 43% of
/// the CPU of a replay rerun at 10k messages (1.2 s user, perf). Strict like `JSONDecoder`: invalid
/// UTF-8, control characters in strings, lone surrogates, trailing bytes and nesting deeper than
/// 512 are errors. Numbers keep `JSONDecoder`'s reading, so that the catalog's stored JSON does
/// not change: an integral number that fits Int64 is `.int` (`5.0` and `1e2` too), any other `.double`.
struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var i = 0
    private var depth = 0
    private static let maxDepth = 512

    static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var p = JSONParser(bytes: raw)
            p.skipSpace()
            let v = try p.value()
            p.skipSpace()
            guard p.i == raw.count else { throw p.fail("unexpected bytes after the value") }
            return v
        }
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private mutating func value() throws -> JSONValue {
        guard let b = peek else { throw fail("unexpected end") }
        switch b {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, memcmp(bytes.baseAddress! + i, word.utf8Start, n) == 0 else { throw fail("unknown literal") }
        i += n
    }

    private mutating func nest() throws {
        depth += 1
        guard depth <= JSONParser.maxDepth else { throw fail("nested deeper than \(JSONParser.maxDepth)") }
    }

    private mutating func object() throws -> JSONValue {
        try nest()
        i += 1
        var out: [String: JSONValue] = [:]
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(out) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try string()
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            let v = try value()
            // A repeated name keeps its first value, as JSONDecoder did (RFC 8259 §4 leaves it open).
            if out[key] == nil { out[key] = v }
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"): i += 1; depth -= 1; return .object(out)
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func array() throws -> JSONValue {
        try nest()
        i += 1
        var out: [JSONValue] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(out) }
        while true {
            skipSpace()
            out.append(try value())
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"): i += 1; depth -= 1; return .array(out)
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func string() throws -> String {
        i += 1
        let start = i
        // The common case, no escape: one validated copy of the bytes. Eight bytes at a time
        // while none can end the run: a Blob/get answer is mostly base64 strings of whole
        // messages, and this loop byte by byte was 5% of a first sync's CPU.
        while i < bytes.count {
            if i + 8 <= bytes.count, !JSONParser.mayEndRun(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i += 8
                continue
            }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let s = try utf8(start, i)
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("control character in a string") }
            i += 1
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return s
            case UInt8(ascii: "\\"):
                i += 1
                guard let e = peek else { throw fail("unexpected end") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: try unicodeEscape())
                default: throw fail("unknown escape")
                }
            case 0..<0x20: throw fail("control character in a string")
            default:
                out.append(b)
                i += 1
            }
        }
        throw fail("unterminated string")
    }

    /// Whether any of eight bytes is a quote, a backslash or below 0x20 (the classic bit trick
    /// for "has a zero byte" and "has a byte less than n": exact as to whether any byte matches).
    @inline(__always)
    static func mayEndRun(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let quote = hasZero(w ^ (ones &* 0x22)), backslash = hasZero(w ^ (ones &* 0x5C))
        let control = (w &- ones &* 0x20) & ~w & highs
        return (quote | backslash | control) != 0
    }

    private func utf8(_ from: Int, _ to: Int) throws -> String {
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self) else {
            throw JSONParseError(offset: from, reason: "invalid UTF-8 in a string")
        }
        return s
    }

    /// After `\u`: four hex digits, and for a high surrogate the `\uDCxx` that must follow.
    private mutating func unicodeEscape() throws -> [UInt8] {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                throw fail("lone surrogate")
            }
            i += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw fail("lone surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw fail("lone surrogate")
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
        return Array(String(Character(u)).utf8)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("unexpected end") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func number() throws -> JSONValue {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw fail("bad number") }
        if first == UInt8(ascii: "0") { i += 1 } else { digits() }
        var integral = true
        if peek == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard digits() > 0 else { throw fail("bad number") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("bad number") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if integral, let n = Int64(text) { return .int(n) }
        guard let d = Double(text), d.isFinite else { throw JSONParseError(offset: start, reason: "number out of range") }
        if d == d.rounded(), let n = Int64(exactly: d) { return .int(n) }
        return .double(d)
    }

    @discardableResult
    private mutating func digits() -> Int {
        let start = i
        while let b = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) { i += 1 }
        return i - start
    }
}

extension JSONValue {
    /// Parses JSON text (RFC 8259).
    public static func decode(_ data: Data) throws -> JSONValue {
        try JSONParser.parse(data)
    }
}
