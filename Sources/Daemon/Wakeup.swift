import Foundation

/// A loop's alarm clock: `wait(until:)` returns at the deadline or as soon as `signal()` is
/// called, whichever is first. A signal that comes while nobody waits is kept for the next wait,
/// so none is ever lost. One waiter at a time.
final class Wakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var waiter: (token: Int, continuation: CheckedContinuation<Void, Never>)?
    private var nextToken = 0
    /// A deadline that fired before its wait had installed its continuation.
    private var firedToken = -1

    func signal() {
        let c: CheckedContinuation<Void, Never>? = lock.withLock {
            guard let w = waiter else { pending = true; return nil }
            waiter = nil
            return w.continuation
        }
        c?.resume()
    }

    func wait(until deadline: Date) async {
        let token: Int? = lock.withLock {
            if pending { pending = false; return nil }
            nextToken += 1
            return nextToken
        }
        guard let token else { return }
        let delay = deadline.timeIntervalSinceNow
        guard delay > 0, !Task.isCancelled else { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(min(delay, 1e7) * 1e9))
            self?.fire(token)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = lock.withLock {
                    if pending || firedToken == token { pending = false; return true }
                    waiter = (token, c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.fire(token)
        }
        timer.cancel()
    }

    private func fire(_ token: Int) {
        let c: CheckedContinuation<Void, Never>? = lock.withLock {
            guard let w = waiter, w.token == token else { firedToken = token; return nil }
            waiter = nil
            return w.continuation
        }
        c?.resume()
    }
}
