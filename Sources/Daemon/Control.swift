import Foundation

/// The daemon's control socket, `.jmirror/daemon.sock` (owner only): `jmirror sync` and
/// `jmirror status` talk to a running daemon through it instead of failing on its lock. One JSON
/// line asks; JSON lines answer; the daemon closes the connection when done.
public struct ControlRequest: Codable, Sendable {
    /// "sync" or "status".
    public var command: String
    public var accounts: [String]
    public var force: Bool
    public var tags: [String]

    public init(command: String, accounts: [String] = [], force: Bool = false, tags: [String] = []) {
        self.command = command
        self.accounts = accounts
        self.force = force
        self.tags = tags
    }
}

public enum ControlCodec {
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// Serves the control socket: each request line is handed to `handler`, whose lines are the answer.
public final class ControlServer: Sendable {
    private let listener: Listener

    public init(path: String, handler: @escaping @Sendable (ControlRequest) async -> [Data]) throws {
        listener = try Listener(unixPath: path)
        listener.serve(name: "jmirror-control") { fd in
            defer { Glibc.close(fd) }
            guard let line = SocketIO.read(fd, until: [10]),
                  let request = try? ControlCodec.decoder.decode(ControlRequest.self, from: Data(line)) else {
                _ = SocketIO.writeAll(fd, Array(#"{"error":"expected one JSON request line"}"#.utf8) + [10])
                return
            }
            // From a plain thread into async code and back: this thread only waits.
            let box = ResultBox()
            let done = DispatchSemaphore(value: 0)
            Task {
                box.set(await handler(request).flatMap { Array($0) + [10] })
                done.signal()
            }
            done.wait()
            _ = SocketIO.writeAll(fd, box.get())
        }
    }

    public func close() { listener.shutdownListening() }
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: [UInt8] = []
    func set(_ v: [UInt8]) { lock.withLock { value = v } }
    func get() -> [UInt8] { lock.withLock { value } }
}

/// The other end: nil when no daemon answers at `path` (none runs, or a stale socket).
public enum ControlClient {
    public static func call(_ path: String, _ request: ControlRequest) throws -> [Data]? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        defer { close(fd) }
        var address = try Listener.unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        let line = try ControlCodec.encoder.encode(request) + [10]
        guard SocketIO.writeAll(fd, Array(line)) else { throw SocketError("\(path)") }
        // A sync can take as long as it takes: no timeout on the answer.
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return data.split(separator: 10).map { Data($0) }
    }
}

/// Serves `/metrics` over HTTP/1.0 from a `MetricsBoard`: enough for Prometheus, nothing else.
public final class MetricsServer: Sendable {
    private let listener: Listener
    public var port: Int { listener.port }

    public init(listen: String, board: MetricsBoard) throws {
        listener = try Listener(tcp: listen)
        listener.serve(name: "jmirror-metrics") { fd in
            defer { Glibc.close(fd) }
            guard let request = SocketIO.read(fd, until: [13, 10, 13, 10], limit: 16 * 1024) else { return }
            let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
            let path = line.count > 1 ? line[1].split(separator: "?").first.map(String.init) ?? "" : ""
            let response: String
            if line.first != "GET" && line.first != "HEAD" {
                response = "HTTP/1.0 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\r\n"
            } else if path == "/metrics" {
                let body = board.current
                response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n" + (line.first == "HEAD" ? "" : body)
            } else {
                let body = "jmirror serves /metrics only\n"
                response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            }
            _ = SocketIO.writeAll(fd, Array(response.utf8))
        }
    }

    public func close() { listener.shutdownListening() }
}
