import CCurl
import Foundation

/// Drives one libcurl multi handle from a dedicated thread, so blocking I/O never runs on the
/// cooperative pool and every transfer shares connections (HTTP/2 multiplexing where offered).
///
/// One engine serves the whole process (`shared`): a daemon mirroring fifty accounts has one
/// connection pool and one thread, not fifty. Push streams, which stay open for hours, get an
/// engine of their own (`streams`) so that they never hold one of the shared pool's connections
/// to a host, nor one of its two HTTP/2 streams per connection.
final class CurlEngine: @unchecked Sendable {
    static let shared = CurlEngine(maxConnectionsPerHost: 8)
    static let streams = CurlEngine(maxConnectionsPerHost: 0)

    private let multi: UnsafeMutableRawPointer
    /// Our own wakeup pipe, drained before the queue is taken, so a submission can never be lost
    /// between taking the queue and polling; the loop can then sleep as long as libcurl allows.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = NSLock()
    private var pendingAdds: [Transfer] = []
    private var pendingCancels: [Transfer] = []
    /// Only touched on the engine thread.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]

    init(maxConnectionsPerHost: Int) {
        jm_curl_load()
        guard let m = jm_curl_multi_init() else { preconditionFailure("curl_multi_init failed: out of memory") }
        multi = m
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { preconditionFailure("pipe failed: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        jm_multi_setopt_long(multi, CURLMOPT_PIPELINING, jm_pipe_multiplex())
        jm_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        // At most two streams per connection, so four requests in flight use two connections.
        // Cyrus serves each connection from one httpd process, one request at a time, and that
        // process often waits on its disk; a second one keeps the server busy meanwhile. A 10k
        // first sync: 6.83 s with one connection, 5.64 s with two (median of 5 interleaved runs).
        jm_multi_setopt_long(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 2)
        // Engines are process-wide and live as long as the process.
        let thread = Thread { self.run() }
        thread.name = "jmirror-curl"
        thread.stackSize = 1 << 20
        thread.start()
    }

    func submit(_ transfer: Transfer) {
        lock.withLock { pendingAdds.append(transfer) }
        wake()
    }

    func cancel(_ transfer: Transfer) {
        lock.withLock {
            // A cancel can come before its submit (a task cancelled on its way in): it is kept on
            // the transfer, so that the submit that follows is cancelled too, not run to its end.
            transfer.cancelRequested = true
            pendingCancels.append(transfer)
        }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)  // a full pipe already holds a wakeup
    }

    private func drainWakeups() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    private func run() {
        var running: Int32 = 0
        var waitFD = curl_waitfd(fd: wakeRead, events: Int16(CURL_WAIT_POLLIN), revents: 0)
        while true {
            drainWakeups()
            let (adds, cancels) = lock.withLock { () -> ([(Transfer, Bool)], [Transfer]) in
                defer { pendingAdds.removeAll(); pendingCancels.removeAll() }
                return (pendingAdds.map { ($0, $0.cancelRequested) }, pendingCancels)
            }
            for (t, cancelled) in adds {
                if cancelled {
                    t.cancel()
                    continue
                }
                active[t.easy] = t
                jm_curl_multi_add_handle(multi, t.easy)
            }
            for t in cancels where active[t.easy] != nil {
                jm_curl_multi_remove_handle(multi, t.easy)
                active[t.easy] = nil
                t.cancel()
            }
            jm_curl_multi_perform(multi, &running)
            var left: Int32 = 0
            var finished = 0
            while let message = jm_curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let t = active.removeValue(forKey: easy) else { continue }
                let code = message.pointee.data.result
                jm_curl_multi_remove_handle(multi, easy)
                t.finish(code: code)
                finished += 1
            }
            // A finished transfer resumes a task that often queues its next request at once: go
            // round again rather than sleep. Otherwise sleep until a socket, libcurl's own timer
            // (curl_multi_poll never waits past it) or our pipe wakes us; with nothing in flight,
            // a long time, so an idle daemon costs no CPU.
            if finished > 0 { continue }
            jm_curl_multi_poll(multi, &waitFD, 1, active.isEmpty ? 60_000 : 1_000, nil)
        }
    }
}
