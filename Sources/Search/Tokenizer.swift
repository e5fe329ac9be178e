import Foundation
import GRDB

/// FTS5's `unicode61` (case folded, accents removed: `Über` finds `uber`) with English stems
/// (`porter`: `test` finds `testing`, as notmuch's Xapian stemmer does), except that runs of
/// Chinese, Japanese and Korean characters, which it keeps as one token however long, are cut
/// into overlapping pairs (请查收附件中的发票 → 请查, 查收, … 的发, 发票), as Lucene's CJK analyzer
/// does. A query term is cut the same way and FTS5 matches its pairs as a phrase, so any word of
/// two or more such characters is found inside a longer run. A single character alone is not.
final class CJKBigramTokenizer: FTS5WrapperTokenizer {
    static let name = "jmirror"
    let wrappedTokenizer: any FTS5Tokenizer

    init(db: Database, arguments: [String]) throws {
        wrappedTokenizer = try db.makeTokenizer(.porter(wrapping: .unicode61(diacritics: .remove)))
    }

    func accept(token: String, flags: FTS5TokenFlags, for tokenization: FTS5Tokenization,
                tokenCallback: FTS5WrapperTokenCallback) throws {
        guard token.unicodeScalars.contains(where: Self.isCJK) else {
            try tokenCallback(token, flags)
            return
        }
        for piece in Self.pieces(token) { try tokenCallback(piece, flags) }
    }

    /// The tokens a unicode61 token becomes: runs of other letters as they are, CJK runs as pairs.
    static func pieces(_ token: String) -> [String] {
        var out: [String] = []
        var run: [Character] = []
        var cjk = false
        func flush() {
            guard !run.isEmpty else { return }
            if cjk && run.count > 1 {
                for i in 0..<(run.count - 1) { out.append(String(run[i...i + 1])) }
            } else {
                out.append(String(run))
            }
            run = []
        }
        for c in token {
            let isCJK = c.unicodeScalars.first.map(isCJK) ?? false
            if isCJK != cjk { flush(); cjk = isCJK }
            run.append(c)
        }
        flush()
        return out
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
