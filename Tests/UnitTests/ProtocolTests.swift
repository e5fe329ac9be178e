import Foundation
import JMAP
import TestSupport
import Testing
import Transport

/// A fake server: a Session with small limits, and `/get` answered from the ids asked for.
func recordedServer(maxObjectsInGet: Int = 3, maxCallsInRequest: Int = 2, sessionStates: [String] = ["s1"]) -> RecordingTransport {
    let lock = NSLock()
    nonisolated(unsafe) var sessionFetches = 0
    return RecordingTransport { request in
        let url = request.url
        if url.path == "/session" {
            let state = lock.withLock { () -> String in
                defer { sessionFetches += 1 }
                return sessionStates[min(sessionFetches, sessionStates.count - 1)]
            }
            return sessionResponse(url: url, state: state, maxObjectsInGet: maxObjectsInGet, maxCallsInRequest: maxCallsInRequest)
        }
        let body = RecordingTransport.body(request)
        var responses: [JSONValue] = []
        for call in body?["methodCalls"]?.arrayValue ?? [] {
            let name = call.arrayValue?[0].stringValue ?? ""
            let args = call.arrayValue?[1] ?? [:]
            let callId = call.arrayValue?[2] ?? ""
            let ids = args["ids"]?.arrayValue ?? []
            if name == "Email/changes" {
                responses.append(["error", ["type": "cannotCalculateChanges"], callId])
            } else {
                let list = ids.map { id -> JSONValue in ["id": id, "subject": .string("s-\(id.stringValue ?? "")")] }
                responses.append([.string(name), ["accountId": "A", "state": "st", "list": .array(list), "notFound": []], callId])
            }
        }
        return RecordingTransport.json(["methodResponses": .array(responses), "sessionState": .string(sessionStates.last!)], url: url)
    }
}

func sessionResponse(url: URL, state: String = "s1", maxObjectsInGet: Int = 500, maxCallsInRequest: Int = 16) -> HTTPResponse {
    RecordingTransport.json([
        "apiUrl": "/api/", "downloadUrl": "/d/{accountId}/{blobId}/{name}?accept={type}", "uploadUrl": "/u/{accountId}/",
        "state": .string(state), "username": "u", "accounts": ["A": ["name": "A", "accountCapabilities": [:]]],
        "capabilities": ["urn:ietf:params:jmap:core": ["maxObjectsInGet": .int(Int64(maxObjectsInGet)),
                                                      "maxCallsInRequest": .int(Int64(maxCallsInRequest))]],
    ], url: url)
}

@Suite("Protocol layer with recorded exchanges")
struct ProtocolTests {
    @Test("/get of more ids than maxObjectsInGet is split into calls, and calls into requests")
    func getIsSplit() async throws {
        let transport = recordedServer(maxObjectsInGet: 3, maxCallsInRequest: 2)
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: transport)
        let ids = (1...7).map { "e\($0)" }
        let result = try await client.get("Email", accountId: "A", ids: ids, properties: ["subject"], using: [Capability.mail])
        #expect(result.list.compactMap { $0["id"]?.stringValue }.sorted() == ids.sorted())
        #expect(result.state == "st")
        let apiRequests = transport.requests.filter { $0.url.path == "/api" }
        #expect(apiRequests.count == 2)  // 3 calls (3+3+1 ids), at most 2 per request
        let calls = apiRequests.flatMap { RecordingTransport.body($0)?["methodCalls"]?.arrayValue ?? [] }
        #expect(calls.count == 3)
        #expect(calls.map { $0.arrayValue?[1]["ids"]?.arrayValue?.count ?? 0 }.sorted() == [1, 3, 3])
        for call in calls { #expect(call.arrayValue?[1]["properties"] == ["subject"]) }
    }

    @Test("result references are sent as #name with resultOf/name/path")
    func referenceEncoding() throws {
        var request = Request(using: [Capability.mail])
        let changes = request.add("Email/changes", ["accountId": "A", "sinceState": "x"])
        request.add("Email/get", ["accountId": "A"], references: ["ids": changes.reference(ResultReference.pointer("created"))])
        let args = request.calls[1].arguments
        #expect(args["ids"] == nil)
        #expect(args["#ids"] == ["resultOf": "c0", "name": "Email/changes", "path": "/created"])
        #expect(ResultReference.pointer("a/b", "m~n", "*") == "/a~1b/m~0n/*")
        #expect(request.using.contains(Capability.core))
    }

    @Test("a request too long for maxCallsInRequest is split only where no reference crosses")
    func requestSplitting() async throws {
        let transport = recordedServer(maxCallsInRequest: 2)
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: transport)
        var independent = Request(using: [Capability.mail])
        for i in 0..<5 { independent.add("Mailbox/get", ["accountId": "A", "ids": [.string("m\(i)")]]) }
        let r = try await client.send(independent)
        #expect(r.methodResponses.count == 5)
        #expect(transport.requests.filter { $0.url.path == "/api" }.count == 3)

        var linked = Request(using: [Capability.mail])
        let a = linked.add("Mailbox/query", ["accountId": "A"])
        linked.add("Mailbox/get", ["accountId": "A", "ids": []])
        linked.add("Mailbox/get", ["accountId": "A"], references: ["ids": a.reference("/ids")])
        await #expect {
            _ = try await client.send(linked)
        } throws: { error in
            guard case let JMAPError.limitExceeded(limit, value, maximum) = error else { return false }
            return limit == "maxCallsInRequest" && value == 3 && maximum == 2
        }
    }

    @Test("a method error is typed and names method, call and account")
    func methodError() async throws {
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none,
                                                  transport: recordedServer())
        var request = Request(using: [Capability.mail])
        let call = request.add("Email/changes", ["accountId": "A", "sinceState": "old"])
        let response = try await client.send(request)
        #expect {
            _ = try response.result(of: call)
        } throws: { error in
            guard case let JMAPError.method(e) = error else { return false }
            return e.type == MethodError.cannotCalculateChanges && e.method == "Email/changes" && e.accountId == "A"
                && "\(error)".contains("Email/changes") && "\(error)".contains("account A")
        }
    }

    @Test("a changed sessionState makes the client fetch the Session again")
    func sessionRefresh() async throws {
        let transport = recordedServer(sessionStates: ["s1", "s2"])
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: transport)
        #expect(await client.session.state == "s1")
        var request = Request(using: [Capability.mail])
        request.add("Mailbox/get", ["accountId": "A", "ids": []])
        _ = try await client.send(request)
        #expect(await client.session.state == "s2")
        #expect(transport.requests.filter { $0.url.path == "/session" }.count == 2)
    }

    @Test("request-level problems are decoded with their limit")
    func problemDetails() async throws {
        let transport = RecordingTransport { request in
            if request.url.path == "/session" { return sessionResponse(url: request.url) }
            return RecordingTransport.json(["type": "urn:ietf:params:jmap:error:limit", "status": 400, "limit": "maxSizeRequest",
                                            "detail": "too big"], status: 400, url: request.url)
        }
        let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: transport)
        var request = Request(using: [Capability.mail])
        request.add("Mailbox/get", ["accountId": "A"])
        await #expect {
            _ = try await client.send(request)
        } throws: { error in
            guard case let JMAPError.problem(_, p) = error else { return false }
            return p.type == "urn:ietf:params:jmap:error:limit" && p.limit == "maxSizeRequest" && p.status == 400
        }
    }

    @Test("session URL from a URL, a host, an e-mail address", arguments: [
        ("https://api.fastmail.com/jmap/session", "https://api.fastmail.com/jmap/session"),
        ("https://mail.example.com", "https://mail.example.com/.well-known/jmap"),
        ("https://mail.example.com/", "https://mail.example.com/.well-known/jmap"),
        ("mail.example.com", "https://mail.example.com/.well-known/jmap"),
        ("me@example.com", "https://example.com/.well-known/jmap"),
        ("example.com:8443", "https://example.com:8443/.well-known/jmap"),
    ])
    func sessionURLs(input: String, expected: String) throws {
        #expect(try JMAPClient.sessionURL(for: input).absoluteString == expected)
    }

    @Test("loopback hosts may use plain http for discovery only when allowed")
    func loopbackDiscovery() throws {
        #expect(try JMAPClient.sessionURL(for: "127.0.0.1:8080", plainHTTPForLoopback: true).absoluteString
            == "http://127.0.0.1:8080/.well-known/jmap")
        #expect(try JMAPClient.sessionURL(for: "example.com", plainHTTPForLoopback: true).scheme == "https")
        #expect(throws: JMAPError.self) { try JMAPClient.sessionURL(for: "ftp://example.com/x") }
        #expect(throws: JMAPError.self) { try JMAPClient.sessionURL(for: "") }
    }

    @Test("relative Session URLs resolve against the session URL; templates are percent-encoded")
    func relativeURLs() throws {
        let s = try Fixtures.session(Fixtures.json("cyrus-3.10-session.json"), url: "http://127.0.0.1:9/jmap")
        #expect(s.apiURL.absoluteString == "http://127.0.0.1:9/jmap/")
        #expect(s.downloadURL(accountId: "alice", blobId: "G1", type: "message/rfc822", name: "a/b c")?.absoluteString
            == "http://127.0.0.1:9/jmap/download/alice/G1/a%2Fb%20c?accept=message%2Frfc822")
        #expect(s.uploadURL(accountId: "alice")?.absoluteString == "http://127.0.0.1:9/jmap/upload/alice/")
        #expect(s.coreLimits.maxObjectsInGet == 4096 && s.coreLimits.maxCallsInRequest == 50)
    }

    @Test("a Session without the core capability is refused with a reason")
    func notASession() {
        #expect(throws: JMAPError.self) { try Fixtures.session(["apiUrl": "/x"]) }
    }

    @Test("encoding is stable, sorted, escaped, and reads back as the same value")
    func encoding() throws {
        let v: JSONValue = ["b": [1, .double(2.5), true, nil], "a": "q\"uote\\ \n\t\u{1} é 日本 /", "c": ["z": -7, "y": [:]]]
        let text = String(decoding: v.encoded(), as: UTF8.self)
        #expect(text == #"{"a":"q\"uote\\ \n\t\u0001 é 日本 /","b":[1,2.5,true,null],"c":{"y":{},"z":-7}}"#)
        #expect(try JSONValue.decode(v.encoded()) == v)
        #expect(try JSONSerialization.jsonObject(with: v.encoded()) is [String: Any])
    }

    @Test("unknown JSON survives a decode/encode round trip")
    func unknownJSONKept() throws {
        let text = #"{"id":"M1","x-vendor":{"n":[1,2.5,true,null,"s"]},"big":9007199254740991}"#
        let v = try JSONValue.decode(Data(text.utf8))
        #expect(try JSONValue.decode(v.encoded()) == v)
        #expect(v["big"]?.intValue == 9_007_199_254_740_991)
        #expect(v["x-vendor"]?["n"]?.arrayValue?.count == 5)
    }
}

