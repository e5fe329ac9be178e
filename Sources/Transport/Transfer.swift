import CCurl
import Digest
import Foundation

/// One libcurl easy handle and everything its callbacks touch. Callbacks run on the engine's
/// thread only, so the mutable state needs no lock.
final class Transfer: @unchecked Sendable {
    /// JSON compresses well; blobs mostly do not, and compressing them costs the server CPU
    /// (measured: 2.2× slower downloads from Cyrus with Accept-Encoding on). Over loopback there
    /// is no bandwidth to save: a 10k-message first sync from Cyrus took 6.3 s with it, 5.5 s without.
    static func asksForCompression(_ url: URL, _ sink: ResponseSink) -> Bool {
        guard case .memory = sink else { return false }
        return !CurlHTTPClient.isLoopback(url.host)
    }

    let request: HTTPRequest
    let sink: ResponseSink
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var postBuffer: UnsafeMutableRawPointer?
    private var uploadFD: Int32 = -1

    private var continuation: CheckedContinuation<HTTPResponse, Error>?
    private var status = 0
    private var headers: [String: String] = [:]
    private var memory = Data()
    private var fileBytes: Int64 = 0
    private var hasher: SHA256Hasher?
    private var bodyToMemory = true
    private var decidedSink = false
    private(set) var failure: Error?
    /// Set under the engine's lock only.
    var cancelRequested = false

    init(request: HTTPRequest, sink: ResponseSink, options: TransportOptions) throws {
        guard let easy = jm_curl_easy_init() else {
            throw TransportError.other(url: request.url.absoluteString, curlCode: -1, message: "curl_easy_init failed")
        }
        self.easy = easy
        self.request = request
        self.sink = sink
        if case .file = sink { hasher = SHA256Hasher() }
        try configure(options)
    }

    // The engine has removed the handle from its multi by the time the last reference goes.
    deinit {
        cleanup()
        jm_curl_easy_cleanup(easy)
    }

    func start(_ continuation: CheckedContinuation<HTTPResponse, Error>) {
        self.continuation = continuation
    }

    private func cleanup() {
        if let headerList { jm_curl_slist_free_all(headerList) }
        headerList = nil
        postBuffer?.deallocate()
        postBuffer = nil
        if uploadFD >= 0 { close(uploadFD) }
        uploadFD = -1
    }

    static let http1BodyThreshold = 256 * 1024

    static func bodySize(_ body: RequestBody) -> Int {
        switch body {
        case .none: return 0
        case let .data(d, _): return d.count
        case let .file(path, _):
            var st = stat()
            return stat(path, &st) == 0 ? Int(st.st_size) : 0
        }
    }

    private func configure(_ options: TransportOptions) throws {
        let url = request.url.absoluteString
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        jm_easy_setopt_string(easy, CURLOPT_URL, url)
        jm_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        jm_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout * 1000))
        var streaming = false
        if case .stream = sink { streaming = true }
        if !streaming {
            // An idle transfer (under 1 byte/s for idleTimeout) is abandoned; a long, moving one is not.
            jm_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, options.lowSpeedLimit)
            jm_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(options.deadline(expectedBytes: request.expectedBytes) * 1000))
            jm_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, Int(options.idleTimeout))
        }
        jm_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1)
        jm_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2)
        let scheme = request.url.scheme?.lowercased()
        if streaming || Transfer.bodySize(request.body) > Transfer.http1BodyThreshold {
            // (A push stream too: HTTP/1.1, its own connection, nothing multiplexed behind it.)
            // Large request bodies go over HTTP/1.1 on a connection of their own. Over HTTP/2,
            // libcurl spins while the server's flow-control window is shut: 8 uploads of 2.7 MB
            // to Cyrus took 0.78 s wall and 0.74 s CPU over h2, 0.39 s and 0.13 s over HTTP/1.1
            // (curl 7.88 CLI, --parallel-max 4); a replay of 3,000 messages burnt 12 s of CPU.
            jm_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        } else {
            jm_easy_setopt_long(easy, CURLOPT_HTTP_VERSION,
                                scheme == "https" ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_0)
            // Wait for an existing connection to turn out multiplexable rather than opening another.
            jm_easy_setopt_long(easy, CURLOPT_PIPEWAIT, 1)
        }
        if Transfer.asksForCompression(request.url, sink) {
            jm_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "")
        } else {
            jm_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, 512 * 1024)
        }
        jm_easy_setopt_string(easy, CURLOPT_USERAGENT, options.userAgent)
        if request.followRedirects {
            jm_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1)
            jm_easy_setopt_long(easy, CURLOPT_MAXREDIRS, 10)
            jm_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, options.allowInsecureLoopbackHTTP ? "http,https" : "https")
        }
        jm_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, options.allowInsecureLoopbackHTTP ? "http,https" : "https")

        switch request.credentials {
        case .none: break
        case let .basic(username, password):
            jm_easy_setopt_long(easy, CURLOPT_HTTPAUTH, jm_auth_basic())
            jm_easy_setopt_string(easy, CURLOPT_USERNAME, username)
            jm_easy_setopt_string(easy, CURLOPT_PASSWORD, password)
        case let .bearer(token):
            jm_easy_setopt_long(easy, CURLOPT_HTTPAUTH, jm_auth_bearer())
            jm_easy_setopt_string(easy, CURLOPT_XOAUTH2_BEARER, token)
        }

        var lines = request.headers.map { "\($0.0): \($0.1)" }
        lines.append("Expect:")  // no 100-continue round trip before each upload
        switch request.body {
        case .none:
            if request.method == "GET" {
                jm_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
            } else {
                jm_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
            }
        case let .data(data, contentType):
            lines.append("Content-Type: \(contentType)")
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 1)
            data.copyBytes(to: buffer.assumingMemoryBound(to: UInt8.self), count: data.count)
            postBuffer = buffer
            jm_easy_setopt_long(easy, CURLOPT_POST, 1)
            jm_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(data.count))
            jm_easy_setopt_ptr(easy, CURLOPT_POSTFIELDS, buffer)
        case let .file(path, contentType):
            lines.append("Content-Type: \(contentType)")
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw TransportError.localFile(path: path, message: String(cString: strerror(errno)))
            }
            uploadFD = fd
            var st = stat()
            fstat(fd, &st)
            jm_easy_setopt_long(easy, CURLOPT_POST, 1)
            jm_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(st.st_size))
            jm_easy_setopt_callback(easy, CURLOPT_READFUNCTION) { buffer, size, count, userdata in
                let t = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
                return t.readUpload(into: buffer!, max: size * count)
            }
            jm_easy_setopt_ptr(easy, CURLOPT_READDATA, opaque)
        }
        // A body makes libcurl send POST; PUT, MKCOL and the like keep their own name.
        if case .none = request.body {} else if request.method != "POST" {
            jm_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        for line in lines { headerList = jm_curl_slist_append(headerList, line) }
        jm_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList)

        jm_easy_setopt_callback(easy, CURLOPT_HEADERFUNCTION) { buffer, size, count, userdata in
            let t = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
            t.receiveHeader(UnsafeRawBufferPointer(start: buffer, count: size * count))
            return size * count
        }
        jm_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, opaque)
        jm_easy_setopt_callback(easy, CURLOPT_WRITEFUNCTION) { buffer, size, count, userdata in
            let t = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
            return t.receiveBody(UnsafeRawBufferPointer(start: buffer, count: size * count)) ? size * count : 0
        }
        jm_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, opaque)
        jm_easy_setopt_ptr(easy, CURLOPT_PRIVATE, opaque)
    }

    private func readUpload(into buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        while true {
            let n = read(uploadFD, buffer, max)
            if n >= 0 { return n }
            if errno != EINTR {
                failure = TransportError.localFile(path: "upload", message: String(cString: strerror(errno)))
                return Int(jm_readfunc_abort())
            }
        }
    }

    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if line.isEmpty, case let .stream(deliver) = sink, status == 200 {
            deliver(Data())
            return
        }
        if line.hasPrefix("HTTP/") {
            // A new status line: an interim (1xx) or redirect response came before; start over.
            headers = [:]
            let parts = line.split(separator: " ")
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers[name] = value
    }

    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if !decidedSink {
            decidedSink = true
            switch sink {
            case .file, .stream: bodyToMemory = status >= 400
            case .memory: break
            }
        }
        if bodyToMemory {
            let limit: Int
            if case let .memory(l) = sink { limit = l } else { limit = 1 << 20 }
            if memory.count + bytes.count > limit {
                failure = TransportError.responseTooLarge(url: request.url.absoluteString, limit: limit)
                return false
            }
            memory.append(contentsOf: bytes)
            return true
        }
        if case let .stream(deliver) = sink {
            deliver(Data(bytes))
            return true
        }
        guard case let .file(fd) = sink, let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = TransportError.localFile(path: "fd \(fd)", message: String(cString: strerror(errno)))
                return false
            }
            offset += n
        }
        hasher?.update(bytes)
        fileBytes += Int64(bytes.count)
        return true
    }

    /// Called once by the engine when libcurl is done with the handle.
    func finish(code: CURLcode) {
        guard let continuation else { return }
        self.continuation = nil
        if let failure {
            continuation.resume(throwing: failure)
            return
        }
        guard code == CURLE_OK else {
            continuation.resume(throwing: Transfer.error(for: code, url: request.url.absoluteString,
                                                         insecureRefused: isProtocolRefusal(code)))
            return
        }
        var version = 0
        jm_easy_getinfo_long(easy, CURLINFO_HTTP_VERSION, &version)
        var effective: UnsafeMutableRawPointer?
        jm_easy_getinfo_ptr(easy, CURLINFO_EFFECTIVE_URL, &effective)
        let effectiveURL = effective.flatMap { URL(string: String(cString: $0.assumingMemoryBound(to: CChar.self))) } ?? request.url
        let versionText: String
        switch version {
        case CURL_HTTP_VERSION_2_0: versionText = "2"
        case CURL_HTTP_VERSION_3: versionText = "3"
        case CURL_HTTP_VERSION_1_0: versionText = "1.0"
        default: versionText = "1.1"
        }
        continuation.resume(returning: HTTPResponse(
            status: status, headers: headers, body: memory, fileBytes: fileBytes,
            fileSHA256: bodyToMemory ? nil : hasher?.finalizeHex(),
            effectiveURL: effectiveURL, httpVersion: versionText))
    }

    func cancel() {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(throwing: CancellationError())
    }

    private func isProtocolRefusal(_ code: CURLcode) -> Bool {
        code == CURLE_UNSUPPORTED_PROTOCOL
    }

    static func error(for code: CURLcode, url: String, insecureRefused: Bool) -> TransportError {
        let message = String(cString: jm_curl_easy_strerror(code))
        if insecureRefused { return .insecureURLRefused(url: url) }
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
             CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
             CURLE_HTTP2_STREAM:
            return .connection(url: url, curlCode: Int(code.rawValue), message: message)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE:
            return .tls(url: url, message: message)
        default:
            return .other(url: url, curlCode: Int(code.rawValue), message: message)
        }
    }
}
