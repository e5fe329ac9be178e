/// Process exit codes, documented in the README. Scripts rely on them.
public enum ExitStatus: Int32, Sendable, Codable {
    case success = 0
    /// The run finished, but some items failed; it says which.
    case partialFailure = 1
    /// Bad arguments or configuration (EX_USAGE).
    case usage = 64
    /// The server answered something we cannot use (EX_PROTOCOL).
    case protocolError = 76
    /// The server could not be reached (EX_UNAVAILABLE).
    case unavailable = 69
    /// Wrong credentials (EX_NOPERM).
    case authentication = 77
    /// The safety guard refused to delete local data.
    case safetyGuard = 65
    /// Stored or archived data is damaged: a corrupt or missing object (`check`), an archive that
    /// is truncated, damaged or of a newer format (EX_NOINPUT: the input cannot be used).
    case damaged = 66
    /// Local I/O failed: disk full, permissions (EX_IOERR).
    case localIO = 74
    /// TLS failed: the server's certificate did not verify, or the handshake failed. Never
    /// retried, never ignored; not a local I/O problem, not a passing outage either.
    case tls = 79
    /// SIGINT or SIGTERM stopped the run.
    case interrupted = 130
}
