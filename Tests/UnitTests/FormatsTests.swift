import Digest
import Foundation
import Formats
import Testing

@Suite("Maildir naming (a fixed contract)")
struct FormatsTests {
    let sha: (String) -> String = { SHA256Hasher.hex(of: Data($0.utf8)) }

    @Test("vdir names: %, ., / and control characters are %XX; everything else stays UTF-8", arguments: [
        ("Archive", "Archive"), ("a.b", "a%2Eb"), ("50% off", "50%25 off"), ("x/y", "x%2Fy"), ("..", "%2E%2E"),
        ("tab\there", "tab%09here"), ("bell\u{7}", "bell%07"), ("Über", "Über"), ("日本語", "日本語"),
        ("del\u{7f}", "del%7F"), ("c1\u{85}", "c1%C2%85"), ("", ""),
    ])
    func escape(name: String, expected: String) {
        #expect(MaildirNames.escape(name) == expected)
    }

    // Expected values: what Dovecot 2.3.19 itself wrote on disk for IMAP CREATE of the same names
    // (listescape plugin, separator "/"), but for the tab, which Dovecot refuses to create.
    @Test("mailbox names: listescape (\\, ., / and a leading ~ as \\xx), then modified UTF-7", arguments: [
        ("Archive", "Archive"), ("a.b", "a\\2eb"), ("~tilde", "\\7etilde"), ("mid~dle", "mid~dle"), (".hidden", "\\2ehidden"),
        ("trail.", "trail\\2e"), ("x/y", "x\\2fy"), ("back\\slash", "back\\5cslash"), ("a&b", "a&-b"),
        ("Überweisungen", "&ANw-berweisungen"), ("日本語", "&ZeVnLIqe-"), ("with space", "with space"), ("50% off", "50% off"),
        ("tab\there", "tab&AAk-here"), ("😀", "&2D3eAA-"), ("..", "\\2e\\2e"), ("Ü.b", "&ANw-\\2eb"),
    ])
    func folderName(name: String, expected: String) {
        #expect(MaildirNames.folderName(name) == expected)
    }

    @Test("folders join names from the top-level ancestor with '.'; the inbox's children start with INBOX")
    func folders() {
        #expect(MaildirNames.folder(path: ["Archive", "2024"], sha256Hex: sha) == ".Archive.2024")
        #expect(MaildirNames.folder(path: ["../../etc"], sha256Hex: sha) == ".\\2e\\2e\\2f\\2e\\2e\\2fetc")
        let boxes: [MaildirLayout.Mailbox] = [
            .init(id: "i", parentId: nil, name: "Inbox", role: "inbox"),
            .init(id: "r", parentId: "i", name: "Receipts", role: nil),
            .init(id: "y", parentId: "r", name: "2023", role: nil),
            .init(id: "j", parentId: nil, name: "日本語", role: nil),
            .init(id: "s", parentId: "j", name: "サブフォルダ", role: nil),
            .init(id: "d", parentId: nil, name: "a.b", role: nil),
            .init(id: "c", parentId: "d", name: "c.d", role: nil),
        ]
        #expect(MaildirLayout.folders(boxes) == [
            "i": "", "r": ".INBOX.Receipts", "y": ".INBOX.Receipts.2023", "j": ".&ZeVnLIqe-", "s": ".&ZeVnLIqe-.&MLUw1jDVMKkw6zDA-",
            "d": ".a\\2eb", "c": ".a\\2eb.c\\2ed",
        ])
    }

    @Test("a folder name over 255 bytes is cut and suffixed with ~ and 8 hex digits of the full name's SHA-256")
    func longNames() {
        let long = String(repeating: "é", count: 200)  // one &…- run of 534 bytes
        let full = "." + MaildirNames.folderName(long)
        let folder = MaildirNames.folder(path: [long], sha256Hex: sha)
        #expect(folder.utf8.count <= 255)
        #expect(folder.hasSuffix("~" + sha(full).prefix(8)))
        // A cut is made on characters, before encoding: what is left is a whole, valid name.
        let kept = String(folder.dropFirst().prefix { $0 != "~" })
        #expect((1...200).contains { MaildirNames.folderName(String(repeating: "é", count: $0)) == kept })
        #expect(kept.utf8.count > 230)
        // A nested name that does not fit at all leaves its parent and no separator.
        let nested = MaildirNames.folder(path: [String(repeating: "a", count: 250), "child"], sha256Hex: sha)
        #expect(nested == "." + String(repeating: "a", count: 246 - 1) + "~" + sha("." + String(repeating: "a", count: 250) + ".child").prefix(8))
        let mixed = String(repeating: "ab é", count: 80)
        let cutMixed = MaildirNames.folder(path: [mixed], sha256Hex: sha)
        #expect(cutMixed.utf8.count <= 255)
        let body = String(cutMixed.dropFirst().split(separator: "~")[0])
        #expect(body.filter { $0 == "&" }.count == body.filter { $0 == "-" }.count)
        let dots = String(repeating: ".", count: 120)
        let cut = MaildirNames.folder(path: [dots], sha256Hex: sha)
        #expect(cut.utf8.count <= 255)
        let dotBody = cut.split(separator: "~")[0].dropFirst()
        #expect(dotBody.count % 3 == 0 && dotBody.allSatisfy { "\\2e".contains($0) })
        // Two long names that share a prefix stay distinct.
        #expect(MaildirNames.folder(path: [long + "a"], sha256Hex: sha) != MaildirNames.folder(path: [long + "b"], sha256Hex: sha))
    }

    @Test("flags D F P R S in ASCII order; T never; keywords compared case-insensitively")
    func flags() {
        #expect(MaildirNames.flags(keywords: ["$seen", "$answered", "$flagged", "$draft", "$forwarded"]) == "DFPRS")
        #expect(MaildirNames.flags(keywords: ["$Seen", "$junk", "custom"]) == "S")
        #expect(MaildirNames.flags(keywords: ["$deleted"]) == "")
        #expect(MaildirNames.keywords(flags: "FS") == ["$flagged", "$seen"])
    }

    @Test("file names derive from the Email id alone")
    func fileNames() {
        #expect(MaildirNames.fileName(emailId: "M123", keywords: ["$seen"]) == "jmap-M123:2,S")
        #expect(MaildirNames.fileName(emailId: "M123", keywords: []) == "jmap-M123:2,")
        #expect(!MaildirNames.unique(emailId: "a:b/c").contains(":"))
        #expect(!MaildirNames.unique(emailId: "a:b/c").contains("/"))
    }
}
