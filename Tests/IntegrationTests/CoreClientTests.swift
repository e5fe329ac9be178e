import Digest
import Foundation
import JMAP
import TestSupport
import Testing
import Transport

extension Integration {
    @Suite("JMAP core against the real Cyrus")
    struct CoreClientTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("discovery from a bare host follows /.well-known/jmap's redirect and resolves relative URLs")
        func discoveryFromHost() async throws {
            let client = try await JMAPClient.connect(
                to: server.hostPort, credentials: .basic(username: "alice", password: server.password("alice")),
                transport: TestServer.transport(), plainHTTPForLoopback: true)
            let session = await client.session
            #expect(session.username == "alice")
            #expect(session.sessionURL.path == "/jmap")  // where the 301 led
            #expect(session.apiURL.absoluteString == server.httpBase.absoluteString + "/jmap/")
            #expect(session.accounts["alice"] != nil)
            #expect(session.primaryAccounts[Capability.mail] == "alice")
            let download = try #require(session.downloadURL(accountId: "alice", blobId: "Gabc", type: "text/plain", name: "a b"))
            #expect(download.absoluteString.hasPrefix(server.httpBase.absoluteString + "/jmap/download/alice/Gabc/a%20b"))
            #expect(download.absoluteString.hasSuffix("accept=text%2Fplain"))
        }

        @Test("a URL without a path discovers too; the transport spoke HTTP/2 (h2c upgrade)")
        func discoveryFromURL() async throws {
            let transport = TestServer.transport()
            let client = try await JMAPClient.connect(
                to: server.httpBase.absoluteString + "/", credentials: .basic(username: "bob", password: server.password("bob")),
                transport: transport)
            #expect(await client.session.username == "bob")
            let r = try await transport.perform(HTTPRequest(url: server.httpBase.appendingPathComponent("jmap"),
                                                            credentials: .basic(username: "bob", password: server.password("bob"))),
                                                sink: .memory(limit: 1 << 20))
            #expect(r.status == 200)
            #expect(r.httpVersion == "2")
        }

        @Test("a wrong password is a typed authentication error")
        func wrongPassword() async throws {
            await #expect {
                _ = try await JMAPClient.connect(to: server.httpBase.absoluteString + "/jmap",
                                                 credentials: .basic(username: "alice", password: "not-the-password"),
                                                 transport: TestServer.transport())
            } throws: { error in
                guard case let JMAPError.authentication(_, status, _) = error else { return false }
                return status == 401 && !"\(error)".contains("not-the-password")
            }
        }

        @Test("several calls linked by result references run in one request")
        func resultReferences() async throws {
            let client = try await server.client()
            var request = Request(using: [Capability.mail])
            let query = request.add("Mailbox/query", ["accountId": "alice"])
            let get = request.add("Mailbox/get", ["accountId": "alice", "properties": ["name", "role"]],
                                  references: ["ids": query.reference("/ids")])
            let before = await client.requestCount
            let response = try await client.send(request)
            #expect(await client.requestCount == before + 1)
            let ids = try response.result(of: query)["ids"]?.arrayValue ?? []
            let list = try response.result(of: get)["list"]?.arrayValue ?? []
            #expect(ids.count == list.count)
            let roles = Set(list.compactMap { $0["role"]?.stringValue })
            #expect(roles.isSuperset(of: ["inbox", "sent", "drafts", "trash", "junk", "archive"]))
        }

        @Test("a bogus sinceState comes back as a typed error naming the call and account")
        func bogusSinceState() async throws {
            let client = try await server.client()
            var request = Request(using: [Capability.mail])
            let changes = request.add("Email/changes", ["accountId": "alice", "sinceState": "no-such-state", "maxChanges": 10])
            let get = request.add("Email/get", ["accountId": "alice"], references: ["ids": changes.reference("/created")])
            let response = try await client.send(request)
            #expect {
                _ = try response.result(of: changes)
            } throws: { error in
                guard case let JMAPError.method(e) = error else { return false }
                return e.method == "Email/changes" && e.callId == changes.callId && e.accountId == "alice"
                    && [MethodError.invalidArguments, MethodError.cannotCalculateChanges].contains(e.type)
            }
            // The back-referencing call fails too, and says so.
            #expect(throws: JMAPError.self) { _ = try response.result(of: get) }
        }

        @Test("a 50 MB blob uploaded and downloaded is identical, with the right SHA-256, without holding it in memory")
        func largeBlobRoundTrip() async throws {
            let client = try await server.client("carol")
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-blob-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let source = dir + "/source.bin"
            // 50 MiB of non-repeating bytes, written in 1 MiB pieces.
            FileManager.default.createFile(atPath: source, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: source))
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<50 {
                var chunk = [UInt8](repeating: 0, count: 1 << 20)
                for i in stride(from: 0, to: chunk.count, by: 8) {
                    withUnsafeBytes(of: generator.next() as UInt64) { chunk.replaceSubrange(i..<i + 8, with: $0) }
                }
                handle.write(Data(chunk))
            }
            try handle.close()
            let expected = try SHA256Hasher.hex(ofFileAt: source)

            resetPeakRSS()
            let baseline = peakRSS()
            let uploaded = try await client.upload(accountId: "carol", file: source, type: "application/octet-stream")
            #expect(uploaded.size == 50 << 20)
            let downloaded = try await client.download(accountId: "carol", blobId: uploaded.blobId, into: dir)
            let growth = peakRSS() - baseline

            #expect(downloaded.size == 50 << 20)
            #expect(downloaded.sha256 == expected.sha256)
            #expect(try SHA256Hasher.hex(ofFileAt: downloaded.temporaryPath).sha256 == expected.sha256)
            #expect(FileManager.default.contentsEqual(atPath: source, andPath: downloaded.temporaryPath))
            // Holding the blob would cost 50 MiB at least once; streaming costs a few buffers.
            #expect(growth < 24 << 20, "peak RSS grew by \(growth >> 20) MiB moving a 50 MiB blob")
        }

        @Test("an upload above maxSizeUpload is refused before sending")
        func uploadLimit() async throws {
            let transport = RecordingTransport { request in
                let url = request.url
                return RecordingTransport.json([
                    "apiUrl": "/api/", "downloadUrl": "/d/{accountId}/{blobId}", "uploadUrl": "/u/{accountId}",
                    "state": "1", "username": "u", "accounts": ["A": ["name": "A"]],
                    "capabilities": [.init(stringLiteral: Capability.core): ["maxSizeUpload": 10]],
                ], url: url)
            }
            let client = try await JMAPClient.connect(to: "https://example.test/session", credentials: .none, transport: transport)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("jm-\(UUID().uuidString)").path
            FileManager.default.createFile(atPath: file, contents: Data(count: 11))
            defer { unlink(file) }
            await #expect {
                _ = try await client.upload(accountId: "A", file: file, type: "application/octet-stream")
            } throws: { error in
                guard case let JMAPError.limitExceeded(limit, value, maximum) = error else { return false }
                return limit == "maxSizeUpload" && value == 11 && maximum == 10
            }
            #expect(transport.requests.count == 1)  // the Session only
        }
    }
}

extension Integration {
    @Suite("Retries through a fault-injecting proxy in front of the real Cyrus")
    struct RetryTests {
        let server: TestServer

        init() throws { server = try TestServer.load() }

        @Test("503 with Retry-After is retried after the delay the server asked for", arguments: [503, 429])
        func retryAfterHonoured(status: Int) async throws {
            let proxy = try FaultProxy(upstream: server.httpBase, fail: 2, status: status, retryAfter: "1")
            let started = Date()
            let client = try await JMAPClient.connect(
                to: proxy.url.absoluteString + "/jmap", credentials: .basic(username: "alice", password: server.password("alice")),
                transport: TestServer.transport(retry: RetryPolicy(maxAttempts: 5, baseDelay: 0.01, maxDelay: 0.05)))
            let elapsed = Date().timeIntervalSince(started)
            #expect(await client.session.username == "alice")
            #expect(try await proxy.requestCount() == 3)
            // Our own backoff would have waited ~0.02 s; Retry-After: 1 twice means ≥ 2 s.
            #expect(elapsed >= 2.0, "retried after \(elapsed) s")
        }

        @Test("a 401 is permanent: sent once, never retried")
        func unauthorizedNotRetried() async throws {
            let proxy = try FaultProxy(upstream: server.httpBase)
            await #expect(throws: JMAPError.self) {
                _ = try await JMAPClient.connect(
                    to: proxy.url.absoluteString + "/jmap", credentials: .basic(username: "alice", password: "wrong"),
                    transport: TestServer.transport())
            }
            #expect(try await proxy.requestCount() == 1)
        }

        @Test("retries stop after maxAttempts and surface the server's status")
        func retriesExhausted() async throws {
            let proxy = try FaultProxy(upstream: server.httpBase, fail: 100, status: 503)
            await #expect {
                _ = try await JMAPClient.connect(
                    to: proxy.url.absoluteString + "/jmap", credentials: .basic(username: "alice", password: server.password("alice")),
                    transport: TestServer.transport(retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01, maxDelay: 0.02)))
            } throws: { error in
                if case JMAPError.problem(_, let p) = error { return p.status == 503 }
                if case JMAPError.http(_, 503, _) = error { return true }
                return false
            }
            #expect(try await proxy.requestCount() == 3)
        }

        @Test("Basic and Bearer credentials reach the server as RFC 7617 and RFC 6750 say", arguments: [
            (Credentials.basic(username: "me@example.com", password: "pä:ss"), "Basic " + Data("me@example.com:pä:ss".utf8).base64EncodedString()),
            (Credentials.bearer(token: "tok-123.abc"), "Bearer tok-123.abc"),
        ])
        func credentialsOnTheWire(credentials: Credentials, expected: String) async throws {
            let proxy = try FaultProxy(upstream: server.httpBase)
            let r = try await TestServer.transport().perform(
                HTTPRequest(url: proxy.url.appendingPathComponent("__echo"), credentials: credentials), sink: .memory(limit: 1 << 16))
            #expect(try JSONValue.decode(r.body)["authorization"]?.stringValue == expected)
        }

        @Test("no compression is asked for over loopback, where it only costs the server CPU")
        func noCompressionOnLoopback() async throws {
            let proxy = try FaultProxy(upstream: server.httpBase)
            let r = try await TestServer.transport().perform(HTTPRequest(url: proxy.url.appendingPathComponent("__echo")),
                                                             sink: .memory(limit: 1 << 16))
            #expect(try JSONValue.decode(r.body)["acceptEncoding"]?.isNull ?? true)
        }

        @Test("a refused connection is a retryable transport error")
        func connectionRefused() async throws {
            let port = 1  // nothing listens on tcpmux on loopback
            await #expect {
                _ = try await JMAPClient.connect(to: "http://127.0.0.1:\(port)/jmap", credentials: .none,
                                                 transport: TestServer.transport(retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.01)))
            } throws: { error in
                guard case let JMAPError.transport(_, _, retryable) = error else { return false }
                return retryable
            }
        }
    }
}
