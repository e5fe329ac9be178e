import Archive
import Foundation
import GRDB
import History
import JMAP
import Logging
import Replay
import Search
import Store
import Sync
import Transport

/// Turns a configured account into an authenticated JMAP client.
public enum Connector {
    public static func transport(for account: AccountConfig, logger: Logger) -> CurlHTTPClient {
        var options = TransportOptions()
        options.allowInsecureLoopbackHTTP = account.allowInsecureHTTP
        options.connectTimeout = account.timeout
        options.idleTimeout = account.timeout
        return CurlHTTPClient(options: options, logger: logger)
    }

    public static func connect(_ account: AccountConfig, logger: Logger, cached: Session? = nil,
                               warn: (String) -> Void = { _ in }) async throws -> JMAPClient {
        let secret = try SecretReader.read(account, warn: warn)
        let credentials: Credentials = account.auth == .basic
            ? .basic(username: account.username, password: secret) : .bearer(token: secret)
        return try await JMAPClient.connect(to: account.url, credentials: credentials,
                                            transport: transport(for: account, logger: logger),
                                            plainHTTPForLoopback: account.allowInsecureHTTP, cached: cached, logger: logger)
    }
}

/// The Session kept between runs of `jmirror sync`, so a run with nothing to do makes one request,
/// not two. Kept per account and keyed by the configured URL and user name: another server or user
/// means a fresh Session.
public enum SessionKeeper {
    static func source(_ account: AccountConfig) -> String { account.url + "\n" + account.username }

    public static func kept(_ account: AccountConfig, in store: MirrorStore) -> Session? {
        guard let kept = try? store.catalog.keptSession(account: account.name, source: source(account)),
              let url = URL(string: kept.sessionURL), let json = try? JSONValue.decode(kept.json) else { return nil }
        return try? Session(json: json, sessionURL: url)
    }

    /// Stores the client's Session when it differs from what was kept.
    public static func keep(_ client: JMAPClient, _ account: AccountConfig, in store: MirrorStore, previous: Session?) async throws {
        let session = await client.session
        if let previous, previous.raw == session.raw, previous.sessionURL == session.sessionURL { return }
        try store.catalog.keepSession(account: account.name, source: source(account), sessionURL: session.sessionURL.absoluteString,
                                      json: session.raw.encoded())
    }
}

/// What a failure means for the exit code, and a one-line kind for `--json`.
public enum ErrorClassifier {
    public static func status(for error: Error) -> ExitStatus {
        switch error {
        case is ConfigError, is SecretError: return .usage
        case is SafetyGuardError: return .safetyGuard
        case is ReplayError, is SearchError, is QueryError, is MessageText.Failure: return .usage
        case is StoreError: return .localIO
        case let e as HistoryError: return e.kind == .damaged ? .damaged : .usage
        case let e as ArchiveError:
            switch e.kind {
            case .damaged: return .damaged
            case .usage: return .usage
            case .io: return .localIO
            }
        case let e as JMAPError:
            switch e {
            case .authentication: return .authentication
            case .tls: return .tls
            case .insecureURL: return .usage
            case let .transport(_, _, retryable): return retryable ? .unavailable : .localIO
            case .discovery: return .unavailable
            case .http(_, let status, _) where status >= 500: return .unavailable
            default: return .protocolError
            }
        case is CancellationError: return .interrupted
        case is CocoaError, is POSIXError, is DatabaseError: return .localIO
        default: return .partialFailure
        }
    }

    /// One plain line a user can act on: the path and the cause, never a raw NSError dump.
    public static func message(for error: Error) -> String {
        switch error {
        case let e as CocoaError:
            let path = e.filePath ?? e.url?.path ?? (e.userInfo[NSFilePathErrorKey] as? String)
            let underlying = (e.underlying ?? e.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
            let cause = underlying.map { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : $0.localizedDescription }
                ?? e.localizedDescription
            return (path.map { "\($0): " } ?? "") + cause
        case let e as POSIXError:
            return String(cString: strerror(e.code.rawValue))
        case let e as DatabaseError:
            return "the catalog: " + (e.message ?? "\(e.resultCode)")
        default:
            return "\(error)"
        }
    }

    /// The exit status a `kind` stands for (the inverse of `kind(for:)`).
    public static func status(forKind kind: String) -> ExitStatus {
        switch kind {
        case "config": return .usage
        case "authentication": return .authentication
        case "unreachable": return .unavailable
        case "protocol": return .protocolError
        case "local-io": return .localIO
        case "interrupted": return .interrupted
        case "safety-guard": return .safetyGuard
        case "damaged": return .damaged
        case "tls": return .tls
        default: return .partialFailure
        }
    }

    public static func kind(for error: Error) -> String {
        switch status(for: error) {
        case .usage: return "config"
        case .authentication: return "authentication"
        case .unavailable: return "unreachable"
        case .protocolError: return "protocol"
        case .localIO: return "local-io"
        case .interrupted: return "interrupted"
        case .safetyGuard: return "safety-guard"
        case .damaged: return "damaged"
        case .tls: return "tls"
        default: return "error"
        }
    }
}
