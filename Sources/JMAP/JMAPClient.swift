import Foundation
import Logging
import Transport

/// A blob written to a temporary file in the directory the caller chose; the caller renames or
/// removes it.
public struct DownloadedBlob: Sendable {
    public var temporaryPath: String
    public var size: Int64
    public var sha256: String
}

public struct UploadedBlob: Sendable, Equatable {
    public var accountId: String
    public var blobId: String
    public var type: String
    public var size: Int
}

public struct GetResult: Sendable {
    public var state: String?
    public var list: [JSONValue]
    public var notFound: [String]
    /// True when chunks of a split `/get` reported different states: the objects may straddle a
    /// change, so the caller should fetch changes again.
    public var stateChangedDuringGet: Bool
}

/// One authenticated JMAP connection: the Session, and requests that obey its limits.
public actor JMAPClient {
    public nonisolated let transport: HTTPTransport
    let credentials: Credentials
    private let logger: Logger
    public private(set) var session: Session
    private let requestLimiter: AsyncLimiter
    private let uploadLimiter: AsyncLimiter
    private var refreshing: Task<Session, Error>?
    /// Requests sent over this client's lifetime (for "one request per account" checks and stats).
    public private(set) var requestCount = 0
    /// The Session came from an earlier run and no request has yet shown it still holds.
    private var sessionUnverified = false

    init(session: Session, transport: HTTPTransport, credentials: Credentials, logger: Logger) {
        self.session = session
        self.transport = transport
        self.credentials = credentials
        self.logger = logger
        let limits = session.coreLimits
        requestLimiter = AsyncLimiter(limit: limits.maxConcurrentRequests)
        uploadLimiter = AsyncLimiter(limit: limits.maxConcurrentUpload)
    }

    /// Connects to a session URL, or discovers one from a host name or e-mail address through
    /// `/.well-known/jmap` (RFC 8620 §2.2), following redirects.
    ///
    /// With `cached`, a Session kept from an earlier run, no request is made here: RFC 8620 §2 lets
    /// a client keep the Session and reload it when a response's `sessionState` differs. If the
    /// first request fails with it (an endpoint that moved, say), the Session is fetched again and
    /// the request retried once.
    public static func connect(to input: String, credentials: Credentials, transport: HTTPTransport,
                               plainHTTPForLoopback: Bool = false, cached: Session? = nil,
                               logger: Logger = Logger(label: "jmirror.jmap")) async throws -> JMAPClient {
        if let cached {
            let client = JMAPClient(session: cached, transport: transport, credentials: credentials, logger: logger)
            await client.markUnverified()
            return client
        }
        let url = try sessionURL(for: input, plainHTTPForLoopback: plainHTTPForLoopback)
        let session = try await fetchSession(url: url, transport: transport, credentials: credentials)
        return JMAPClient(session: session, transport: transport, credentials: credentials, logger: logger)
    }

    private func markUnverified() { sessionUnverified = true }

    /// Where to ask for the Session: a URL with a path is used as given; a bare host, a URL with no
    /// path, or an e-mail address becomes `https://host/.well-known/jmap`. (DNS SRV lookup is not
    /// done: name the host that serves JMAP.) With `plainHTTPForLoopback`, a bare loopback host is
    /// asked over http (a local test server).
    public static func sessionURL(for input: String, plainHTTPForLoopback: Bool = false) throws -> URL {
        let trimmed = input.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw JMAPError.discovery(input: input, reason: "empty") }
        if trimmed.contains("://") {
            guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  url.host != nil else {
                throw JMAPError.discovery(input: input, reason: "not an http(s) URL")
            }
            if url.path.isEmpty || url.path == "/" {
                return URL(string: "/.well-known/jmap", relativeTo: url)!.absoluteURL
            }
            return url
        }
        var host = trimmed
        if let at = trimmed.lastIndex(of: "@") { host = String(trimmed[trimmed.index(after: at)...]) }
        guard !host.isEmpty, !host.contains("/"), !host.contains(" "),
              let url = URL(string: "https://\(host)/.well-known/jmap"), url.host != nil else {
            throw JMAPError.discovery(input: input, reason: "not a URL, host name or e-mail address")
        }
        if plainHTTPForLoopback, CurlHTTPClient.isLoopback(url.host) {
            return URL(string: "http://\(host)/.well-known/jmap")!
        }
        return url
    }

    static func fetchSession(url: URL, transport: HTTPTransport, credentials: Credentials) async throws -> Session {
        let request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")],
                                  credentials: credentials)
        let response = try await perform(transport, request, sink: .memory(limit: 8 << 20))
        try check(response, url: url)
        let json: JSONValue
        do {
            json = try JSONValue.decode(response.body)
        } catch {
            // Something answered, but not a JMAP server (a web page, a captive portal): that is
            // an answer jmirror cannot use, not an unreachable server.
            throw JMAPError.invalidResponse(context: "Session at \(url.absoluteString)",
                                            reason: "the answer is not JSON (HTTP \(response.status)"
                                                + (response.headers["content-type"].map { ", \($0)" } ?? "") + ")")
        }
        return try Session(json: json, sessionURL: response.effectiveURL)
    }

    public func refreshSession() async throws {
        if let refreshing {
            _ = try await refreshing.value
            return
        }
        let url = session.sessionURL
        let task = Task { [transport, credentials] in
            try await JMAPClient.fetchSession(url: url, transport: transport, credentials: credentials)
        }
        refreshing = task
        defer { refreshing = nil }
        let fresh = try await task.value
        logger.info("Session changed (state \(session.state) → \(fresh.state)); reloaded")
        session = fresh
        await requestLimiter.setLimit(fresh.coreLimits.maxConcurrentRequests)
        await uploadLimiter.setLimit(fresh.coreLimits.maxConcurrentUpload)
    }

    // MARK: API requests

    /// Sends a request. One that has more calls than `maxCallsInRequest` is split where no result
    /// reference crosses the cut; otherwise it is refused before sending.
    public func send(_ request: Request) async throws -> Response {
        let limits = session.coreLimits
        guard let parts = request.split(maxCalls: limits.maxCallsInRequest) else {
            throw JMAPError.limitExceeded(limit: "maxCallsInRequest", value: request.calls.count,
                                          maximum: limits.maxCallsInRequest)
        }
        if parts.count == 1 { return try await sendOne(request) }
        var merged = Response(methodResponses: [], sessionState: nil)
        for part in parts {
            let r = try await sendOne(part)
            merged.methodResponses += r.methodResponses
            merged.sessionState = r.sessionState
            merged.accountIds.merge(r.accountIds) { a, _ in a }
        }
        return merged
    }

    private func sendOne(_ request: Request) async throws -> Response {
        guard sessionUnverified else { return try await sendChecked(request) }
        do {
            let r = try await sendChecked(request)
            sessionUnverified = false
            return r
        } catch {
            logger.info("request with the kept Session failed (\(error)); fetching the Session again")
            sessionUnverified = false
            try await refreshSession()
            return try await sendChecked(request)
        }
    }

    private func sendChecked(_ request: Request) async throws -> Response {
        var body: RequestBody
        var size: Int
        var spooled: String?
        defer { if let spooled { unlink(spooled) } }
        if request.attachments.isEmpty {
            let data = try request.body()
            (body, size) = (.data(data, contentType: "application/json"), data.count)
            // `-vv` shows what is asked (credentials travel in headers, never here): the mail
            // benchmark replays a quiet sync's request with curl to compare the two processes.
            if data.count <= 65536 { logger.debug("request body: \(String(decoding: data, as: UTF8.self))") }
        } else {
            let path = try BodySpool.write(request)
            spooled = path
            var st = stat()
            stat(path, &st)
            (body, size) = (.file(path: path, contentType: "application/json"), Int(st.st_size))
        }
        let limits = session.coreLimits
        guard size <= limits.maxSizeRequest else {
            throw JMAPError.limitExceeded(limit: "maxSizeRequest", value: size, maximum: limits.maxSizeRequest)
        }
        let url = session.apiURL
        let http = HTTPRequest(method: "POST", url: url, headers: [("Accept", "application/json")],
                               body: body, credentials: credentials)
        requestCount += 1
        let transport = self.transport
        let response = try await requestLimiter.withPermit {
            try await JMAPClient.perform(transport, http, sink: .memory(limit: 256 << 20))
        }
        try JMAPClient.check(response, url: url)
        let decoded: ResponseBody
        do {
            decoded = try ResponseBody(try JSONValue.decode(response.body))
        } catch {
            throw JMAPError.invalidResponse(context: "POST \(url.absoluteString)", reason: "not a JMAP Response: \(error)")
        }
        var accountIds: [String: String] = [:]
        for call in request.calls {
            if let a = call.arguments["accountId"]?.stringValue { accountIds[call.callId] = a }
        }
        if let state = decoded.sessionState, state != session.state {
            try await refreshSession()
        }
        return Response(methodResponses: decoded.methodResponses, sessionState: decoded.sessionState,
                        accountIds: accountIds)
    }

    struct ResponseBody {
        var methodResponses: [Invocation]
        var sessionState: String?

        init(_ json: JSONValue) throws {
            guard let calls = json["methodResponses"]?.arrayValue else { throw JSONParseError(offset: 0, reason: "no methodResponses") }
            methodResponses = try calls.map { c in
                guard let a = c.arrayValue, a.count == 3, let name = a[0].stringValue, let args = a[1].objectValue,
                      let id = a[2].stringValue else { throw JSONParseError(offset: 0, reason: "a method response is not [name, arguments, id]") }
                return Invocation(name: name, arguments: args, callId: id)
            }
            sessionState = json["sessionState"]?.stringValue
        }
    }

    /// `Foo/get` for any number of ids: split into calls of `maxObjectsInGet` ids, grouped into
    /// requests of `maxCallsInRequest` calls, at most `maxConcurrentRequests` in flight.
    public func get(_ type: String, accountId: String, ids: [String]?, properties: [String]? = nil,
                    using: Set<String>) async throws -> GetResult {
        let limits = session.coreLimits
        var base: [String: JSONValue] = ["accountId": .string(accountId)]
        if let properties { base["properties"] = .strings(properties) }
        guard let ids else {
            var request = Request(using: using)
            var args = base
            args["ids"] = .null
            let call = request.add("\(type)/get", args)
            let r = try await send(request).result(of: call)
            return GetResult(state: r["state"]?.stringValue, list: r["list"]?.arrayValue ?? [],
                             notFound: (r["notFound"]?.arrayValue ?? []).compactMap(\.stringValue),
                             stateChangedDuringGet: false)
        }
        let chunks = stride(from: 0, to: ids.count, by: limits.maxObjectsInGet).map {
            Array(ids[$0..<min($0 + limits.maxObjectsInGet, ids.count)])
        }
        var requests: [(Request, [Call])] = []
        for group in stride(from: 0, to: chunks.count, by: limits.maxCallsInRequest) {
            var request = Request(using: using)
            var calls: [Call] = []
            for chunk in chunks[group..<min(group + limits.maxCallsInRequest, chunks.count)] {
                var args = base
                args["ids"] = .strings(chunk)
                calls.append(request.add("\(type)/get", args))
            }
            requests.append((request, calls))
        }
        let results = try await withThrowingTaskGroup(of: (Int, [[String: JSONValue]]).self) { group in
            for (index, (request, calls)) in requests.enumerated() {
                group.addTask {
                    let response = try await self.send(request)
                    return (index, try calls.map { try response.result(of: $0) })
                }
            }
            var out = [[[String: JSONValue]]](repeating: [], count: requests.count)
            for try await (index, r) in group { out[index] = r }
            return out.flatMap { $0 }
        }
        var result = GetResult(state: nil, list: [], notFound: [], stateChangedDuringGet: false)
        for r in results {
            let state = r["state"]?.stringValue
            if result.state == nil { result.state = state } else if state != result.state { result.stateChangedDuringGet = true }
            result.list += r["list"]?.arrayValue ?? []
            result.notFound += (r["notFound"]?.arrayValue ?? []).compactMap(\.stringValue)
        }
        return result
    }

    // MARK: Blobs

    /// Streams a blob into a new temporary file in `directory`, hashing it on the way.
    public func download(accountId: String, blobId: String, into directory: String,
                         type: String = "application/octet-stream", expectedSize: Int? = nil) async throws -> DownloadedBlob {
        guard let url = session.downloadURL(accountId: accountId, blobId: blobId, type: type) else {
            throw JMAPError.invalidResponse(context: "Session", reason: "downloadUrl does not expand to a URL")
        }
        var template = Array((directory + "/.download-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw JMAPError.transport(url: url.absoluteString,
                                      underlying: "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))",
                                      retryable: false)
        }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var keep = false
        defer {
            close(fd)
            if !keep { unlink(path) }
        }
        let request = HTTPRequest(method: "GET", url: url, credentials: credentials, expectedBytes: expectedSize ?? 1 << 30)
        let transport = self.transport
        let response = try await requestLimiter.withPermit {
            try await JMAPClient.perform(transport, request, sink: .file(descriptor: fd))
        }
        try JMAPClient.check(response, url: url)
        guard let sha = response.fileSHA256 else {
            throw JMAPError.invalidResponse(context: "download of \(blobId)", reason: "no body")
        }
        guard fsync(fd) == 0 else {
            throw JMAPError.transport(url: url.absoluteString, underlying: "fsync \(path): \(String(cString: strerror(errno)))",
                                      retryable: false)
        }
        keep = true
        return DownloadedBlob(temporaryPath: path, size: response.fileBytes, sha256: sha)
    }

    /// Uploads a file (RFC 8620 §6.1), streamed from disk, within `maxSizeUpload` and
    /// `maxConcurrentUpload`.
    public func upload(accountId: String, file path: String, type: String) async throws -> UploadedBlob {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw JMAPError.transport(url: path, underlying: "\(path): \(String(cString: strerror(errno)))", retryable: false)
        }
        return try await upload(accountId: accountId, body: .file(path: path, contentType: type), size: Int(st.st_size), type: type)
    }

    /// Uploads bytes held in memory (a contact's photo), as `upload(accountId:file:type:)`.
    public func upload(accountId: String, data: Data, type: String) async throws -> UploadedBlob {
        try await upload(accountId: accountId, body: .data(data, contentType: type), size: data.count, type: type)
    }

    private func upload(accountId: String, body: RequestBody, size: Int, type: String) async throws -> UploadedBlob {
        let limits = session.coreLimits
        guard size <= limits.maxSizeUpload else {
            throw JMAPError.limitExceeded(limit: "maxSizeUpload", value: size, maximum: limits.maxSizeUpload)
        }
        guard let url = session.uploadURL(accountId: accountId) else {
            throw JMAPError.invalidResponse(context: "Session", reason: "uploadUrl does not expand to a URL")
        }
        let request = HTTPRequest(method: "POST", url: url, headers: [("Accept", "application/json")],
                                  body: body, credentials: credentials, expectedBytes: size)
        let transport = self.transport
        let response = try await uploadLimiter.withPermit {
            try await JMAPClient.perform(transport, request, sink: .memory(limit: 1 << 20))
        }
        try JMAPClient.check(response, url: url)
        guard let json = try? JSONValue.decode(response.body), let blobId = json["blobId"]?.stringValue else {
            throw JMAPError.invalidResponse(context: "upload to \(url.absoluteString)", reason: "no blobId in the answer")
        }
        return UploadedBlob(accountId: json["accountId"]?.stringValue ?? accountId, blobId: blobId,
                            type: json["type"]?.stringValue ?? type, size: json["size"]?.intValue ?? size)
    }

    /// The SHA-256 and size of blobs as the server reports them (RFC 9404 `digest:sha-256`, base64,
    /// or the Cyrus vendor blob capability), without their data, in calls of `maxObjectsInGet`.
    /// Blobs the server gives no digest for are absent from the answer.
    public func sha256Digests(accountId: String, blobIds: [String], capability: String) async throws -> [String: (sha256: String, size: Int)] {
        var out: [String: (sha256: String, size: Int)] = [:]
        let chunk = max(1, session.coreLimits.maxObjectsInGet)
        let hex = Array("0123456789abcdef".utf8)
        for start in stride(from: 0, to: blobIds.count, by: chunk) {
            var request = Request(using: [capability])
            let call = request.add("Blob/get", ["accountId": .string(accountId),
                                                "ids": .strings(Array(blobIds[start..<min(start + chunk, blobIds.count)])),
                                                "properties": ["digest:sha-256", "size"]])
            for entry in try await send(request).result(of: call)["list"]?.arrayValue ?? [] {
                guard let id = entry["id"]?.stringValue, let b64 = entry["digest:sha-256"]?.stringValue,
                      let raw = Data(base64Encoded: b64), raw.count == 32 else { continue }
                let sha = String(decoding: raw.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xf)]] }, as: UTF8.self)
                out[id] = (sha, entry["size"]?.intValue ?? 0)
            }
        }
        return out
    }

    // MARK: HTTP → JMAP errors

    static func perform(_ transport: HTTPTransport, _ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        do {
            return try await transport.perform(request, sink: sink)
        } catch let error as TransportError {
            switch error {
            case .tls: throw JMAPError.tls(url: request.url.absoluteString, message: error.description)
            case .insecureURLRefused: throw JMAPError.insecureURL(url: request.url.absoluteString, message: error.description)
            default:
                throw JMAPError.transport(url: request.url.absoluteString, underlying: error.description, retryable: error.isRetryable)
            }
        }
    }

    static func check(_ response: HTTPResponse, url: URL) throws {
        guard response.status >= 400 || response.status < 200 else { return }
        let json = try? JSONValue.decode(response.body)
        let detail = json?["detail"]?.stringValue
        if response.status == 401 || response.status == 403 {
            throw JMAPError.authentication(url: url.absoluteString, status: response.status, detail: detail)
        }
        if let type = json?["type"]?.stringValue {
            throw JMAPError.problem(url: url.absoluteString, ProblemDetails(
                type: type, status: json?["status"]?.intValue ?? response.status, detail: detail,
                limit: json?["limit"]?.stringValue))
        }
        throw JMAPError.http(url: url.absoluteString, status: response.status,
                             body: String(decoding: response.body.prefix(500), as: UTF8.self))
    }
}
