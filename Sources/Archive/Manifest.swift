import Digest
import Foundation
import History
import Store

/// `manifest.json`, the first entry of every archive. Version 1 of jmirror's own format:
///
/// ```
/// manifest.json                      this
/// snapshots/<snapshot id>.jsonl      one line per object of the snapshot (exact server JSON inside)
/// objects/sha256/<2 hex>/<64 hex>    every blob the snapshots need that the base does not hold
/// ```
public struct Manifest: Codable, Sendable, Equatable {
    public static let formatName = "jmirror-archive"
    public static let currentVersion = 1

    public struct Snapshot: Codable, Sendable, Equatable {
        public var id: String
        public var account: String
        public var time: Double
        public var tags: [String]
        public var counts: [String: Int]
        public var bytesNew: Int64
        public var file: String
        /// SHA-256 of the snapshot's file.
        public var sha256: String
        public var objects: Int

        enum CodingKeys: String, CodingKey {
            case id, account, time, tags, counts, bytesNew, file, sha256, objects
        }
    }

    public struct Object: Codable, Sendable, Equatable {
        public var sha256: String
        public var size: Int64
        /// Held by the base archive (or its own base), not by this one.
        public var inBase: Bool

        enum CodingKeys: String, CodingKey { case sha256, size, inBase }
    }

    public var format = Manifest.formatName
    public var version = Manifest.currentVersion
    /// SHA-256 of this manifest with `id` empty: the same content always has the same id.
    public var id = ""
    public var base: String?
    public var snapshots: [Snapshot] = []
    public var objects: [Object] = []

    enum CodingKeys: String, CodingKey { case format, version, id, base, snapshots, objects }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    func sealed() throws -> Manifest {
        var m = self
        m.id = ""
        m.id = SHA256Hasher.hex(of: try Manifest.encoder().encode(m))
        return m
    }

    static func decode(_ data: Data, name: String) throws -> Manifest {
        struct Head: Decodable { var format: String?; var version: Int? }
        guard let head = try? JSONDecoder().decode(Head.self, from: data), head.format == formatName else {
            throw ArchiveError(.damaged, "\(name): not a jmirror archive (no jmirror manifest)")
        }
        guard let v = head.version, v <= currentVersion else {
            throw ArchiveError(.damaged, "\(name): archive format version \(head.version ?? 0) is newer than this jmirror reads "
                + "(\(currentVersion)); use a newer jmirror")
        }
        do {
            let m = try JSONDecoder().decode(Manifest.self, from: data)
            guard try m.sealed().id == m.id else { throw ArchiveError(.damaged, "\(name): the manifest does not match its id") }
            return m
        } catch let e as ArchiveError {
            throw e
        } catch {
            throw ArchiveError(.damaged, "\(name): damaged manifest (\(error))")
        }
    }
}

/// One object of a snapshot, as a line of its `.jsonl` file.
struct VersionLine: Codable {
    var type: String
    var id: String
    /// The server's JSON, as the exact text it sent.
    var json: String
    var sha256: String?
    var size: Int
    var keywords: [String]
    var mailboxIds: [String]
    var receivedAt: Double?
    var blobs: [String: String]

    enum CodingKeys: String, CodingKey { case type, id, json, sha256, size, keywords, mailboxIds, receivedAt, blobs }

    init(_ v: VersionRow) {
        type = v.type
        id = v.id
        json = String(decoding: v.json, as: UTF8.self)
        sha256 = v.sha256
        size = v.size
        keywords = v.keywords.sorted()
        mailboxIds = v.mailboxIds.sorted()
        receivedAt = v.receivedAt?.timeIntervalSince1970
        blobs = v.blobs
    }

    /// One line back into a version, through JSONSerialization: the Codable decoder took 40 µs a
    /// line, which was most of an import's time after its objects.
    static func row(_ line: Data) -> VersionRow? {
        guard let o = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any], let type = o["type"] as? String,
              let id = o["id"] as? String, let json = o["json"] as? String else { return nil }
        let received = (o["receivedAt"] as? NSNumber)?.doubleValue
        return VersionRow(type: type, id: id, json: Data(json.utf8), sha256: o["sha256"] as? String, size: (o["size"] as? NSNumber)?.intValue ?? 0,
                          keywords: Set(o["keywords"] as? [String] ?? []), mailboxIds: Set(o["mailboxIds"] as? [String] ?? []),
                          receivedAt: received.map(Date.init(timeIntervalSince1970:)), blobs: o["blobs"] as? [String: String] ?? [:])
    }

    /// Every line of a snapshot file, parsed on all cores (the lines are independent); nil when
    /// any line cannot be read.
    static func rows(_ body: Data) -> [VersionRow]? {
        let ranges = lineRanges(body)
        let parts = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 8)
        let results = LineResults(parts)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let slice = stride(from: part, to: ranges.count, by: parts).map { ranges[$0] }
            var rows: [VersionRow] = []
            rows.reserveCapacity(slice.count)
            for r in slice {
                guard let v = VersionLine.row(body.subdata(in: r)) else { return results.set(part, nil) }
                rows.append(v)
            }
            results.set(part, rows)
        }
        return results.joined()
    }

    static func lineRanges(_ body: Data) -> [Range<Int>] {
        body.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Range<Int>] in
            guard let base = raw.baseAddress else { return [] }
            var out: [Range<Int>] = []
            var start = 0
            while start < raw.count {
                var end = raw.count
                if let hit = memchr(base + start, 0x0A, raw.count - start) { end = UnsafeRawPointer(hit) - base }
                if end > start { out.append(start..<end) }
                start = end + 1
            }
            return out
        }
    }

    var row: VersionRow {
        VersionRow(type: type, id: id, json: Data(json.utf8), sha256: sha256, size: size, keywords: Set(keywords),
                   mailboxIds: Set(mailboxIds), receivedAt: receivedAt.map(Date.init(timeIntervalSince1970:)), blobs: blobs)
    }
}

/// Each part's rows from `VersionLine.rows`, written by one thread per part.
private final class LineResults: @unchecked Sendable {
    private var parts: [[VersionRow]?]
    private let lock = NSLock()

    init(_ n: Int) { parts = Array(repeating: [], count: n) }

    func set(_ i: Int, _ rows: [VersionRow]?) { lock.withLock { parts[i] = rows } }

    func joined() -> [VersionRow]? {
        lock.withLock {
            var out: [VersionRow] = []
            for p in parts {
                guard let p else { return nil }
                out += p
            }
            return out
        }
    }
}
