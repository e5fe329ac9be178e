/// Capability URNs we know, by who defined them.
public enum Capability {
    public static let core = "urn:ietf:params:jmap:core"
    public static let mail = "urn:ietf:params:jmap:mail"
    public static let submission = "urn:ietf:params:jmap:submission"
    public static let vacationResponse = "urn:ietf:params:jmap:vacationresponse"
    public static let contacts = "urn:ietf:params:jmap:contacts"
    public static let calendars = "urn:ietf:params:jmap:calendars"
    public static let sieve = "urn:ietf:params:jmap:sieve"
    public static let blob = "urn:ietf:params:jmap:blob"
    public static let quota = "urn:ietf:params:jmap:quota"
    public static let websocket = "urn:ietf:params:jmap:websocket"
    public static let principals = "urn:ietf:params:jmap:principals"

    public static let cyrusContacts = "https://cyrusimap.org/ns/jmap/contacts"
    public static let cyrusCalendars = "https://cyrusimap.org/ns/jmap/calendars"
    public static let cyrusSieve = "https://cyrusimap.org/ns/jmap/sieve"
    public static let cyrusBlob = "https://cyrusimap.org/ns/jmap/blob"
    public static let cyrusMail = "https://cyrusimap.org/ns/jmap/mail"
    public static let cyrusQuota = "https://cyrusimap.org/ns/jmap/quota"
    public static let fastmailContacts = "https://www.fastmail.com/dev/contacts"
    public static let fastmailCalendars = "https://www.fastmail.com/dev/calendars"
}

/// What a backup covers, one entry per kind of data.
public enum DataKind: String, CaseIterable, Sendable, Codable {
    case mail, identities, vacation, contacts, calendars, sieve, blob, quota
}

/// Who defined the protocol a server speaks for one kind of data.
public enum Dialect: String, Sendable, Codable {
    case ietf, cyrus, fastmail
}

/// How one kind of data is reached on one account: the capability to put in `using`, the object
/// types it carries and whether they have `/changes`.
public struct DataTypeSupport: Sendable, Codable, Equatable {
    public var kind: DataKind
    public var dialect: Dialect
    public var capability: String
    public var types: [String]
    public var hasChanges: Bool
    public var note: String?
    /// The other dialects' capabilities for the same kind that the account also has. Sending them
    /// in `using` lets a server add its own properties (Cyrus: the event's iCalendar `blobId`).
    public var alsoAdvertised: [String] = []
}

public enum Dialects {
    /// Candidates in order of preference: IETF first, then vendor dialects.
    static let candidates: [DataKind: [(Dialect, String, [String], Bool, String?)]] = [
        .mail: [(.ietf, Capability.mail, ["Mailbox", "Thread", "Email"], true, nil)],
        .identities: [(.ietf, Capability.submission, ["Identity"], true, nil)],
        .vacation: [(.ietf, Capability.vacationResponse, ["VacationResponse"], false,
                     "a singleton: read in full every sync")],
        .contacts: [
            (.ietf, Capability.contacts, ["AddressBook", "ContactCard"], true, "RFC 9610 / JSContact"),
            (.cyrus, Capability.cyrusContacts, ["Contact", "ContactGroup"], true, "Cyrus legacy contacts (vCard 3.0 blobs)"),
            (.fastmail, Capability.fastmailContacts, ["Contact", "ContactGroup"], true, "Fastmail legacy contacts"),
        ],
        .calendars: [
            (.ietf, Capability.calendars, ["Calendar", "CalendarEvent"], true, "JMAP calendars / JSCalendar"),
            (.cyrus, Capability.cyrusCalendars, ["Calendar", "CalendarEvent"], true, "Cyrus calendars (older JSCalendar)"),
            (.fastmail, Capability.fastmailCalendars, ["Calendar", "CalendarEvent"], true, "Fastmail calendars"),
        ],
        .sieve: [
            (.ietf, Capability.sieve, ["SieveScript"], false, "RFC 9661: no /changes, listed in full and diffed"),
            (.cyrus, Capability.cyrusSieve, ["SieveScript"], false, "Cyrus Sieve: no /changes, listed in full and diffed"),
        ],
        .blob: [
            (.ietf, Capability.blob, ["Blob"], false, "RFC 9404: batched Blob/get"),
            (.cyrus, Capability.cyrusBlob, ["Blob"], false, "Cyrus blob extension: batched Blob/get"),
        ],
        .quota: [
            (.ietf, Capability.quota, ["Quota"], true, nil),
            (.cyrus, Capability.cyrusQuota, ["Quota"], false, "Cyrus quota extension"),
        ],
    ]

    /// Picks, for each kind of data, the dialect an account supports. A capability counts only if
    /// it is both in the Session and in the account's own capabilities (RFC 8620 §2).
    public static func detect(_ session: Session, accountId: String) -> [DataKind: DataTypeSupport] {
        guard let account = session.accounts[accountId] else { return [:] }
        var out: [DataKind: DataTypeSupport] = [:]
        for kind in DataKind.allCases {
            let present = (candidates[kind] ?? []).map(\.1).filter {
                session.capabilities[$0] != nil && account.accountCapabilities[$0] != nil
            }
            for (dialect, urn, types, hasChanges, note) in candidates[kind] ?? [] where present.contains(urn) {
                var support = DataTypeSupport(kind: kind, dialect: dialect, capability: urn, types: types,
                                              hasChanges: hasChanges, note: note,
                                              alsoAdvertised: present.filter { $0 != urn })
                if kind == .calendars, dialect == .cyrus, session.capabilities[urn]?["isRFC"]?.boolValue != true {
                    support.note = "Cyrus calendars with pre-RFC JSCalendar (\"@type\": \"jsevent\")"
                }
                out[kind] = support
                break
            }
        }
        return out
    }
}
