import Foundation

/// Syncs run side by side, up to a limit; a prune runs alone. A prune deletes the objects no
/// catalog row references, and a sync in flight holds objects it has stored but not yet recorded:
/// the two must never overlap.
actor SyncGate {
    private let limit: Int
    private var running = 0
    private var exclusive = false
    private var waiting: [(exclusive: Bool, continuation: CheckedContinuation<Void, Never>)] = []

    init(limit: Int) { self.limit = max(1, limit) }

    func shared<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        await acquire(exclusive: false)
        defer { release(exclusive: false) }
        return try await work()
    }

    func exclusive<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        await acquire(exclusive: true)
        defer { release(exclusive: true) }
        return try await work()
    }

    private func canEnter(exclusive wantsAll: Bool) -> Bool {
        if exclusive { return false }
        return wantsAll ? running == 0 : running < limit
    }

    private func acquire(exclusive wantsAll: Bool) async {
        // First come, first served: a waiting prune is not starved by a stream of syncs.
        if waiting.isEmpty, canEnter(exclusive: wantsAll) {
            enter(wantsAll)
            return
        }
        await withCheckedContinuation { waiting.append((wantsAll, $0)) }
    }

    private func enter(_ wantsAll: Bool) {
        if wantsAll { exclusive = true } else { running += 1 }
    }

    private func release(exclusive wasAll: Bool) {
        if wasAll { exclusive = false } else { running -= 1 }
        while let first = waiting.first, canEnter(exclusive: first.exclusive) {
            waiting.removeFirst()
            enter(first.exclusive)
            first.continuation.resume()
        }
    }
}
