import Digest
import Foundation

/// Where a mailbox's folder goes, computed the same way for the live mirror and for a restored
/// snapshot, so both are the same layout.
public enum MaildirLayout {
    public struct Mailbox: Sendable {
        public var id: String
        public var parentId: String?
        public var name: String
        public var role: String?
        public init(id: String, parentId: String?, name: String, role: String?) {
            self.id = id
            self.parentId = parentId
            self.name = name
            self.role = role
        }
    }

    /// The inbox is the root (""), every other mailbox `.A.B` from its top-level ancestor down;
    /// the inbox's own descendants start with `INBOX`, whatever the server calls it, because that
    /// is where Dovecot looks for them (`.INBOX.Receipts`).
    public static func folders(_ mailboxes: [Mailbox]) -> [String: String] {
        let byId = Dictionary(mailboxes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [String: String] = [:]
        for m in mailboxes {
            if m.role == "inbox" {
                out[m.id] = ""
                continue
            }
            var names: [String] = []
            var cursor: Mailbox? = m
            var seen = Set<String>()
            while let c = cursor, !seen.contains(c.id), names.count < 256 {
                seen.insert(c.id)
                if c.role == "inbox" {
                    names.insert("INBOX", at: 0)
                    break
                }
                names.insert(c.name, at: 0)
                cursor = c.parentId.flatMap { byId[$0] }
            }
            out[m.id] = MaildirNames.folder(path: names, sha256Hex: { SHA256Hasher.hex(of: Data($0.utf8)) })
        }
        return out
    }
}
