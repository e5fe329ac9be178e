import Digest
import Foundation
import GRDB

// History as versioned rows. Every object the catalog holds (Mailbox, Email, and each other JMAP
// type) has versions in `version`, each valid from generation `gen_from` up to, not including,
// `gen_to` (NULL: still current). An account works in generation `history.gen`; a snapshot freezes
// that generation and the account moves on to the next. A snapshot at generation g is therefore
// every version with gen_from <= g < gen_to: recording one costs a row, and a change costs a row
// or two, whatever the size of the account. A version changed twice before the next snapshot is
// updated in place, since no snapshot can see it yet.

/// One version of one object, as a snapshot holds it.
public struct VersionRow: Sendable, Equatable {
    public var type: String
    public var id: String
    /// The server's JSON, exactly.
    public var json: Data
    /// Email: the message's SHA-256 (nil while its blob is not fetched).
    public var sha256: String?
    /// Email: size, keywords, mailboxes and receivedAt as the catalog has them.
    public var size: Int
    public var keywords: Set<String>
    public var mailboxIds: Set<String>
    public var receivedAt: Date?
    /// Every blob the object names, by blob id, with the SHA-256 it is stored under.
    public var blobs: [String: String]

    public init(type: String, id: String, json: Data, sha256: String? = nil, size: Int = 0, keywords: Set<String> = [],
                mailboxIds: Set<String> = [], receivedAt: Date? = nil, blobs: [String: String] = [:]) {
        self.type = type
        self.id = id
        self.json = json
        self.sha256 = sha256
        self.size = size
        self.keywords = keywords
        self.mailboxIds = mailboxIds
        self.receivedAt = receivedAt
        self.blobs = blobs
    }
}

/// A recorded snapshot.
public struct SnapshotRow: Sendable, Equatable, Codable {
    /// 64 hex digits; the first 8 are the short id users type.
    public var id: String
    public var account: String
    public var generation: Int64
    public var time: Date
    public var tags: [String]
    /// Objects per JMAP type.
    public var counts: [String: Int]
    /// Bytes of the message objects that no earlier snapshot referenced.
    public var bytesNew: Int64

    public init(id: String, account: String, generation: Int64, time: Date, tags: [String], counts: [String: Int], bytesNew: Int64) {
        self.id = id
        self.account = account
        self.generation = generation
        self.time = time
        self.tags = tags
        self.counts = counts
        self.bytesNew = bytesNew
    }

    public var shortId: String { String(id.prefix(8)) }
}

extension Catalog {
    static func registerHistory(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5: history") { db in
            try db.execute(sql: """
                CREATE TABLE version(account TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
                    gen_from INTEGER NOT NULL, gen_to INTEGER, sha256 TEXT, size INTEGER NOT NULL DEFAULT 0,
                    keywords TEXT NOT NULL DEFAULT '[]', mailbox_ids TEXT NOT NULL DEFAULT '[]', received_at REAL,
                    blobs TEXT NOT NULL DEFAULT '{}', json BLOB NOT NULL);
                CREATE UNIQUE INDEX version_key ON version(account, type, id, gen_from);
                CREATE INDEX version_open ON version(account, type, id) WHERE gen_to IS NULL;
                CREATE INDEX version_sha ON version(sha256) WHERE sha256 IS NOT NULL;
                CREATE INDEX version_gen ON version(account, gen_from);
                CREATE TABLE history(account TEXT PRIMARY KEY, gen INTEGER NOT NULL, changed INTEGER NOT NULL);
                CREATE TABLE snapshot(id TEXT PRIMARY KEY, account TEXT NOT NULL, gen INTEGER NOT NULL, time REAL NOT NULL,
                    tags TEXT NOT NULL, counts TEXT NOT NULL, bytes_new INTEGER NOT NULL, UNIQUE(account, gen));
                CREATE TABLE damaged(sha256 TEXT PRIMARY KEY, reason TEXT NOT NULL);
                """)
            // A mirror from before history: what it holds now becomes generation 1, recorded as a
            // snapshot by the next sync.
            try db.execute(sql: """
                INSERT INTO version(account, type, id, gen_from, json)
                    SELECT account, 'Mailbox', id, 1, json FROM mailbox;
                INSERT INTO version(account, type, id, gen_from, sha256, size, keywords, mailbox_ids, received_at, blobs, json)
                    SELECT e.account, 'Email', e.id, 1, e.sha256, e.size, e.keywords,
                        (SELECT coalesce(json_group_array(mailbox_id), '[]') FROM
                            (SELECT mailbox_id FROM membership m WHERE m.account = e.account AND m.email_id = e.id ORDER BY mailbox_id)),
                        e.received_at, CASE WHEN e.sha256 IS NULL THEN '{}' ELSE json_object(e.blob_id, e.sha256) END, e.json
                    FROM email e;
                INSERT OR IGNORE INTO history(account, gen, changed) SELECT DISTINCT account, 1, 1 FROM version;
                """)
            for r in try Row.fetchAll(db, sql: "SELECT account, type, id, json FROM item") {
                let blobs = try Catalog.resolveBlobs(db, json: r[3], origin: nil)
                try db.execute(sql: "INSERT INTO version(account, type, id, gen_from, blobs, json) VALUES (?, ?, ?, 1, ?, ?)",
                               arguments: [r[0], r[1], r[2], Catalog.encodeMap(blobs), r[3] as Data])
                try db.execute(sql: "INSERT OR IGNORE INTO history(account, gen, changed) VALUES (?, 1, 1)", arguments: [r[0]])
            }
        }
    }

    // MARK: Keeping versions (inside `apply`'s transaction)

    /// The generation `account` works in now.
    static func workingGeneration(_ db: Database, _ account: String) throws -> Int64 {
        try db.execute(sql: "INSERT OR IGNORE INTO history(account, gen, changed) VALUES (?, 1, 0)", arguments: [account])
        return try Int64.fetchOne(db, sql: "SELECT gen FROM history WHERE account = ?", arguments: [account]) ?? 1
    }

    /// Makes `value` the current version of (type, id), or ends the current one when `value` is nil.
    static func setVersion(_ db: Database, account: String, type: String, id: String, gen: Int64, _ value: VersionRow?) throws {
        let open = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT rowid, gen_from, sha256, keywords, mailbox_ids, blobs, json FROM version
            WHERE account = ? AND type = ? AND id = ? AND gen_to IS NULL
            """), arguments: [account, type, id])
        let openRow = open.map { r -> (rowid: Int64, from: Int64, same: Bool) in
            guard let v = value else { return (r[0], r[1], false) }
            let same = (r[2] as String?) == v.sha256 && (r[3] as String) == encodeSet(v.keywords)
                && (r[4] as String) == encodeSet(v.mailboxIds) && (r[5] as String) == encodeMap(v.blobs) && (r[6] as Data) == v.json
            return (r[0], r[1], same)
        }
        if let o = openRow, o.same { return }
        if let o = openRow {
            if o.from == gen {
                try db.cachedStatement(sql: "DELETE FROM version WHERE rowid = ?").execute(arguments: [o.rowid])
            } else {
                try db.cachedStatement(sql: "UPDATE version SET gen_to = ? WHERE rowid = ?").execute(arguments: [gen, o.rowid])
            }
        } else if value == nil {
            return
        }
        if let v = value { try insertVersion(db, account: account, gen: gen, v) }
        try db.cachedStatement(sql: "UPDATE history SET changed = 1 WHERE account = ?").execute(arguments: [account])
    }

    static func insertVersion(_ db: Database, account: String, gen: Int64, _ v: VersionRow) throws {
        try db.cachedStatement(sql: """
            INSERT INTO version(account, type, id, gen_from, sha256, size, keywords, mailbox_ids, received_at, blobs, json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [account, v.type, v.id, gen, v.sha256, v.size, encodeSet(v.keywords), encodeSet(v.mailboxIds),
                                     v.receivedAt?.timeIntervalSince1970, encodeMap(v.blobs), v.json])
    }

    static func version(of e: EmailRow) -> VersionRow {
        VersionRow(type: "Email", id: e.id, json: e.json, sha256: e.sha256, size: e.size, keywords: e.keywords,
                   mailboxIds: e.mailboxIds, receivedAt: e.receivedAt, blobs: e.sha256.map { [e.blobId: $0] } ?? [:])
    }

    /// Every `blobId` an object names, mapped to the SHA-256 it is stored under (where it is).
    static func resolveBlobs(_ db: Database, json: Data, origin: String?) throws -> [String: String] {
        var ids: [String] = []
        func walk(_ v: Any) {
            if let o = v as? [String: Any] {
                if let id = o["blobId"] as? String { ids.append(id) }
                for (k, x) in o where k != "blobId" { walk(x) }
            } else if let a = v as? [Any] {
                a.forEach(walk)
            }
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed]) else { return [:] }
        walk(parsed)
        var out: [String: String] = [:]
        for id in ids {
            let sha: String? = if let origin {
                try String.fetchOne(db, sql: "SELECT sha256 FROM blob_id WHERE origin = ? AND blob_id = ?", arguments: [origin, id])
            } else {
                try String.fetchOne(db, sql: "SELECT sha256 FROM blob_id WHERE blob_id = ? LIMIT 1", arguments: [id])
            }
            if let sha { out[id] = sha }
        }
        return out
    }

    static func encodeMap(_ m: [String: String]) -> String {
        JSONText.object(m)
    }

    /// `encodeMap`'s text back. Without escapes, quotes only delimit and the strings alternate
    /// name, value: cut out of the bytes directly (a JSONDecoder per row was 14% of the CPU of a
    /// replay rerun reading 10k versions); anything escaped goes through a decoder.
    static func decodeMap(_ s: String) -> [String: String] {
        var text = s
        let plain: [String: String]? = text.withUTF8 { b in
            guard b.count >= 2, b[0] == UInt8(ascii: "{"), b[b.count - 1] == UInt8(ascii: "}"),
                  !b.contains(UInt8(ascii: "\\")) else { return nil }
            var strings: [String] = []
            var i = 1
            while i < b.count - 1 {
                switch b[i] {
                case UInt8(ascii: "\""):
                    guard let close = b[(i + 1)...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                    strings.append(String(decoding: UnsafeBufferPointer(rebasing: b[(i + 1)..<close]), as: UTF8.self))
                    i = close + 1
                case UInt8(ascii: ":") where strings.count % 2 == 1, UInt8(ascii: ",") where strings.count % 2 == 0 && !strings.isEmpty:
                    i += 1
                default: return nil
                }
            }
            guard strings.count % 2 == 0 else { return nil }
            var out: [String: String] = [:]
            for k in stride(from: 0, to: strings.count, by: 2) where out[strings[k]] == nil { out[strings[k]] = strings[k + 1] }
            return out
        }
        return plain ?? (try? JSONDecoder().decode([String: String].self, from: Data(s.utf8))) ?? [:]
    }
}
