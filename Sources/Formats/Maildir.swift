import Digest
import Foundation

/// Maildir++ naming, as the project's layout contract fixes it. Pure functions: no I/O.
public enum MaildirNames {
    /// `%`, `.`, `/` and control characters become `%XX` (uppercase hex of their UTF-8 bytes);
    /// everything else stays UTF-8. The result can never be `.`/`..` nor contain a separator.
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

    /// The folder for a mailbox given its names from the top-level ancestor down: `.A.B`.
    /// Longer than 255 bytes: cut, plus `~` and 8 hex digits of the SHA-256 of the full name.
    public static func folder(path names: [String], sha256Hex: (String) -> String) -> String {
        let full = "." + names.map(escape).joined(separator: ".")
        guard full.utf8.count > 255 else { return full }
        return cut(full, toBytes: 255, hash: "~" + sha256Hex(full).prefix(8))
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

    static let flagKeywords: Set<String> = ["$draft", "$flagged", "$forwarded", "$answered", "$seen"]

    /// The keywords that are not Maildir flags, lowercased (JMAP keywords are case-insensitive), sorted.
    public static func otherKeywords(_ keywords: Set<String>) -> [String] {
        Set(keywords.map { $0.lowercased() }).subtracting(flagKeywords).sorted()
    }

    /// Dovecot's `dovecot-keywords` file for a folder's letters: `<index> <keyword>` per line.
    public static func dovecotKeywords(_ letters: [String: Int]) -> String {
        letters.sorted { $0.value < $1.value }.map { "\($0.value) \($0.key)\n" }.joined()
    }

    static func hex2(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 0xf)]])
    }
}
