import Foundation
import JMAP
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    static let suite = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/JSONTestSuite")

    static func cases(_ prefix: String) throws -> [(String, Data)] {
        try FileManager.default.contentsOfDirectory(atPath: suite.path).filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
            .map { ($0, try Data(contentsOf: suite.appendingPathComponent($0))) }
    }

    /// What the Codable path (`JSONDecoder` through `JSONValue.init(from:)`) made of the same text,
    /// which is what the catalog holds from before.
    static func viaDecoder(_ d: Data) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: d) }

    @Test("JSONTestSuite: every y_ text is read, and read as JSONDecoder reads it")
    func accepted() throws {
        let cases = try JSONParserTests.cases("y_")
        #expect(cases.count == 95)
        for (name, data) in cases {
            let v = try? JSONValue.decode(data)
            #expect(v != nil, "\(name)")
            if let old = JSONParserTests.viaDecoder(data) { #expect(v == old, "\(name)") }
        }
    }

    @Test("JSONTestSuite: every n_ text is refused, with the offset of the fault")
    func refused() throws {
        let cases = try JSONParserTests.cases("n_")
        #expect(cases.count == 188)
        for (name, data) in cases {
            #expect(throws: JSONParseError.self, "\(name)") { try JSONValue.decode(data) }
        }
        let e = #expect(throws: JSONParseError.self) { try JSONValue.decode(Data(#"{"a": [1, 2,]}"#.utf8)) }
        #expect(e?.offset == 12)
    }

    @Test("JSONTestSuite: i_ texts (either way by the RFC) never crash, and agree with JSONDecoder where both read them")
    func implementationDefined() throws {
        for (name, data) in try JSONParserTests.cases("i_") {
            if let v = try? JSONValue.decode(data), let old = JSONParserTests.viaDecoder(data) { #expect(v == old, "\(name)") }
        }
    }

    @Test("numbers as JSONDecoder read them: integral values fitting Int64 are .int, the rest .double")
    func numbers() throws {
        for text in ["0", "-0", "5", "5.0", "1e2", "-1E+2", "1.5", "-0.25", "9223372036854775807", "-9223372036854775808",
                     "9223372036854775808", "12345678901234567890", "1e300", "1.7976931348623157e308", "4.9e-324", "0.1", "1e-7"] {
            let d = Data(text.utf8)
            #expect(try JSONValue.decode(d) == JSONParserTests.viaDecoder(d), "\(text)")
        }
        #expect(try JSONValue.decode(Data("5.0".utf8)) == .int(5))
        #expect(try JSONValue.decode(Data("1.5".utf8)) == .double(1.5))
        #expect(throws: JSONParseError.self) { try JSONValue.decode(Data("1e400".utf8)) }
    }

    @Test("long strings, read eight bytes at a time: an escape, a control character or the end at every offset")
    func longStrings() throws {
        let body = String(repeating: "QUJDRA+/", count: 4)  // base64-like, no byte that ends a run
        for at in 0...body.utf8.count {
            let head = String(body.prefix(at)), tail = String(body.dropFirst(at))
            for (insert, expected) in [(#"\""#, "\""), (#"\\"#, "\\"), (#"\n"#, "\n"), (#"\u00e9"#, "é"), ("é", "é"), ("\u{7F}", "\u{7F}"), ("", "")] {
                let text = "[\"" + head + insert + tail + "\"]"
                #expect(try JSONValue.decode(Data(text.utf8)) == .array([.string(head + expected + tail)]), "\(text)")
                #expect(try JSONValue.decode(Data(text.utf8)) == JSONParserTests.viaDecoder(Data(text.utf8)))
            }
            for control: UInt8 in [0x00, 0x01, 0x0A, 0x1F] {
                var raw = Array(("[\"" + head).utf8)
                raw.append(control)
                raw += Array((tail + "\"]").utf8)
                let e = #expect(throws: JSONParseError.self) { try JSONValue.decode(Data(raw)) }
                #expect(e?.offset == 2 + at)
            }
            // Unterminated at every length.
            #expect(throws: JSONParseError.self) { try JSONValue.decode(Data(("[\"" + head).utf8)) }
        }
    }

    @Test("strings: escapes, surrogate pairs, and the catalog's own encoding read back unchanged")
    func strings() throws {
        #expect(try JSONValue.decode(Data(#""a\"b\\c\/d\b\f\n\r\t\u00e9\u65e5\ud83c\udf89""#.utf8)) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té日🎉"))
        for bad in [#""\ud83c""#, #""\udf89x""#, "\"a\u{01}\"", #""\x""#, "\"abc"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.decode(Data(bad.utf8)) }
        }
        #expect(throws: JSONParseError.self) { try JSONValue.decode(Data([0x22, 0xC3, 0x28, 0x22])) }
        let value: JSONValue = ["s": .strings(["$seen", "quote\"d", "ctl\u{01}\u{1f}", "Über", "日本語", "🎉", ""]),
                                "n": [1, -2, .double(0.5), .null, true, false], "o": ["": [:], "x": []]]
        #expect(try JSONValue.decode(value.encoded()) == value)
    }

    @Test("a recorded Cyrus event decodes as through JSONDecoder")
    func recorded() throws {
        for name in ["cyrus-3.10-event.json", "cyrus-3.10-session.json"] {
            let data = try Data(contentsOf: JSONParserTests.suite.deletingLastPathComponent().appendingPathComponent(name))
            #expect(try JSONValue.decode(data) == JSONParserTests.viaDecoder(data))
        }
    }
}
