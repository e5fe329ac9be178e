import Digest
import Foundation
import Formats
import Testing

@Suite("Maildir naming (a fixed contract)")
struct FormatsTests {
    let sha: (String) -> String = { SHA256Hasher.hex(of: Data($0.utf8)) }

    @Test("%, ., / and control characters are %XX; everything else stays UTF-8", arguments: [
        ("Archive", "Archive"), ("a.b", "a%2Eb"), ("50% off", "50%25 off"), ("x/y", "x%2Fy"), ("..", "%2E%2E"),
        ("tab\there", "tab%09here"), ("bell\u{7}", "bell%07"), ("Über", "Über"), ("日本語", "日本語"),
        ("del\u{7f}", "del%7F"), ("c1\u{85}", "c1%C2%85"), ("", ""),
    ])
    func escape(name: String, expected: String) {
        #expect(MaildirNames.escape(name) == expected)
    }

    @Test("folders join names from the top-level ancestor with '.'")
    func folders() {
        #expect(MaildirNames.folder(path: ["Archive", "2024"], sha256Hex: sha) == ".Archive.2024")
        #expect(MaildirNames.folder(path: ["Inbox", "a.b"], sha256Hex: sha) == ".Inbox.a%2Eb")
        #expect(MaildirNames.folder(path: ["../../etc"], sha256Hex: sha) == ".%2E%2E%2F%2E%2E%2Fetc")
    }

    @Test("a folder name over 255 bytes is cut and suffixed with ~ and 8 hex digits of the full name's SHA-256")
    func longNames() {
        let long = String(repeating: "é", count: 200)  // 400 bytes
        let full = "." + long
        let folder = MaildirNames.folder(path: [long], sha256Hex: sha)
        #expect(folder.utf8.count <= 255)
        #expect(folder.hasSuffix("~" + sha(full).prefix(8)))
        #expect(folder.hasPrefix(".éé"))
        // A cut never splits a %XX escape.
        let dots = String(repeating: ".", count: 120)
        let cut = MaildirNames.folder(path: [dots], sha256Hex: sha)
        #expect(cut.utf8.count <= 255)
        let body = cut.split(separator: "~")[0].dropFirst()
        #expect(body.count % 3 == 0 && body.allSatisfy { "%2E".contains($0) })
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
