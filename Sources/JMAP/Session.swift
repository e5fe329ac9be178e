import Foundation

/// RFC 8620 §2. URLs are resolved against the URL the Session came from (Cyrus sends relative ones).
public struct Session: Sendable {
    public var username: String
    public var apiURL: URL
    public var downloadURLTemplate: String
    public var uploadURLTemplate: String
    public var eventSourceURLTemplate: String?
    public var state: String
    public var capabilities: [String: JSONValue]
    public var accounts: [String: Account]
    public var primaryAccounts: [String: String]
    /// Where the Session was finally fetched from, after redirects.
    public var sessionURL: URL
    /// The whole document, unknown fields included.
    public var raw: JSONValue

    public struct Account: Sendable {
        public var id: String
        public var name: String
        public var isPersonal: Bool
        public var isReadOnly: Bool
        public var accountCapabilities: [String: JSONValue]
    }

    public var coreLimits: CoreLimits { CoreLimits(capabilities[Capability.core]) }

    public init(json: JSONValue, sessionURL: URL) throws {
        func require(_ key: String) throws -> String {
            guard let s = json[key]?.stringValue else {
                throw JMAPError.invalidResponse(context: "Session from \(sessionURL.absoluteString)",
                                                reason: "missing or non-string \"\(key)\"")
            }
            return s
        }
        guard let caps = json["capabilities"]?.objectValue, caps[Capability.core] != nil else {
            throw JMAPError.invalidResponse(context: "Session from \(sessionURL.absoluteString)",
                                            reason: "no \(Capability.core) capability: is this a JMAP session URL?")
        }
        self.raw = json
        self.sessionURL = sessionURL
        self.capabilities = caps
        self.username = json["username"]?.stringValue ?? ""
        self.state = json["state"]?.stringValue ?? ""
        let api = try require("apiUrl")
        guard let apiURL = URL(string: api, relativeTo: sessionURL)?.absoluteURL else {
            throw JMAPError.invalidResponse(context: "Session", reason: "apiUrl \(api) is not a URL")
        }
        self.apiURL = apiURL
        self.downloadURLTemplate = try require("downloadUrl")
        self.uploadURLTemplate = try require("uploadUrl")
        self.eventSourceURLTemplate = json["eventSourceUrl"]?.stringValue
        var accounts: [String: Account] = [:]
        for (id, value) in json["accounts"]?.objectValue ?? [:] {
            accounts[id] = Account(
                id: id, name: value["name"]?.stringValue ?? id,
                isPersonal: value["isPersonal"]?.boolValue ?? true,
                isReadOnly: value["isReadOnly"]?.boolValue ?? false,
                accountCapabilities: value["accountCapabilities"]?.objectValue ?? [:])
        }
        self.accounts = accounts
        self.primaryAccounts = (json["primaryAccounts"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    /// RFC 6570 level-1 expansion: every value percent-encoded as "unreserved" requires.
    public static func expand(_ template: String, _ variables: [String: String]) -> String {
        var out = template
        for (name, value) in variables {
            out = out.replacingOccurrences(of: "{\(name)}", with: percentEncode(value))
        }
        return out
    }

    static func percentEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        allowed = allowed.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    public func downloadURL(accountId: String, blobId: String, type: String = "application/octet-stream",
                            name: String = "blob") -> URL? {
        let s = Session.expand(downloadURLTemplate, ["accountId": accountId, "blobId": blobId, "type": type, "name": name])
        return URL(string: s, relativeTo: sessionURL)?.absoluteURL
    }

    public func uploadURL(accountId: String) -> URL? {
        URL(string: Session.expand(uploadURLTemplate, ["accountId": accountId]), relativeTo: sessionURL)?.absoluteURL
    }
}

/// The `urn:ietf:params:jmap:core` limits, with RFC 8620's suggested minimums where a server is
/// silent.
public struct CoreLimits: Sendable, Equatable, Codable {
    public var maxSizeUpload: Int
    public var maxConcurrentUpload: Int
    public var maxSizeRequest: Int
    public var maxConcurrentRequests: Int
    public var maxCallsInRequest: Int
    public var maxObjectsInGet: Int
    public var maxObjectsInSet: Int

    enum CodingKeys: String, CodingKey {
        case maxSizeUpload, maxConcurrentUpload, maxSizeRequest, maxConcurrentRequests, maxCallsInRequest
        case maxObjectsInGet, maxObjectsInSet
    }

    public init(_ value: JSONValue?) {
        func n(_ key: String, _ fallback: Int) -> Int {
            guard let v = value?[key]?.intValue, v > 0 else { return fallback }
            return v
        }
        maxSizeUpload = n("maxSizeUpload", 50_000_000)
        maxConcurrentUpload = n("maxConcurrentUpload", 4)
        maxSizeRequest = n("maxSizeRequest", 10_000_000)
        maxConcurrentRequests = n("maxConcurrentRequests", 4)
        maxCallsInRequest = n("maxCallsInRequest", 16)
        maxObjectsInGet = n("maxObjectsInGet", 500)
        maxObjectsInSet = n("maxObjectsInSet", 500)
    }
}
