import Foundation

/// An `flock(2)` on a file (created 0600 if missing), held for the life of the value: the
/// mirror's one-writer lock, and the search index's rebuild-or-updates lock.
public final class FileLock: Sendable {
    private let descriptor: Int32

    /// nil when `wait` is false and a conflicting lock is held.
    public init?(path: String, exclusive: Bool, wait: Bool) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(path: path, message: String(cString: strerror(errno))) }
        guard flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)) == 0 else {
            close(fd)
            return nil
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}
