import Foundation
import JMAP
import Transport

/// `push_front.py` in front of the real Cyrus: an EventSource that Debian's Cyrus cannot offer
/// (see its docstring), with controls to drop, silence and refuse connections. Restartable on the
/// same port, to play a server that goes away and comes back.
public final class PushFront: @unchecked Sendable {
    public private(set) var port: Int
    private var process: Process?
    private let upstream: URL
    private let options: [String]

    public init(upstream: URL, push: Bool = true, ids: Bool = true, pingInMilliseconds: Bool = false, slowDownloads: Double = 0) throws {
        self.upstream = upstream
        var o: [String] = []
        if !push { o.append("--no-push") }
        if !ids { o.append("--no-ids") }
        if pingInMilliseconds { o.append("--ping-ms") }
        if slowDownloads > 0 { o += ["--slow-downloads", "\(slowDownloads)"] }
        options = o
        port = 0
        try start()
    }

    deinit { stop() }

    /// Starts it (again), on the port it had.
    public func start() throws {
        (process, port) = try startScript("push_front.py", ["--upstream", upstream.absoluteString, "--port", "\(port)"] + options)
    }

    /// Gone, as a server that crashed: connections refused until `start()`.
    public func stop() {
        if let p = process { kill(p.processIdentifier, SIGKILL) }
        process = nil
    }

    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    public func control(_ path: String) async throws -> JSONValue {
        let r = try await TestServer.transport(retry: .none).perform(HTTPRequest(url: URL(string: url.absoluteString + path)!),
                                                                      sink: .memory(limit: 1 << 16))
        return try JSONValue.decode(r.body)
    }

    public func requests() async throws -> Int { try await control("/__stats")["requests"]?.intValue ?? -1 }
    public func pushConnections() async throws -> Int { try await control("/__stats")["pushConnections"]?.intValue ?? -1 }
    public func drop() async throws { _ = try await control("/__drop") }
    public func silence() async throws { _ = try await control("/__silence") }
    public func refuse(seconds: Double) async throws { _ = try await control("/__refuse?seconds=\(seconds)") }
}

extension TestServer {
    /// Delivers a message over LMTP, as mail arrives; returns when Cyrus has stored it.
    public func deliver(to user: String, subject: String) throws {
        let script = """
            import smtplib, sys
            c = smtplib.LMTP("127.0.0.1", \(lmtpPort))
            msg = "From: sender@example.com\\r\\nTo: \(user)@example.com\\r\\nSubject: %s\\r\\nMessage-ID: <%s@jmirror.test>\\r\\n\\r\\nHello.\\r\\n" % (sys.argv[1], sys.argv[1])
            refused = c.sendmail("sender@example.com", ["\(user)"], msg.encode())
            c.quit()
            sys.exit(1 if refused else 0)
            """
        _ = try ServerAccount.run(["/usr/bin/env", "python3", "-c", script, subject])
    }
}
