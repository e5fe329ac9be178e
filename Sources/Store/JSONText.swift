import Foundation

/// The small JSON texts the catalog stores for every row (keyword and mailbox sets, blob maps),
/// written by hand: JSONEncoder cost more per row than the SQL did. The output is byte for byte
/// what JSONEncoder writes (sorted, `/` escaped), so rows written either way compare equal
/// (`JSONTextTests` checks it).
enum JSONText {
    static func string(_ s: String, into out: inout String) {
        out.append("\"")
        for u in s.unicodeScalars {
            switch u {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "/": out.append("\\/")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case "\u{08}": out.append("\\b")
            case "\u{0C}": out.append("\\f")
            default:
                if u.value < 0x20 {
                    out.append(String(format: "\\u%04x", u.value))
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out.append("\"")
    }

    static func array(_ values: [String]) -> String {
        var out = "["
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(",") }
            string(v, into: &out)
        }
        return out + "]"
    }

    static func object(_ m: [String: String]) -> String {
        var out = "{"
        for (i, k) in m.keys.sorted().enumerated() {
            if i > 0 { out.append(",") }
            string(k, into: &out)
            out.append(":")
            string(m[k] ?? "", into: &out)
        }
        return out + "}"
    }
}

extension String {
    /// Whether this string sorts before `other` byte by byte in UTF-8, as SQLite's BINARY
    /// collation orders them: what walks over two cursors in id order compare with. (The generic
    /// `utf8.lexicographicallyPrecedes` was an eighth of a walk over 100k messages.)
    public func precedesInBytes(_ other: String) -> Bool {
        var a = self, b = other
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = Swift.min(x.count, y.count)
                let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                return c < 0 || (c == 0 && x.count < y.count)
            }
        }
    }
}
