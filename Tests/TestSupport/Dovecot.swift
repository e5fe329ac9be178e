import Foundation
import JMAP

/// A private Dovecot serving one Maildir over IMAP (contrib/test-server/dovecot.sh), stopped when
/// released; what IMAP clients see of it comes from imap_probe.py. A missing Dovecot is an error:
/// contrib/install-deps.sh installs it.
public final class Dovecot: @unchecked Sendable {
    public let dir: String
    public let port: Int
    let user: String
    let password: String
    static let support = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let script = support.appendingPathComponent("../../contrib/test-server/dovecot.sh").standardized.path
    static let probe = support.appendingPathComponent("imap_probe.py").path

    /// `listescape`: with contrib/dovecot/jmirror.conf, so that IMAP names are the server's names.
    public init(maildir: String, listescape: Bool) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-imapd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let out = try ServerAccount.run(["/bin/bash", Self.script, "start", dir, maildir] + (listescape ? ["listescape"] : []))
        let parts = out.split(whereSeparator: \.isWhitespace).map(String.init)
        guard parts.count == 3, let port = Int(parts[0]) else { throw TestServerUnavailable(description: "dovecot.sh: \(out)") }
        (self.port, user, password) = (port, parts[1], parts[2])
    }

    deinit { _ = try? ServerAccount.run(["/bin/bash", Self.script, "stop", dir]) }

    public var log: String { (try? String(contentsOfFile: dir + "/dovecot.log", encoding: .utf8)) ?? "" }

    /// Every folder LIST shows (by decoded name, or with `raw` as sent) → its messages, or the
    /// error EXAMINE gave.
    public func folders(raw: Bool = false) throws -> [String: IMAPFolder] {
        let json = try JSONValue.decode(Data(try ServerAccount.run(["/usr/bin/env", "python3", Self.probe, "dump", "\(port)", user, password]).utf8))
        var out: [String: IMAPFolder] = [:]
        for (name, f) in json["folders"]?.objectValue ?? [:] {
            out[raw ? f["raw"]?.stringValue ?? name : name] = IMAPFolder(error: f["error"]?.stringValue, messages: Set((f["messages"]?.arrayValue ?? []).map(IMAPMessage.init)))
        }
        return out
    }

    /// A client session kept open on `folder`.
    public func session(_ folder: String) throws -> IMAPSession {
        try IMAPSession(args: [Self.probe, "session", "\(port)", user, password, folder])
    }

    /// The mirror's files must belong to the user Dovecot's mail processes run as (nobody).
    public static func handOver(_ paths: [String], recursive: String) throws {
        try ServerAccount.run(["/bin/chown", "65534:65534"] + paths)
        try ServerAccount.run(["/bin/chown", "-R", "65534:65534", recursive])
    }
}

public struct IMAPFolder: Sendable, Equatable {
    public var error: String?
    public var messages: Set<IMAPMessage>
}

/// One message as IMAP shows it, in JMAP's terms: system flags as `$seen`…, keywords lowercased
/// (both are case-insensitive), `\Recent` left out (it is session state).
public struct IMAPMessage: Hashable, Sendable, CustomStringConvertible {
    public var sha256: String
    public var keywords: [String]
    public var date: Int

    public init(sha256: String, keywords: Set<String>, date: Int) {
        self.sha256 = sha256
        self.keywords = keywords.map { $0.lowercased() }.sorted()
        self.date = date
    }

    init(_ json: JSONValue) {
        let system = ["\\seen": "$seen", "\\answered": "$answered", "\\flagged": "$flagged", "\\draft": "$draft", "\\deleted": "$deleted"]
        let flags = (json["flags"]?.arrayValue ?? []).compactMap(\.stringValue).map { $0.lowercased() }.filter { $0 != "\\recent" }
        self.init(sha256: json["sha256"]?.stringValue ?? "?", keywords: Set(flags.map { system[$0] ?? $0 }), date: json["internaldate"]?.intValue ?? 0)
    }

    public var description: String { "\(sha256.prefix(8)) \(keywords.joined(separator: ",")) @\(date)" }
}

/// An IMAP client with a folder open, asked to look again (NOOP) on demand.
public final class IMAPSession: @unchecked Sendable {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var buffer = Data()
    /// What the session saw when it opened the folder.
    public private(set) var first: Set<IMAPMessage> = []

    init(args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + args
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        first = try readLine()
    }

    deinit {
        try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
        process.waitUntilExit()
    }

    /// NOOP, then every message of the folder as the session now sees it.
    public func check() throws -> Set<IMAPMessage> {
        try input.fileHandleForWriting.write(contentsOf: Data("check\n".utf8))
        return try readLine()
    }

    private func readLine() throws -> Set<IMAPMessage> {
        while !buffer.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw TestServerUnavailable(description: "imap_probe.py session ended") }
            buffer.append(chunk)
        }
        let end = buffer.firstIndex(of: 0x0A)!
        let line = buffer[..<end]
        buffer = Data(buffer[(end + 1)...])
        let json = try JSONValue.decode(Data(line))
        return Set((json["messages"]?.arrayValue ?? []).map(IMAPMessage.init))
    }
}
