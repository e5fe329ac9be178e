import Foundation

public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
    init(message: String) { description = message }
}

/// A listening socket served by a thread of its own; each connection is handed to `handle` on a
/// thread of its own too, so a slow client or a long sync never holds the others. Blocking I/O
/// stays off Swift's cooperative pool.
final class Listener: @unchecked Sendable {
    let fd: Int32
    /// The TCP port actually bound (when asked for port 0), or 0 for a Unix socket.
    let port: Int

    /// `host:port`, IPv4 or `[v6]:port`.
    init(tcp listen: String) throws {
        var host = listen
        var portText = ""
        if let colon = listen.lastIndex(of: ":") {
            host = String(listen[..<colon])
            portText = String(listen[listen.index(after: colon)...])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let p = UInt16(portText) else { throw SocketError(message: "\(listen): expected host:port, e.g. 127.0.0.1:9187") }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host.isEmpty ? nil : host, String(p), &hints, &info) == 0, let ai = info else {
            throw SocketError(message: "\(listen): not a numeric address (e.g. 127.0.0.1:9187 or [::1]:9187)")
        }
        defer { freeaddrinfo(info) }
        let s = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw SocketError("socket") }
        var yes: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0, Glibc.listen(s, 16) == 0 else {
            let e = SocketError("\(listen)")
            close(s)
            throw e
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
        let raw = withUnsafeBytes(of: &bound) { b -> UInt16 in
            // sin_port and sin6_port sit at the same offset, in network order.
            UInt16(b[2]) << 8 | UInt16(b[3])
        }
        fd = s
        port = Int(raw)
    }

    /// A Unix stream socket only its owner may use.
    init(unixPath path: String) throws {
        unlink(path)  // a stale one from a daemon that was killed; the mirror lock says none runs
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw SocketError("socket") }
        var address = try Listener.unixAddress(path)
        // (Not umask: it is the whole process's. Until the chmod, the 0700 folder it lives in keeps others out.)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(s, 16) == 0 else {
            let e = SocketError(path)
            close(s)
            throw e
        }
        fd = s
        port = 0
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SocketError(message: "\(path): too long for a Unix socket (at most 107 bytes); use a shorter mirror path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { b in for (i, c) in bytes.enumerated() { b[i] = c } }
        return address
    }

    func serve(name: String, _ handle: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread { [fd] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return  // closed
                }
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                let worker = Thread { handle(c) }
                worker.stackSize = 1 << 20
                worker.start()
            }
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    func shutdownListening() {
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

enum SocketIO {
    /// Reads until `terminator` or `limit` bytes; nil on timeout or a closed connection.
    static func read(_ fd: Int32, until terminator: [UInt8], limit: Int = 64 * 1024) -> [UInt8]? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < limit {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return data.isEmpty ? nil : data }
            data += buffer[0..<n]
            if data.count >= terminator.count, containsSubsequence(data, terminator) { return data }
        }
        return data
    }

    static func containsSubsequence(_ data: [UInt8], _ t: [UInt8]) -> Bool {
        guard data.count >= t.count else { return false }
        for i in 0...(data.count - t.count) where data[i] == t[0] && Array(data[i..<(i + t.count)]) == t { return true }
        return false
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
