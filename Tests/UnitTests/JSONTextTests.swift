import Foundation
@testable import Store
import Testing

@Suite("Catalog JSON texts")
struct JSONTextTests {
    static let tricky = ["$seen", "a/b", "quote\"d", "back\\slash", "tab\there", "nl\nx", "ctl\u{01}\u{1f}", "bs\u{08}ff\u{0C}",
                         "Über", "日本語", "emoji 🎉", "", "cr\r"]

    @Test("sets and maps are written exactly as JSONEncoder writes them (sorted keys)")
    func sameAsJSONEncoder() throws {
        let set = Set(JSONTextTests.tricky)
        #expect(Catalog.encodeSet(set) == String(decoding: try JSONEncoder().encode(set.sorted()), as: UTF8.self))
        let map = Dictionary(uniqueKeysWithValues: JSONTextTests.tricky.enumerated().map { ($1, JSONTextTests.tricky[($0 + 1) % JSONTextTests.tricky.count]) })
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        #expect(Catalog.encodeMap(map) == String(decoding: try e.encode(map), as: UTF8.self))
        #expect(Catalog.decodeSet(Catalog.encodeSet(set)) == set && Catalog.decodeMap(Catalog.encodeMap(map)) == map)
        #expect(Catalog.encodeSet([]) == "[]" && Catalog.encodeMap([:]) == "{}")
        let plain = ["Gabc": "e3b0c442", "Über": "日本語", "": "x", "k": ""]
        #expect(Catalog.decodeMap(Catalog.encodeMap(plain)) == plain && Catalog.decodeMap("{}") == [:])
        #expect(Catalog.decodeMap(#"{"a":"b","a":"c"}"#) == ["a": "b"] && Catalog.decodeMap(#"{"a" "b"}"#).isEmpty)
    }

    @Test("ids compare byte by byte, as SQLite orders them, not as Swift's String does")
    func byteOrder() {
        #expect("a".precedesInBytes("b") && "a".precedesInBytes("ab") && "".precedesInBytes("a") && "Z".precedesInBytes("a"))
        #expect(!"b".precedesInBytes("a") && !"ab".precedesInBytes("ab") && !"a".precedesInBytes(""))
        // Equal to Swift, different in bytes: a decomposed é (65 CC 81) sorts before the precomposed one (C3 A9).
        #expect("e\u{301}".precedesInBytes("é") && !"é".precedesInBytes("e\u{301}"))
        let ids = ["Mb", "M_a", "M-a", "Ma", "M0", "m", "é"]
        #expect(ids.sorted { $0.precedesInBytes($1) } == ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    @Test("a stored keyword set reads back as its sorted list, by the plain path and by the decoder")
    func sortedList() {
        for words in [[], [""], ["$seen"], ["$flagged", "$seen", "a,b", "x\",\"y"], JSONTextTests.tricky] {
            #expect(Catalog.decodeSortedList(Catalog.encodeSet(Set(words))) == Set(words).sorted(), "\(words)")
        }
    }
}
