import Foundation
import JMAP
import Transport

public struct TestServerUnavailable: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// The private Cyrus started by contrib/test-server/start.sh (via `make test`), read from its
/// server.env. Tests that need it fail when it is missing: they never skip.
public struct TestServer: Sendable {
    public var httpBase: URL
    public var imapPort: Int
    public var lmtpPort: Int
    public var users: [String]
    public var passwordPrefix: String
    public var base: String
    /// Where Cyrus's syslog lines land (start.sh's listener), or nil when a syslog daemon has them.
    public var syslog: String?

    /// `second`: the other, separately started Cyrus that `make test` runs for replays between servers.
    public static func load(second: Bool = false) throws -> TestServer {
        let env = ProcessInfo.processInfo.environment
        let path = second ? env["JMIRROR_TEST_SERVER2_ENV"] ?? "/tmp/jmirror-test-server-2/server.env"
            : env["JMIRROR_TEST_SERVER_ENV"] ?? "/tmp/jmirror-test-server/server.env"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TestServerUnavailable(description:
                "no test server: \(path) is missing. Run the tests with `make test`, which installs and starts Cyrus "
                + "(or start it with contrib/test-server/start.sh and set JMIRROR_TEST_SERVER_ENV).")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        guard let http = values["JMIRROR_TEST_HTTP"].flatMap(URL.init(string:)),
              let imap = values["JMIRROR_TEST_IMAP_PORT"].flatMap(Int.init),
              let lmtp = values["JMIRROR_TEST_LMTP_PORT"].flatMap(Int.init) else {
            throw TestServerUnavailable(description: "\(path) is incomplete")
        }
        return TestServer(httpBase: http, imapPort: imap, lmtpPort: lmtp,
                          users: (values["JMIRROR_TEST_USERS"] ?? "").split(separator: " ").map(String.init),
                          passwordPrefix: values["JMIRROR_TEST_PASSWORD_PREFIX"] ?? "secret-",
                          base: values["JMIRROR_TEST_BASE"] ?? "",
                          syslog: values["JMIRROR_TEST_SYSLOG"].flatMap { $0.isEmpty ? nil : $0 })
    }

    public func password(_ user: String) -> String { passwordPrefix + user }

    public var hostPort: String { "\(httpBase.host!):\(httpBase.port!)" }

    public static func transport(retry: RetryPolicy = RetryPolicy(maxAttempts: 4, baseDelay: 0.05, maxDelay: 0.5)) -> CurlHTTPClient {
        var options = TransportOptions()
        options.allowInsecureLoopbackHTTP = true
        options.retry = retry
        return CurlHTTPClient(options: options)
    }

    public func client(_ user: String = "alice", transport: HTTPTransport = TestServer.transport()) async throws -> JMAPClient {
        try await JMAPClient.connect(to: httpBase.absoluteString + "/jmap",
                                     credentials: .basic(username: user, password: password(user)),
                                     transport: transport)
    }
}

/// A running fault_proxy.py; stopped when released.
/// Starts one of the Python helpers next to this file, which prints "PORT <n>" once it listens.
func startScript(_ name: String, _ arguments: [String]) throws -> (Process, Int) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(name).path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", script] + arguments
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
        let chunk = out.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        line.append(chunk)
    }
    let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
        p.terminate()
        throw TestServerUnavailable(description: "\(name) did not start: \(text)")
    }
    return (p, port)
}

public final class FaultProxy: @unchecked Sendable {
    public let port: Int
    private let process: Process

    public init(upstream: URL, fail: Int = 0, status: Int = 503, retryAfter: String? = nil, record: String? = nil,
                hideCapability: String? = nil, maxObjectsInGet: Int? = nil) throws {
        var args = ["--upstream", upstream.absoluteString, "--fail", "\(fail)", "--status", "\(status)"]
        if let retryAfter { args += ["--retry-after", retryAfter] }
        if let record { args += ["--record", record] }
        if let hideCapability { args += ["--hide-capability", hideCapability] }
        if let maxObjectsInGet { args += ["--max-objects-in-get", "\(maxObjectsInGet)"] }
        (process, port) = try startScript("fault_proxy.py", args)
    }

    // Foundation reaps the child itself; waitUntilExit() from a test's thread can hang on Linux.
    deinit { kill(process.processIdentifier, SIGKILL) }

    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Requests the proxy has seen (faults and forwards), read from the proxy itself.
    public func requestCount() async throws -> Int {
        let r = try await TestServer.transport(retry: .none).perform(
            HTTPRequest(url: url.appendingPathComponent("__stats")), sink: .memory(limit: 1 << 16))
        return try JSONValue.decode(r.body)["requests"]?.intValue ?? -1
    }
}

/// Records requests and answers them with a closure: for unit tests of the protocol layer.
public final class RecordingTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var _requests: [HTTPRequest] = []
    private let handler: @Sendable (HTTPRequest) throws -> HTTPResponse

    public init(handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) {
        self.handler = handler
    }

    public var requests: [HTTPRequest] { lock.withLock { _requests } }

    public func perform(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        lock.withLock { _requests.append(request) }
        return try handler(request)
    }

    public static func json(_ value: JSONValue, status: Int = 200, url: URL) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["content-type": "application/json"], body: value.encoded(), effectiveURL: url)
    }

    /// The JSON body a request carried.
    public static func body(_ request: HTTPRequest) -> JSONValue? {
        if case let .data(d, _) = request.body { return try? JSONValue.decode(d) }
        return nil
    }
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
public func peakRSS() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kb * 1024
    }
    return 0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so a later `peakRSS()` measures one operation.
public func resetPeakRSS() {
    if let fd = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
        fd.write(Data("5".utf8))
        try? fd.close()
    }
}

/// Writes a jmirror config (and its password file, both 0600) into `dir`; returns the config path.
public func writeConfig(in dir: String, mirror: String, account: String, url: String, user: String, password: String) -> String {
    let pw = dir + "/pw"
    FileManager.default.createFile(atPath: pw, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
    let path = dir + "/config.toml"
    FileManager.default.createFile(atPath: path, contents: Data("""
        [mirror]
        path = "\(mirror)"
        [account.\(account)]
        url = "\(url)"
        username = "\(user)"
        password_file = "\(pw)"
        allow_insecure_http = true
        """.utf8), attributes: [.posixPermissions: 0o600])
    return path
}
