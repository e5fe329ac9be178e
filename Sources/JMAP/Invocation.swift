import Foundation

/// `[name, arguments, callId]` (RFC 8620 §3.2).
public struct Invocation: Sendable, Codable, Equatable {
    public var name: String
    public var arguments: [String: JSONValue]
    public var callId: String

    public init(name: String, arguments: [String: JSONValue], callId: String) {
        self.name = name
        self.arguments = arguments
        self.callId = callId
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        name = try c.decode(String.self)
        arguments = try c.decode([String: JSONValue].self)
        callId = try c.decode(String.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(name)
        try c.encode(arguments)
        try c.encode(callId)
    }
}

/// A pointer into an earlier call's result (RFC 8620 §3.7).
public struct ResultReference: Sendable, Equatable {
    public var resultOf: String
    public var name: String
    public var path: String

    public var json: JSONValue { ["resultOf": .string(resultOf), "name": .string(name), "path": .string(path)] }

    /// Builds a JSON Pointer from tokens, escaping `~` and `/` (RFC 6901); `*` maps over arrays.
    public static func pointer(_ tokens: String...) -> String {
        "/" + tokens.map { $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }
            .joined(separator: "/")
    }
}

/// A handle on a call added to a `Request`, used to refer to its result.
public struct Call: Sendable, Hashable {
    public let callId: String
    public let name: String

    public func reference(_ path: String) -> ResultReference {
        ResultReference(resultOf: callId, name: name, path: path)
    }
}

/// A JMAP request under construction. Calls run in order; later calls may refer to earlier ones.
public struct Request: Sendable {
    public var using: Set<String>
    public private(set) var calls: [Invocation] = []
    /// Placeholder string → file whose base64 the body carries there instead (see `base64(ofFile:)`).
    public private(set) var attachments: [String: String] = [:]

    public init(using: Set<String>) {
        self.using = using.union([Capability.core])
    }

    /// Adds a call. `references` become `#name` arguments; giving both `x` and a reference for `x`
    /// is a programming error caught here rather than by the server's `invalidArguments`.
    @discardableResult
    public mutating func add(_ name: String, _ arguments: [String: JSONValue] = [:],
                             references: [String: ResultReference] = [:]) -> Call {
        var args = arguments
        for (key, ref) in references {
            precondition(args[key] == nil, "\(name): argument \(key) given both directly and by reference")
            args["#" + key] = ref.json
        }
        let id = "c\(calls.count)"
        calls.append(Invocation(name: name, arguments: args, callId: id))
        return Call(callId: id, name: name)
    }

    /// A string argument holding the base64 of a file (RFC 9404 `data:asBase64`), written into the
    /// request body straight from the file: a batch of messages never sits in memory as strings.
    public mutating func base64(ofFile path: String) -> JSONValue {
        let placeholder = "\u{1}jmirror-file-\(attachments.count)\u{1}"
        attachments[placeholder] = path
        return .string(placeholder)
    }

    func body() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(Body(using: using.sorted(), methodCalls: calls))
    }

    struct Body: Codable {
        var using: [String]
        var methodCalls: [Invocation]
    }

    /// The call ids a call refers to by result reference.
    static func referencedCallIds(_ call: Invocation) -> Set<String> {
        var out = Set<String>()
        for (key, value) in call.arguments where key.hasPrefix("#") {
            if let id = value["resultOf"]?.stringValue { out.insert(id) }
        }
        return out
    }

    /// Splits into requests of at most `maxCalls` calls, or nil when a reference would cross a cut.
    func split(maxCalls: Int) -> [Request]? {
        guard calls.count > maxCalls else { return [self] }
        var parts: [Request] = []
        var index = 0
        while index < calls.count {
            var part = Request(using: using)
            part.attachments = attachments
            part.calls = Array(calls[index..<min(index + maxCalls, calls.count)])
            let ids = Set(part.calls.map(\.callId))
            for call in part.calls where !Request.referencedCallIds(call).isSubset(of: ids) { return nil }
            parts.append(part)
            index += maxCalls
        }
        return parts
    }
}

public struct Response: Sendable {
    public var methodResponses: [Invocation]
    public var sessionState: String?
    /// callId → the accountId the call was sent with, so errors can say which account.
    public var accountIds: [String: String]

    public init(methodResponses: [Invocation], sessionState: String?, accountIds: [String: String] = [:]) {
        self.methodResponses = methodResponses
        self.sessionState = sessionState
        self.accountIds = accountIds
    }

    /// The first response to `call` (RFC 8620 §3.7 picks the first too), or its error as a typed
    /// `JMAPError.method`.
    public func result(of call: Call) throws -> [String: JSONValue] {
        guard let r = methodResponses.first(where: { $0.callId == call.callId }) else {
            throw JMAPError.invalidResponse(context: "\(call.name) (call \(call.callId))", reason: "no response to this call")
        }
        if r.name == "error" {
            throw JMAPError.method(MethodError(
                type: r.arguments["type"]?.stringValue ?? "serverFail",
                description: r.arguments["description"]?.stringValue,
                method: call.name, callId: call.callId,
                accountId: accountIds[call.callId], raw: .object(r.arguments)))
        }
        return r.arguments
    }
}
