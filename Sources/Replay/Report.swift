import Foundation
import History

/// What `replay` was asked to do, beyond which snapshot and which target.
public struct ReplayOptions: Sendable {
    public var only: Set<DataKind> = Set(DataKind.allCases)
    /// `--mailbox`: source folders (and their children) to carry; empty means all.
    public var mailboxes: [String] = []
    /// `--into`: one new top-level target folder holding the whole source tree.
    public var into: String?
    /// `--map SOURCE=TARGET`: source path prefix → target path.
    public var maps: [(source: String, target: String)] = []
    public var enableVacation = false
    public var dryRun = false

    public init() {}

    /// Parses one `--map 'SOURCE/PATH=TARGET/PATH'`.
    public static func parseMap(_ text: String) throws -> (source: String, target: String) {
        guard let eq = text.firstIndex(of: "=") else { throw HistoryError("--map \(text): expected SOURCE/PATH=TARGET/PATH") }
        let s = trimPath(String(text[..<eq])), t = trimPath(String(text[text.index(after: eq)...]))
        guard !s.isEmpty, !t.isEmpty else { throw HistoryError("--map \(text): both paths must be non-empty") }
        return (s, t)
    }

    static func trimPath(_ p: String) -> String {
        p.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }
}

/// Something the plan could not carry over, or the target refused, with the server's words.
public struct Refusal: Codable, Sendable, Equatable {
    public var kind: String
    /// What it is, as a user finds it: a folder path, a message's SHA-256 and subject, a UID, a name.
    public var item: String
    public var reason: String
}

public struct MailboxMapping: Codable, Sendable, Equatable {
    public var source: String
    public var target: String
    /// `role`, `same path`, `map`, `into`, `create`.
    public var reason: String
    public var created = false
}

/// One data type's part of a replay: the plan's counts, what happened, and the read-back verdict.
public struct KindReport: Codable, Sendable {
    public var kind: String
    /// Objects in the snapshot's selection.
    public var planned = 0
    /// Already on the target as planned (nothing to do).
    public var present = 0
    /// To create or import.
    public var toCreate = 0
    /// On the target, but its mailboxes, keywords or content need bringing in line.
    public var toUpdate = 0
    public var bytesToUpload: Int64 = 0
    public var created = 0
    public var updated = 0
    public var refused: [Refusal] = []
    /// Read back after the run: how many planned objects the target holds as planned.
    public var verified: Int?
    public var verifyFailures: [Refusal] = []

    public init(kind: String) { self.kind = kind }

    /// Everything the plan said would be carried over is there (read back, not assumed).
    public var complete: Bool { verified != nil && verifyFailures.isEmpty && refused.isEmpty }
}

public struct ReplayReport: Codable, Sendable {
    public var source: String
    public var snapshot: String
    public var target: String
    public var dryRun: Bool
    public var mailboxes: [MailboxMapping] = []
    public var kinds: [KindReport] = []
    /// Keywords dropped because the target cannot take them, and on how many messages.
    public var droppedKeywords: [String: Int] = [:]

    public var ok: Bool { kinds.allSatisfy { dryRun ? $0.refused.isEmpty : $0.complete } }
}

/// A replay that cannot start: a bad argument, an unknown folder, a target without mail.
public struct ReplayError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}
