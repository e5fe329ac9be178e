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
