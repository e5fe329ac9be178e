/// A counting semaphore for async code: at most `limit` holders at once, the rest wait in order.
public actor AsyncLimiter {
    private var limit: Int
    private var inUse = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) { self.limit = max(1, limit) }

    public func setLimit(_ newLimit: Int) {
        limit = max(1, newLimit)
        wakeWaiters()
    }

    public func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        inUse -= 1
        wakeWaiters()
    }

    private func wakeWaiters() {
        while inUse < limit, !waiters.isEmpty {
            inUse += 1
            waiters.removeFirst().resume()
        }
    }

    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}
