import Foundation

/// How a request proves who it is. The secret goes to libcurl through its options, never into a
/// header we build, a log line or an error description.
public enum Credentials: Sendable {
    case none
    case basic(username: String, password: String)
    case bearer(token: String)
}

public enum RequestBody: Sendable {
    case none
    case data(Data, contentType: String)
    /// Streamed from the file; never read whole into memory.
    case file(path: String, contentType: String)
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [(String, String)]
    public var body: RequestBody
    public var credentials: Credentials
    public var followRedirects: Bool
    /// Bytes this request is expected to move (an upload's file, a blob's size): its total
    /// deadline grows with it. Nil: a bounded request (JSON), which gets the base deadline.
    public var expectedBytes: Int?

    public init(method: String = "GET", url: URL, headers: [(String, String)] = [], body: RequestBody = .none,
                credentials: Credentials = .none, followRedirects: Bool = true, expectedBytes: Int? = nil) {
        self.expectedBytes = expectedBytes
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.credentials = credentials
        self.followRedirects = followRedirects
    }
}

/// Where a response body goes.
public enum ResponseSink: Sendable {
    /// Kept in memory up to `limit` bytes; more fails the transfer.
    case memory(limit: Int)
    /// Written to an open descriptor (positioned by the caller, normally an empty temporary file)
    /// while computing its SHA-256. An error response (status >= 400) is kept in memory instead,
    /// so a problem-details body never lands in a blob file.
    case file(descriptor: Int32)
    /// Handed over chunk by chunk as it arrives, for a response that never ends (an EventSource
    /// push stream). No deadline and no low-speed limit apply: the caller watches the stream's
    /// pings and cancels its task when they stop. An error response is kept in memory. An empty
    /// chunk comes first, once a 2xx response's headers are in: the stream is open.
    case stream(@Sendable (Data) -> Void)
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased; the last value of a repeated header wins.
    public var headers: [String: String]
    /// The body for `.memory` sinks and for error responses.
    public var body: Data
    /// Bytes written to a `.file` sink, and their SHA-256 (lowercase hex).
    public var fileBytes: Int64
    public var fileSHA256: String?
    /// The URL after redirects.
    public var effectiveURL: URL
    /// "1.1", "2" …
    public var httpVersion: String

    public init(status: Int, headers: [String: String] = [:], body: Data = Data(), fileBytes: Int64 = 0,
                fileSHA256: String? = nil, effectiveURL: URL, httpVersion: String = "1.1") {
        self.status = status
        self.headers = headers
        self.body = body
        self.fileBytes = fileBytes
        self.fileSHA256 = fileSHA256
        self.effectiveURL = effectiveURL
        self.httpVersion = httpVersion
    }
}

public enum TransportError: Error, Sendable, CustomStringConvertible {
    /// Could not connect, connection dropped, timed out: worth retrying.
    case connection(url: String, curlCode: Int, message: String)
    /// TLS failure (bad certificate, handshake): never retried, never ignored.
    case tls(url: String, message: String)
    /// A plain-http URL without the explicit loopback opt-out, or to a non-loopback host.
    case insecureURLRefused(url: String)
    case responseTooLarge(url: String, limit: Int)
    case localFile(path: String, message: String)
    case other(url: String, curlCode: Int, message: String)

    public var description: String {
        switch self {
        case let .connection(url, code, message): return "cannot reach \(url): \(message) (curl error \(code))"
        case let .tls(url, message): return "TLS failure talking to \(url): \(message)"
        case let .insecureURLRefused(url):
            return "refusing plain-HTTP URL \(url): only https is allowed, except to a loopback test server with allow_insecure_http = true"
        case let .responseTooLarge(url, limit): return "response from \(url) exceeds \(limit) bytes"
        case let .localFile(path, message): return "\(path): \(message)"
        case let .other(url, code, message): return "transfer from \(url) failed: \(message) (curl error \(code))"
        }
    }

    public var isRetryable: Bool {
        if case .connection = self { return true }
        return false
    }

    /// A connect or low-speed timeout (CURLE_OPERATION_TIMEDOUT).
    public var isTimeout: Bool {
        if case let .connection(_, code, _) = self { return code == 28 }
        return false
    }
}

/// The seam between the JMAP client and the network: libcurl in production, recorded exchanges in
/// unit tests.
public protocol HTTPTransport: Sendable {
    func perform(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse
}
