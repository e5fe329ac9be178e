import Foundation
import JMAP

/// What a failed sync means for the daemon's schedule.
public enum FailureClass: String, Sendable, Codable {
    /// Server unreachable, 5xx, a dropped connection: back off and retry.
    case transient
    /// Wrong credentials: mark the account, retry only slowly or after a reload.
    case authentication
    /// The safety guard refused deletions: pause until `jmirror sync --force ACCOUNT`.
    case safetyGuard
    /// Anything else (protocol, local I/O, configuration): back off like a transient failure,
    /// since a full disk or a server bug can pass, but say it plainly.
    case other
}

/// What one sync did, as the daemon reports it (status, metrics, the control socket).
public struct SyncReport: Sendable, Codable, Equatable {
    public var messages: Int
    public var created: Int
    public var updated: Int
    public var moved: Int
    public var destroyed: Int
    public var bytesDownloaded: Int64
    public var seconds: Double
    public var failedItems: Int
    public var snapshot: String?
    /// The line `jmirror sync` prints for it.
    public var text: String
    /// The sync's whole summary as JSON, what `jmirror sync --json` prints for it.
    public var summary: String?

    public init(messages: Int, created: Int, updated: Int, moved: Int, destroyed: Int, bytesDownloaded: Int64, seconds: Double,
                failedItems: Int, snapshot: String?, text: String, summary: String? = nil) {
        self.summary = summary
        self.messages = messages
        self.created = created
        self.updated = updated
        self.moved = moved
        self.destroyed = destroyed
        self.bytesDownloaded = bytesDownloaded
        self.seconds = seconds
        self.failedItems = failedItems
        self.snapshot = snapshot
        self.text = text
    }

    public var changes: Int { created + updated + moved + destroyed }
}

/// What the daemon needs from the rest of jmirror, per account. `Mirror` provides the real one
/// (connect, sync, snapshot); tests provide fakes to check scheduling without a server.
public protocol DaemonBackend: Sendable {
    /// One sync; `tags` go on the snapshot it records.
    func sync(account: String, force: Bool, tags: [String]) async throws -> SyncReport
    /// Nil when the account's server offers no push; otherwise a stream that ends when the
    /// connection does. Throws when the connection cannot be opened.
    func push(account: String, ping: Int, lastEventId: String?) async throws -> AsyncThrowingStream<PushMessage, Error>?
    /// Records a snapshot tagged `tag`, then applies the retention policy to the account. Returns
    /// a line saying what it did.
    func scheduledSnapshot(account: String, tag: String) async throws -> String
    /// Deletes objects no snapshot or account references any more. Runs with no sync in flight.
    func prune() async throws -> String
    /// Drops what is kept for the account between syncs (its connection, its Session), so the
    /// next sync reads its secret and connects afresh.
    func forget(account: String) async
    func classify(_ error: Error) -> (FailureClass, kind: String, message: String)
}

/// How often an account is synced and pushed.
public struct AgentSettings: Sendable, Equatable {
    /// Without push: one `/changes` round this often.
    public var pollInterval: Double = 300
    /// With push: a safety sync this often anyway.
    public var fullInterval: Double = 3600
    public var push = true
    /// Seconds between the server's pings we ask for; two missed make a connection dead.
    public var pingInterval = 30
    /// Seconds a push connection may stay silent beyond two ping intervals.
    public var pushSlack = 5.0
    /// After an authentication failure: retried this often (or on reload).
    public var authRetry: Double = 3600
    public var backoff = Backoff()
    public var snapshot: SnapshotSchedule?

    public init() {}
}
