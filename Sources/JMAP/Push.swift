import Foundation
import Transport

/// One event of a `text/event-stream` (WHATWG HTML, "Server-sent events", event stream
/// interpretation): what RFC 8620 §7.3 push is carried in.
public struct ServerSentEvent: Equatable, Sendable {
    public var type: String
    public var data: String
    /// The last event id seen so far (ids persist across events, as the standard says).
    public var id: String?

    public init(type: String, data: String, id: String?) {
        self.type = type
        self.data = data
        self.id = id
    }
}

/// Turns chunks of an event stream, cut anywhere, into events.
public struct EventStreamParser: Sendable {
    private var line: [UInt8] = []
    private var skipLF = false
    private var started = false
    private var type = ""
    private var data = ""
    private var hasData = false
    public private(set) var lastEventId: String?

    public init() {}

    public mutating func feed(_ chunk: Data) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in chunk {
            if skipLF {
                skipLF = false
                if byte == 10 { continue }
            }
            if byte == 10 || byte == 13 {
                skipLF = byte == 13
                if let e = endLine() { events.append(e) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine() -> ServerSentEvent? {
        var text = String(decoding: line, as: UTF8.self)
        line.removeAll(keepingCapacity: true)
        if !started {
            started = true
            if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        }
        if text.isEmpty {
            defer { type = ""; data = ""; hasData = false }
            guard hasData else { return nil }
            return ServerSentEvent(type: type.isEmpty ? "message" : type, data: data, id: lastEventId)
        }
        if text.hasPrefix(":") { return nil }
        var field = text
        var value = ""
        if let colon = text.firstIndex(of: ":") {
            field = String(text[..<colon])
            value = String(text[text.index(after: colon)...])
            if value.hasPrefix(" ") { value.removeFirst() }
        }
        switch field {
        case "event": type = value
        case "data":
            data += hasData ? "\n" + value : value
            hasData = true
        case "id" where !value.contains("\0"): lastEventId = value
        default: break  // "retry" and unknown fields: our reconnect schedule is our own
        }
        return nil
    }
}

/// What a push connection says (RFC 8620 §7.1, §7.3).
public enum PushMessage: Sendable, Equatable {
    /// The server accepted the connection (HTTP 200, headers received): push is live from here.
    case opened
    /// `changed`: account id → type name → new state string.
    case stateChange(changed: [String: [String: String]], id: String?)
    /// The server's keep-alive. `interval` as the server reported it, in seconds when it follows
    /// the RFC (some servers report milliseconds; see `PushWindow`).
    case ping(interval: Double?)
}

/// How long a push connection may stay silent before it counts as dead: two missed pings, plus
/// slack for a busy server. Connections die silently after a suspend or a network change, and a
/// dead one looks exactly like a quiet account.
public enum PushWindow {
    public static func seconds(requestedPing: Int, reported: Double?, slack: Double = 5) -> Double {
        var interval = Double(requestedPing)
        if let reported, reported > 0 {
            // RFC 8620 says seconds; Stalwart sends milliseconds. Nobody pings once an hour.
            let seconds = reported > 3600 ? reported / 1000 : reported
            interval = max(interval, seconds)
        }
        return interval * 2 + slack
    }
}

extension JMAPClient {
    /// Opens the Session's EventSource (RFC 8620 §7.3) for every type, never closing after a
    /// change, with pings every `ping` seconds. Nil when the server offers no EventSource. The
    /// stream ends when the server closes it; it throws on an HTTP error (an authentication
    /// failure as `.authentication`). Cancelling the consuming task closes the connection.
    public func openPush(ping: Int, lastEventId: String?) -> AsyncThrowingStream<PushMessage, Error>? {
        guard let template = session.eventSourceURLTemplate,
              let url = URL(string: template.replacingOccurrences(of: "{types}", with: "*")
                  .replacingOccurrences(of: "{closeafter}", with: "no")
                  .replacingOccurrences(of: "{ping}", with: String(ping)), relativeTo: session.sessionURL)?.absoluteURL
        else { return nil }
        var headers = [("Accept", "text/event-stream"), ("Cache-Control", "no-cache")]
        if let lastEventId { headers.append(("Last-Event-ID", lastEventId)) }
        let request = HTTPRequest(method: "GET", url: url, headers: headers, credentials: credentials)
        let transport = self.transport
        return AsyncThrowingStream { continuation in
            let parser = LockedParser()
            let task = Task {
                do {
                    let response = try await JMAPClient.perform(transport, request, sink: .stream({ chunk in
                        if chunk.isEmpty {
                            continuation.yield(.opened)
                            return
                        }
                        for event in parser.feed(chunk) {
                            if let message = PushMessage(event) { continuation.yield(message) }
                        }
                    }))
                    if response.status >= 300 || response.status == 204 {
                        try JMAPClient.check(response, url: url)
                        throw JMAPError.unsupported("push: the EventSource at \(url.absoluteString) answered HTTP \(response.status) with no stream")
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

private final class LockedParser: @unchecked Sendable {
    private let lock = NSLock()
    private var parser = EventStreamParser()
    func feed(_ chunk: Data) -> [ServerSentEvent] { lock.withLock { parser.feed(chunk) } }
}

extension PushMessage {
    /// Nil for events that are not push messages (or not JSON): they are ignored, as RFC 8620 asks
    /// of unknown event types.
    init?(_ event: ServerSentEvent) {
        guard let json = try? JSONValue.decode(Data(event.data.utf8)) else { return nil }
        switch event.type {
        case "state":
            guard let changed = json["changed"]?.objectValue else { return nil }
            var result: [String: [String: String]] = [:]
            for (account, types) in changed {
                result[account] = (types.objectValue ?? [:]).compactMapValues(\.stringValue)
            }
            self = .stateChange(changed: result, id: event.id)
        case "ping":
            self = .ping(interval: json["interval"].flatMap { v -> Double? in if case let .double(d) = v { return d }; return v.intValue.map(Double.init) })
        default:
            return nil
        }
    }
}
