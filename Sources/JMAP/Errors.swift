import Foundation

/// A method-level error (RFC 8620 §3.6.2), with where it happened.
public struct MethodError: Error, Sendable, Equatable {
    public var type: String
    public var description: String?
    public var method: String
    public var callId: String
    public var accountId: String?
    /// The whole error object, for types with extra fields.
    public var raw: JSONValue

    public static let cannotCalculateChanges = "cannotCalculateChanges"
    public static let invalidArguments = "invalidArguments"
    public static let serverUnavailable = "serverUnavailable"
    public static let accountNotFound = "accountNotFound"
    public static let requestTooLarge = "requestTooLarge"
}

/// A request-level problem (RFC 8620 §3.6.1, RFC 7807).
public struct ProblemDetails: Sendable, Equatable {
    public var type: String
    public var status: Int
    public var detail: String?
    /// For `urn:ietf:params:jmap:error:limit`: which limit.
    public var limit: String?
}

public enum JMAPError: Error, Sendable {
    /// 401/403: wrong or missing credentials. Never retried.
    case authentication(url: String, status: Int, detail: String?)
    case problem(url: String, ProblemDetails)
    case method(MethodError)
    case http(url: String, status: Int, body: String)
    case transport(url: String, underlying: String, retryable: Bool)
    /// The server's certificate did not verify, or the TLS handshake failed: never retried.
    case tls(url: String, message: String)
    /// A plain-http URL where only https is allowed (a configuration matter).
    case insecureURL(url: String, message: String)
    case invalidResponse(context: String, reason: String)
    case discovery(input: String, reason: String)
    case unsupported(String)
    /// A local check refused the request before it was sent (for example an upload above
    /// maxSizeUpload).
    case limitExceeded(limit: String, value: Int, maximum: Int)
    case blobMismatch(blobId: String, reason: String)
}

extension JMAPError {
    /// The server refused this one request (a request-level problem, a 4xx other than
    /// authentication, a method error): nothing of it happened, and other requests may succeed.
    public var isRefusal: Bool {
        switch self {
        case .problem, .method, .limitExceeded: return true
        case let .http(_, status, _): return (400..<500).contains(status)
        default: return false
        }
    }
}

extension JMAPError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case let .authentication(url, status, detail):
            return "authentication failed at \(url) (HTTP \(status))" + (detail.map { ": \($0)" } ?? "")
                + ": check username, password or token"
        case let .problem(url, p):
            var s = "server refused the request to \(url): \(p.type) (HTTP \(p.status))"
            if let limit = p.limit { s += ", limit \(limit)" }
            if let d = p.detail { s += ": \(d)" }
            return s
        case let .method(e):
            var s = "\(e.method) (call \(e.callId)"
            if let a = e.accountId { s += ", account \(a)" }
            s += ") failed: \(e.type)"
            if let d = e.description { s += ": \(d)" }
            return s
        case let .http(url, status, body):
            return "HTTP \(status) from \(url)" + (body.isEmpty ? "" : ": \(body.prefix(300))")
        case let .transport(_, underlying, _):
            return underlying
        case let .tls(_, message), let .insecureURL(_, message):
            return message
        case let .invalidResponse(context, reason):
            return "invalid response (\(context)): \(reason)"
        case let .discovery(input, reason):
            return "cannot find a JMAP session for \(input): \(reason)"
        case let .unsupported(what):
            return "not supported by this server: \(what)"
        case let .limitExceeded(limit, value, maximum):
            return "\(value) exceeds the server's \(limit) of \(maximum)"
        case let .blobMismatch(blobId, reason):
            return "blob \(blobId): \(reason)"
        }
    }

    public var errorDescription: String? { description }

    /// The method error type, if this is one.
    public var methodErrorType: String? {
        if case let .method(e) = self { return e.type }
        return nil
    }
}
