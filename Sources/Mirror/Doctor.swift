import Foundation
import JMAP

/// What `jmirror doctor` reports for one configured account.
public struct DoctorReport: Codable, Sendable {
    public var name: String
    public var sessionURL: String
    public var apiURL: String
    public var username: String
    public var profile: String?
    public var limits: CoreLimits
    public var capabilities: [String]
    public var accounts: [AccountReport]
    public var knownQuirks: [String]

    public struct AccountReport: Codable, Sendable {
        public var id: String
        public var name: String
        public var isPersonal: Bool
        public var isReadOnly: Bool
        public var primaryFor: [String]
        public var capabilities: [String]
        public var coverage: [Coverage]
    }

    /// One line of "what jmirror can and cannot back up here".
    public struct Coverage: Codable, Sendable {
        public var kind: DataKind
        public var offered: Bool
        public var dialect: Dialect?
        public var capability: String?
        public var types: [String]
        public var backedUp: Bool
        public var detail: String
    }

    public init(name: String, session: Session, profile: Profile?) {
        self.name = name
        sessionURL = session.sessionURL.absoluteString
        apiURL = session.apiURL.absoluteString
        username = session.username
        self.profile = profile?.id
        limits = session.coreLimits
        capabilities = session.capabilities.keys.sorted()
        knownQuirks = profile?.quirks ?? []
        accounts = session.accounts.values.sorted { $0.id < $1.id }.map { account in
            let support = Dialects.detect(session, accountId: account.id)
            let coverage = DataKind.allCases.map { kind -> Coverage in
                let implemented = MirrorCapabilities.implemented(kind)
                guard let s = support[kind] else {
                    return Coverage(kind: kind, offered: false, dialect: nil, capability: nil, types: [], backedUp: false,
                                    detail: "not offered by this server for this account")
                }
                let done = implemented.contains(s.dialect)
                var detail = done ? "backed up" : "offered, but jmirror cannot back it up yet"
                if let note = s.note { detail += " (\(note))" }
                return Coverage(kind: kind, offered: true, dialect: s.dialect, capability: s.capability, types: s.types,
                                backedUp: done, detail: detail)
            }
            return AccountReport(
                id: account.id, name: account.name, isPersonal: account.isPersonal, isReadOnly: account.isReadOnly,
                primaryFor: session.primaryAccounts.filter { $0.value == account.id }.keys.sorted(),
                capabilities: account.accountCapabilities.keys.sorted(), coverage: coverage)
        }
    }

    public func renderText() -> String {
        var lines: [String] = []
        lines.append("\(name): \(username) at \(sessionURL)")
        lines.append("  API \(apiURL)" + (profile.map { ", profile \($0)" } ?? ""))
        let l = limits
        lines.append("  limits: \(l.maxCallsInRequest) calls/request, \(l.maxObjectsInGet) objects/get, \(l.maxObjectsInSet) objects/set, "
            + "\(l.maxConcurrentRequests) concurrent requests, \(l.maxConcurrentUpload) concurrent uploads, "
            + "upload ≤ \(l.maxSizeUpload) bytes, request ≤ \(l.maxSizeRequest) bytes")
        lines.append("  capabilities: \(capabilities.joined(separator: " "))")
        for a in accounts {
            var flags = [a.isPersonal ? "personal" : "shared"]
            if a.isReadOnly { flags.append("read-only") }
            if !a.primaryFor.isEmpty { flags.append("primary") }
            lines.append("  account \(a.id) \"\(a.name)\" (\(flags.joined(separator: ", ")))")
            for c in a.coverage {
                let mark = c.backedUp ? "yes" : (c.offered ? "not yet" : "no")
                let dialect = c.dialect.map { "\($0.rawValue) \(c.types.joined(separator: "+"))" } ?? "-"
                lines.append("    \(c.kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) "
                    + "\(mark.padding(toLength: 8, withPad: " ", startingAt: 0)) \(dialect.padding(toLength: 34, withPad: " ", startingAt: 0)) \(c.detail)")
            }
        }
        for q in knownQuirks { lines.append("  quirk: \(q)") }
        return lines.joined(separator: "\n")
    }
}

/// Which dialects of which kinds of data jmirror mirrors today. Doctor reads this, so it never
/// promises more than the sync engine does.
public enum MirrorCapabilities {
    public static func implemented(_ kind: DataKind) -> Set<Dialect> {
        switch kind {
        case .mail, .identities, .vacation: return [.ietf]
        case .contacts, .calendars: return [.ietf, .cyrus, .fastmail]
        case .sieve: return [.ietf, .cyrus]
        case .blob, .quota: return []
        }
    }
}
