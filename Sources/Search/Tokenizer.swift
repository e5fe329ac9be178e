import Foundation

/// How text is cut into words: FTS5's own `porter unicode61 remove_diacritics 2` (case folded,
/// accents removed so `Über` finds `uber`, English stems so `test` finds `testing` as in notmuch),
/// after one step of ours: runs of Chinese, Japanese and Korean characters, which `unicode61`
/// keeps as one token however long, are rewritten as their overlapping pairs (请查收附件中的发票 →
/// 请查 查收 … 的发 发票), as Lucene's CJK analyzer does. A query term is rewritten the same way
/// and matched as a phrase, so any word of two or more such characters is found inside a longer
/// run. A single character alone is not.
///
/// The rewriting is done on the text before SQLite sees it, not in a tokenizer callback: a Swift
/// FTS5 tokenizer wrapping unicode61 made indexing 10,000 messages take 10.5 s instead of 6.0 s.
enum CJKPairs {
    static let tokenizer = "porter unicode61 remove_diacritics 2"

    static func rewrite(_ text: String) -> String {
        // Every CJK character is three or four bytes in UTF-8, led by 0xE1 or above: most text has none.
        guard mayHoldCJK(text) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + text.utf8.count / 2)
        var run: [Character] = []
        func flush() {
            guard !run.isEmpty else { return }
            out.append(" ")
            if run.count == 1 {
                out.append(run[0])
            } else {
                for i in 0..<(run.count - 1) {
                    if i > 0 { out.append(" ") }
                    out.append(run[i])
                    out.append(run[i + 1])
                }
            }
            out.append(" ")
            run.removeAll(keepingCapacity: true)
        }
        for c in text {
            if let s = c.unicodeScalars.first, isCJK(s) {
                run.append(c)
            } else {
                flush()
                out.append(c)
            }
        }
        flush()
        return out
    }

    /// Whether any byte is 0xE1 or above, eight bytes at a time past the ASCII (a byte-by-byte
    /// scan of every message's text was 6% of building an index).
    static func mayHoldCJK(_ text: String) -> Bool {
        var s = text
        return s.withUTF8 { buf in
            var i = 0
            let n = buf.count
            while i + 8 <= n {
                let word = UnsafeRawPointer(buf.baseAddress! + i).loadUnaligned(as: UInt64.self)
                if word & 0x8080_8080_8080_8080 != 0 {
                    for j in i..<(i + 8) where buf[j] >= 0xE1 { return true }
                }
                i += 8
            }
            while i < n {
                if buf[i] >= 0xE1 { return true }
                i += 1
            }
            return false
        }
    }

    /// The words `rewrite` makes of `text` (for tests and for reading the index by eye).
    static func pieces(_ text: String) -> [String] {
        rewrite(text).split(separator: " ").map(String.init)
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x3040...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0xAC00...0xD7AF, 0x1100...0x11FF,
             0x3130...0x318F, 0xFF66...0xFF9F, 0x20000...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
