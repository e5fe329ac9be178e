/// The line syntax vCard (RFC 6350 §3) and iCalendar (RFC 5545 §3.1) share: `NAME;PARAM=v:value`,
/// CRLF endings, folded at 75 octets without splitting a UTF-8 sequence.
public struct ContentLines {
    public private(set) var text = ""

    public init() {}

    public struct Param {
        public var name: String
        public var values: [String]
        public init(_ name: String, _ values: String...) { self.name = name; self.values = values }
        public init(_ name: String, list: [String]) { self.name = name; self.values = list }
    }

    /// Appends one property. `value` must already be escaped as its type requires (see `text(_:)`).
    public mutating func add(_ name: String, _ value: String) { add(name, [], value) }

    public mutating func add(_ name: String, _ params: [Param], _ value: String) {
        var line = name
        for p in params where !p.values.isEmpty {
            line += ";" + p.name + "=" + p.values.map(ContentLines.paramValue).joined(separator: ",")
        }
        line += ":" + value
        text += ContentLines.fold(line)
    }

    public mutating func append(_ other: ContentLines) { text += other.text }

    public mutating func begin(_ component: String) { text += "BEGIN:\(component)\r\n" }
    public mutating func end(_ component: String) { text += "END:\(component)\r\n" }

    /// TEXT values: backslash, semicolon, comma and newline escaped (RFC 5545 §3.3.11, RFC 6350 §3.4).
    public static func text(_ s: String) -> String {
        var out = ""
        for ch in s.replacingCRLF() {
            switch ch {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }

    /// Parameter values with `:`, `;` or `,` are quoted; `"` cannot be quoted, so it becomes `'`
    /// (RFC 6868's ^-escapes would be the alternative; few readers decode them).
    /// RFC 6868: `^` is `^^`, a double quote `^'`, a newline `^n`; quoted when it holds `:;,`.
    static func paramValue(_ v: String) -> String {
        var clean = ""
        for ch in v.replacingOccurrences(of: "\r\n", with: "\n") {
            switch ch {
            case "^": clean += "^^"
            case "\"": clean += "^'"
            case "\n", "\r": clean += "^n"
            default: clean.append(ch)
            }
        }
        return clean.contains(where: { ":;,".contains($0) }) ? "\"" + clean + "\"" : clean
    }

    /// Lines longer than 75 octets continue on lines starting with a space.
    static func fold(_ line: String) -> String {
        var out = ""
        var width = 0
        for scalar in line.unicodeScalars {
            let n = String(scalar).utf8.count
            if width + n > 75 {
                out += "\r\n "
                width = 1
            }
            out.unicodeScalars.append(scalar)
            width += n
        }
        return out + "\r\n"
    }
}

extension String {
    /// CRLF and lone CR as LF, so escaping sees one kind of line break.
    func replacingCRLF() -> String {
        replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }
}
