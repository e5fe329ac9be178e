import Digest
import Foundation

/// Maildir++ naming, as the project's layout contract fixes it (folders as Dovecot names them,
/// vdir components with `%XX`). Pure functions: no I/O.
public enum MaildirNames {
    /// For vdir file names: `%`, `.`, `/` and control characters become `%XX` (uppercase hex of
    /// their UTF-8 bytes); everything else stays UTF-8. Never `.`/`..`, never a separator.
    public static func escape(_ name: String) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            let v = scalar.value
            if scalar == "%" || scalar == "." || scalar == "/" || v < 0x20 || v == 0x7f || (0x80...0x9f).contains(v)
                || v == 0x2028 || v == 0x2029 {
                for byte in String(scalar).utf8 { out += "%" + hex2(byte) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// One mailbox name as Dovecot stores it with its default settings: first its listescape
    /// escaping (`\`, `.`, `/`, and a `~` at the start, become `\` and two lower-case hex digits),
    /// then IMAP modified UTF-7 (RFC 3501 §5.1.3). The result is printable ASCII without `/`, so
    /// it can never leave `mail/`, and it is what Dovecot, Courier and mbsync look for.
    public static func folderName(_ name: String) -> String {
        guard !name.isEmpty else { return "\\00" }  // JMAP forbids it; never let it be `.` itself
        var escaped = ""
        for (i, scalar) in name.unicodeScalars.enumerated() {
            if scalar == "\\" || scalar == "." || scalar == "/" || (i == 0 && scalar == "~") {
                escaped += "\\" + String(scalar.value, radix: 16).leftPadded(to: 2)
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        return modifiedUTF7(escaped)
    }

    /// RFC 3501 §5.1.3: printable ASCII stands for itself, `&` is `&-`, every run of other
    /// characters is `&` + base64 of its UTF-16BE (with `,` for `/`, no padding) + `-`.
    public static func modifiedUTF7(_ text: String) -> String {
        var out = ""
        var run: [UInt16] = []
        func flush() {
            guard !run.isEmpty else { return }
            let bytes = run.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
            let b64 = Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: ",")
            out += "&" + b64.trimmingCharacters(in: CharacterSet(charactersIn: "=")) + "-"
            run = []
        }
        for scalar in text.unicodeScalars {
            if (0x20...0x7e).contains(scalar.value) {
                flush()
                out += scalar == "&" ? "&-" : String(scalar)
            } else {
                run.append(contentsOf: String(scalar).utf16)
            }
        }
        flush()
        return out
    }

    /// The folder for a mailbox given its names from the top-level ancestor down: `.A.B`.
    /// Longer than 255 bytes: the names are cut at a character boundary (before encoding, so that
    /// what is left is still a valid name) and `~` and 8 hex digits of the SHA-256 of the full
    /// folder name are added.
    public static func folder(path names: [String], sha256Hex: (String) -> String) -> String {
        let encoded = names.map(folderName)
        let full = "." + encoded.joined(separator: ".")
        guard full.utf8.count > 255 else { return full }
        let hash = "~" + sha256Hex(full).prefix(8)
        var out = ""
        for (name, enc) in zip(names, encoded) {
            let budget = 255 - hash.utf8.count - out.utf8.count - 1
            if enc.utf8.count <= budget {
                out += "." + enc
                continue
            }
            var chars = Array(name)
            while !chars.isEmpty, folderName(String(chars)).utf8.count > budget { chars.removeLast() }
            // An empty cut keeps no separator: a name must not start with `~`.
            if !chars.isEmpty || out.isEmpty { out += "." + (chars.isEmpty ? "" : folderName(String(chars))) }
            break
        }
        return out + hash
    }

    /// The longest prefix of `full` that leaves room for `hash` within `limit` bytes, then `hash`.
    /// Never leaves half a character or half an escape (a dangling %X) at the cut.
    static func cut(_ full: String, toBytes limit: Int, hash: String) -> String {
        var cut = ""
        var bytes = 0
        for ch in full {
            let n = String(ch).utf8.count
            if bytes + n > limit - hash.utf8.count { break }
            cut.append(ch)
            bytes += n
        }
        if let percent = cut.suffix(2).lastIndex(of: "%") { cut = String(cut[..<percent]) }
        return cut + hash
    }

    /// One path component for a collection, card, event or script: escaped as a mailbox name, and
    /// cut with `~` and a hash so that it plus `suffix` (an extension) fits in 255 bytes.
    public static func component(_ name: String, suffix: String = "") -> String {
        let full = escape(name)
        let limit = 255 - suffix.utf8.count
        guard full.utf8.count > limit else { return full.isEmpty ? "%00" + suffix : full + suffix }
        return cut(full, toBytes: limit, hash: "~" + SHA256Hasher.hex(of: Data(full.utf8)).prefix(8)) + suffix
    }

    /// `D` `$draft`, `F` `$flagged`, `P` `$forwarded`, `R` `$answered`, `S` `$seen`, in ASCII
    /// order. `T` is never written: IMAP-on-Maildir servers read it as \Deleted.
    public static func flags(keywords: Set<String>) -> String {
        let lower = Set(keywords.map { $0.lowercased() })
        var out = ""
        if lower.contains("$draft") { out += "D" }
        if lower.contains("$flagged") { out += "F" }
        if lower.contains("$forwarded") { out += "P" }
        if lower.contains("$answered") { out += "R" }
        if lower.contains("$seen") { out += "S" }
        return out
    }

    /// The keywords a flags string stands for (the inverse of `flags`).
    public static func keywords(flags: String) -> Set<String> {
        var out = Set<String>()
        for c in flags {
            switch c {
            case "D": out.insert("$draft")
            case "F": out.insert("$flagged")
            case "P": out.insert("$forwarded")
            case "R": out.insert("$answered")
            case "S": out.insert("$seen")
            default: break
            }
        }
        return out
    }

    /// The unique part of a message's file name, from its JMAP Email id alone, so re-rendering
    /// gives the same name. JMAP ids are `[A-Za-z0-9_-]`; anything else is escaped anyway.
    public static func unique(emailId: String) -> String {
        "jmap-" + escape(emailId).split(separator: ":", omittingEmptySubsequences: false).joined(separator: "%3A")
    }

    /// `letters` maps the folder's other keywords (lowercased) to Dovecot keyword indexes 0–25
    /// (`a`–`z`, written after the flags, still in ASCII order); keywords without a letter are
    /// left out of the name (the catalog keeps them).
    public static func fileName(emailId: String, keywords: Set<String>, letters: [String: Int] = [:]) -> String {
        let extra = otherKeywords(keywords).compactMap { letters[$0] }.sorted().map { String(UnicodeScalar(UInt8(97 + $0))) }
        return unique(emailId: emailId) + ":2," + flags(keywords: keywords) + extra.joined()
    }

    /// Keywords that Dovecot reads from a Maildir flag. `$forwarded` is not one of them: Dovecot
    /// ignores `P`, so it gets a keyword letter as well (mutt and mbsync read the `P`).
    static let dovecotFlagKeywords: Set<String> = ["$draft", "$flagged", "$answered", "$seen"]

    /// The keywords that get a Dovecot keyword letter, lowercased (JMAP keywords are
    /// case-insensitive), sorted: all but the four Dovecot reads from flags.
    public static func otherKeywords(_ keywords: Set<String>) -> [String] {
        Set(keywords.map { $0.lowercased() }).subtracting(dovecotFlagKeywords).sorted()
    }

    /// Dovecot's `dovecot-keywords` file for a folder's letters: `<index> <keyword>` per line.
    /// `$forwarded` is spelt `$Forwarded`, as IMAP clients and Dovecot itself write it.
    public static func dovecotKeywords(_ letters: [String: Int]) -> String {
        letters.sorted { $0.value < $1.value }.map { "\($0.value) \($0.key == "$forwarded" ? "$Forwarded" : $0.key)\n" }.joined()
    }

    static func hex2(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 0xf)]])
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
