import CGMime
import Foundation

/// What the index reads of one message: decoded headers, the readable text, attachments.
public struct MessageText: Sendable, Equatable {
    public var subject = ""
    public var from = ""
    /// To, Cc and Bcc.
    public var recipients = ""
    public var replyTo = ""
    public var messageId = ""
    public var listId = ""
    public var date = ""
    /// The text/plain parts; the text of the HTML parts when there is no plain one.
    public var body = ""
    public var attachmentNames: [String] = []
    /// `type/subtype` of every part that is an attachment or not text.
    public var attachmentTypes: [String] = []

    /// Not readable as mail at all: indexed by its facts only.
    public var unreadable = false
    /// The index's six text columns (subject, sender, recipients, body, attachment names, other
    /// headers and part types), CJK runs already cut into pairs: made where the message is read.
    var indexColumns: [String] = ["", "", "", "", "", ""]

    mutating func prepareIndexColumns() {
        let other = ([messageId, listId, replyTo] + attachmentTypes).filter { !$0.isEmpty }.joined(separator: " ")
        indexColumns = [subject, from, recipients, body, attachmentNames.joined(separator: " "), other].map(CJKPairs.rewrite)
    }

    public var hasAttachment: Bool { !attachmentNames.isEmpty || !attachmentTypes.isEmpty }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// libgmime-3.0 could not be loaded.
        case noMimeLibrary
        /// Not a message at all (GMime found no headers).
        case unreadable

        public var description: String {
            switch self {
            case .noMimeLibrary: return "GMime 3 is needed to read messages for search: apt-get install libgmime-3.0-0"
            case .unreadable: return "not a message GMime can read"
            }
        }
    }

    /// At most this much text per message goes into the index: enough for any real mail, and a
    /// bound on memory whatever a message holds.
    public static let textBudget = 1 << 20

    public init() {}

    /// Decodes a message. Malformed parts are read as far as they go; only bytes that are not a
    /// message at all fail.
    public static func read(_ data: Data) throws -> MessageText {
        try collect { ctx, header, part in
            data.withUnsafeBytes { raw in
                jm_mime_parse(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, textBudget, ctx, header, part)
            }
        }
    }

    /// The same from a file, which is never read whole into memory.
    public static func read(path: String) throws -> MessageText {
        try collect { ctx, header, part in jm_mime_parse_file(path, textBudget, ctx, header, part) }
    }

    private static func collect(_ parse: (UnsafeMutableRawPointer, jm_mime_header_cb, jm_mime_part_cb) -> Int32) throws -> MessageText {
        let box = Collector()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let rc = withExtendedLifetime(box) {
            parse(ctx, { ctx, name, value in
                guard let ctx, let name, let value else { return }
                Unmanaged<Collector>.fromOpaque(ctx).takeUnretainedValue().header(String(cString: name), String(cString: value))
            }, { ctx, type, subtype, filename, attachment, text, length in
                guard let ctx else { return }
                let c = Unmanaged<Collector>.fromOpaque(ctx).takeUnretainedValue()
                c.part(type: type.map { String(cString: $0) } ?? "application", subtype: subtype.map { String(cString: $0) } ?? "octet-stream",
                       filename: filename.map { String(cString: $0) }, attachment: attachment != 0,
                       text: text.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self) })
            })
        }
        switch rc {
        case 0: return box.result()
        case -1: throw Failure.noMimeLibrary
        case -3: throw Failure.unreadable
        default: throw Failure.unreadable
        }
    }
}

private final class Collector {
    var text = MessageText()
    var plain: [String] = []
    var html: [String] = []

    func header(_ name: String, _ value: String) {
        switch name {
        case "subject": text.subject = value
        case "from": text.from = value
        case "to", "cc", "bcc": text.recipients += (text.recipients.isEmpty ? "" : ", ") + value
        case "reply-to": text.replyTo = value
        case "message-id": text.messageId = value
        case "list-id": text.listId = value
        case "date": text.date = value
        default: break
        }
    }

    func part(type: String, subtype: String, filename: String?, attachment: Bool, text body: String?) {
        let t = type.lowercased(), s = subtype.lowercased()
        if let filename, !filename.isEmpty { text.attachmentNames.append(filename) }
        if attachment || t != "text" {
            text.attachmentTypes.append("\(t)/\(s)")
            return
        }
        guard let body else { return }
        if s == "html" { html.append(HTMLText.text(body)) } else { plain.append(body) }
    }

    func result() -> MessageText {
        var r = text
        r.body = (plain.isEmpty ? html : plain).joined(separator: "\n")
        return r
    }
}
