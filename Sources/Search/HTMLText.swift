import Foundation

/// The readable text of an HTML part, for the index and `show --text`: scripts, styles and
/// comments dropped, block elements turned into line breaks, tags removed, entities decoded.
/// Not a renderer: enough for words to be found where people read them.
public enum HTMLText {
    public static func text(_ html: String) -> String {
        var out = ""
        out.reserveCapacity(html.utf8.count / 2)
        var i = html.startIndex
        while i < html.endIndex {
            let c = html[i]
            if c == "<" {
                if html[i...].hasPrefix("<!--") {
                    i = html.range(of: "-->", range: i..<html.endIndex)?.upperBound ?? html.endIndex
                    continue
                }
                guard let close = html[i...].firstIndex(of: ">") else { break }
                let tag = html[html.index(after: i)..<close].lowercased()
                i = html.index(after: close)
                let name = tag.prefix { $0.isLetter || $0.isNumber }
                if name == "script" || name == "style" {
                    if let end = html.range(of: "</\(name)", options: .caseInsensitive, range: i..<html.endIndex),
                       let gt = html[end.upperBound...].firstIndex(of: ">") {
                        i = html.index(after: gt)
                    } else {
                        i = html.endIndex
                    }
                    continue
                }
                let bare = tag.hasPrefix("/") ? String(tag.dropFirst().prefix { $0.isLetter || $0.isNumber }) : String(name)
                if ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "hr"].contains(bare) {
                    out.append("\n")
                } else if ["td", "th", "img", "input", "option"].contains(bare) {
                    out.append(" ")
                }
                // Inline elements (b, i, span, a, font …) break no word: <b>Rech</b>nung is one.
                continue
            }
            if c == "&", let semi = html[i...].prefix(12).firstIndex(of: ";") {
                let entity = String(html[html.index(after: i)..<semi])
                if let decoded = decode(entity) {
                    out.append(decoded)
                    i = html.index(after: semi)
                    continue
                }
            }
            out.append(c)
            i = html.index(after: i)
        }
        // Collapse the runs of spaces that tags leave.
        return out.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            .joined(separator: "\n")
            .replacingOccurrences(of: "\n\n\n", with: "\n\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "copy": "©", "reg": "®", "euro": "€",
        "hellip": "…", "mdash": "—", "ndash": "–", "laquo": "«", "raquo": "»", "uuml": "ü", "ouml": "ö", "auml": "ä",
        "Uuml": "Ü", "Ouml": "Ö", "Auml": "Ä", "szlig": "ß", "eacute": "é", "egrave": "è", "agrave": "à", "ccedil": "ç",
        "rsquo": "’", "lsquo": "‘", "rdquo": "”", "ldquo": "“", "bull": "•", "middot": "·", "shy": "",
    ]

    static func decode(_ entity: String) -> String? {
        if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
            return UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
        }
        if entity.hasPrefix("#") {
            return UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
        }
        return named[entity]
    }
}
