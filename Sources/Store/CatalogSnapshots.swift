import Digest
import Foundation
import GRDB

extension Catalog {
    /// Freezes the account's working generation as a snapshot and moves the account on to the
    /// next one, in one transaction. Without `force`, an account with no change since its last
    /// snapshot records nothing (nil).
    public func recordSnapshot(account: String, tags: [String], time: Date = Date(), force: Bool) throws -> SnapshotRow? {
        // A quiet sync must not pay for a write transaction (and its fsync) to learn that.
        if !force {
            let changed = try pool.read { db in
                try Bool.fetchOne(db, sql: "SELECT changed FROM history WHERE account = ?", arguments: [account]) ?? false
            }
            guard changed else { return nil }
        }
        return try pool.write { db in
            let gen = try Catalog.workingGeneration(db, account)
            let changed = try Bool.fetchOne(db, sql: "SELECT changed FROM history WHERE account = ?", arguments: [account]) ?? false
            guard changed || force else { return nil }
            var counts: [String: Int] = [:]
            // What the working generation holds is exactly the open versions (nothing starts after
            // it, and what closes in it closes at it): counted on the `version_open` index, 19 ms
            // at 100k messages instead of 89 ms for the general "valid at gen" condition.
            for r in try Row.fetchAll(db, sql: """
                SELECT type, count(*) FROM version WHERE account = ? AND gen_to IS NULL GROUP BY type
                """, arguments: [account]) { counts[r[0]] = r[1] }
            let bytesNew = try Int64.fetchOne(db, sql: """
                SELECT coalesce(sum(size), 0) FROM (SELECT DISTINCT v.sha256, v.size FROM version v
                    WHERE v.account = ? AND v.gen_from = ? AND v.sha256 IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM version o WHERE o.sha256 = v.sha256 AND (o.account != v.account OR o.gen_from < v.gen_from)))
                """, arguments: [account, gen]) ?? 0
            let seed = "\(account)\n\(gen)\n\(time.timeIntervalSince1970)\n\(UInt64.random(in: 0...UInt64.max))"
            let snap = SnapshotRow(id: SHA256Hasher.hex(of: Data(seed.utf8)), account: account, generation: gen, time: time,
                                   tags: tags, counts: counts, bytesNew: bytesNew)
            try Catalog.insert(db, snap)
            try db.execute(sql: "UPDATE history SET gen = gen + 1, changed = 0 WHERE account = ?", arguments: [account])
            return snap
        }
    }

    static func insert(_ db: Database, _ s: SnapshotRow) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try db.execute(sql: "INSERT INTO snapshot(id, account, gen, time, tags, counts, bytes_new) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: [s.id, s.account, s.generation, s.time.timeIntervalSince1970,
                                   String(decoding: try e.encode(s.tags), as: UTF8.self),
                                   String(decoding: try e.encode(s.counts), as: UTF8.self), s.bytesNew])
    }

    /// Snapshots, oldest first; of the given accounts only when `accounts` is not empty.
    public func snapshots(accounts: [String] = []) throws -> [SnapshotRow] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, account, gen, time, tags, counts, bytes_new FROM snapshot ORDER BY time, account, gen")
                .map { r in
                    SnapshotRow(id: r[0], account: r[1], generation: r[2], time: Date(timeIntervalSince1970: r[3]),
                                tags: (try? JSONDecoder().decode([String].self, from: Data((r[4] as String).utf8))) ?? [],
                                counts: (try? JSONDecoder().decode([String: Int].self, from: Data((r[5] as String).utf8))) ?? [:],
                                bytesNew: r[6])
                }
                .filter { accounts.isEmpty || accounts.contains($0.account) }
        }
    }

    /// Accounts that have history (synced here or imported).
    public func historyAccounts() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT account FROM history ORDER BY account") }
    }

    /// Accounts synced into this mirror (they have state strings, and live views).
    public func syncedAccounts() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT account FROM state WHERE account != '' ORDER BY account") }
    }

    /// Every object of `account` at `generation` (a snapshot's), or as it is now when nil.
    public func versions(account: String, generation: Int64?, types: Set<String>? = nil, skipping: String? = nil) throws -> [VersionRow] {
        let g = generation ?? Int64.max
        return try pool.read { db in
            // A cursor, not fetchAll: every row is not held twice at the peak.
            let rows = try Row.fetchCursor(db, sql: """
                SELECT type, id, json, sha256, size, keywords, mailbox_ids, received_at, blobs FROM version
                WHERE account = ? AND gen_from <= ? AND (gen_to IS NULL OR gen_to > ?) \(skipping == nil ? "" : "AND type <> ?")
                \(types.map { "AND type IN (\($0.map { _ in "?" }.joined(separator: ",")))" } ?? "") ORDER BY type, id
                """, arguments: StatementArguments([account, g, g] as [any DatabaseValueConvertible] + (skipping.map { [$0] } ?? [])
                                                   + (types.map { Array($0) } ?? [])))
            var out: [VersionRow] = []
            while let r = try rows.next() {
                let type: String = r[0]
                if let types, !types.contains(type) { continue }
                let received: Double? = r[7]
                out.append(VersionRow(type: type, id: r[1], json: r[2], sha256: r[3], size: r[4], keywords: Catalog.decodeSet(r[5]),
                                      mailboxIds: Catalog.decodeSet(r[6]), receivedAt: received.map(Date.init(timeIntervalSince1970:)),
                                      blobs: Catalog.decodeMap(r[8])))
            }
            return out
        }
    }

    /// The messages `account` held at `generation`, with the keywords and mailboxes they had then,
    /// one at a time and without their JSON: what a search of one snapshot needs of 100k messages.
    public func forEachEmailVersion(account: String, generation: Int64, _ body: (_ id: String, _ keywords: [String], _ mailboxIds: [String]) throws -> Void) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, keywords, mailbox_ids FROM version
                WHERE account = ? AND type = 'Email' AND gen_from <= ? AND (gen_to IS NULL OR gen_to > ?)
                """, arguments: [account, generation, generation])
            while let r = try rows.next() {
                try body(r[0], Catalog.decodeSortedList(r[1]), Catalog.decodeSortedList(r[2]))
            }
        }
    }

    /// The generation `account`'s history is at: it moves with every sync that changes anything.
    /// (A search index compares it with the generation it last read, so a quiet sync costs it nothing.)
    public func historyGeneration(account: String) throws -> Int64 {
        try pool.read { db in
            let r = try Row.fetchOne(db, sql: "SELECT gen, changed FROM history WHERE account = ?", arguments: [account])
            // Changes not yet in a snapshot count as a generation of their own.
            return r.map { ($0[0] as Int64) * 2 + (($0[1] as Bool) ? 1 : 0) } ?? 0
        }
    }

    /// The messages of `account` that are no longer on the server but that a kept snapshot still
    /// holds, each in its last version (what `search --history` finds), and the last version of
    /// every mailbox, so that their folders can be named.
    public func deletedEmailVersions(account: String) throws -> (emails: [VersionRow], mailboxes: [VersionRow]) {
        try pool.read { db in
            func rows(_ sql: String) throws -> [VersionRow] {
                try Row.fetchAll(db, sql: sql, arguments: [account]).map { r in
                    let received: Double? = r[7]
                    return VersionRow(type: r[0], id: r[1], json: r[2], sha256: r[3], size: r[4], keywords: Catalog.decodeSet(r[5]),
                                      mailboxIds: Catalog.decodeSet(r[6]), receivedAt: received.map(Date.init(timeIntervalSince1970:)),
                                      blobs: [:])
                }
            }
            let emails = try rows("""
                SELECT v.type, v.id, v.json, v.sha256, v.size, v.keywords, v.mailbox_ids, v.received_at FROM version v
                WHERE v.account = ?1 AND v.type = 'Email' AND v.gen_to IS NOT NULL AND v.sha256 IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM version o WHERE o.account = v.account AND o.type = 'Email' AND o.id = v.id
                                  AND (o.gen_to IS NULL OR o.gen_from > v.gen_from))
                  AND EXISTS (SELECT 1 FROM snapshot s WHERE s.account = v.account AND s.gen >= v.gen_from AND s.gen < v.gen_to)
                """)
            let mailboxes = try rows("""
                SELECT v.type, v.id, v.json, NULL, 0, '[]', '[]', NULL FROM version v
                WHERE v.account = ?1 AND v.type = 'Mailbox'
                  AND NOT EXISTS (SELECT 1 FROM version o WHERE o.account = v.account AND o.type = 'Mailbox' AND o.id = v.id
                                  AND o.gen_from > v.gen_from)
                """)
            return (emails, mailboxes)
        }
    }

    /// Every object of `account` at `generation`, one at a time in (type, id) order, without
    /// holding the whole state in memory (archive export).
    /// `type` limits it to one type.
    public func eachVersion(account: String, generation: Int64, type: String? = nil, _ body: (VersionRow) throws -> Void) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT type, id, json, sha256, size, keywords, mailbox_ids, received_at, blobs FROM version
                WHERE account = ? AND gen_from <= ? AND (gen_to IS NULL OR gen_to > ?) \(type == nil ? "" : "AND type = ?") ORDER BY type, id
                """, arguments: StatementArguments([account, generation, generation] as [any DatabaseValueConvertible] + (type.map { [$0] } ?? [])))
            while let r = try rows.next() {
                let received: Double? = r[7]
                try body(VersionRow(type: r[0], id: r[1], json: r[2], sha256: r[3], size: r[4], keywords: Catalog.decodeSet(r[5]),
                                    mailboxIds: Catalog.decodeSet(r[6]), receivedAt: received.map(Date.init(timeIntervalSince1970:)),
                                    blobs: Catalog.decodeMap(r[8])))
            }
        }
    }

    /// Adds tags to a snapshot.
    public func tagSnapshot(id: String, tags: [String]) throws {
        try pool.write { db in
            let old = try String.fetchOne(db, sql: "SELECT tags FROM snapshot WHERE id = ?", arguments: [id]) ?? "[]"
            var all = (try? JSONDecoder().decode([String].self, from: Data(old.utf8))) ?? []
            for t in tags where !all.contains(t) { all.append(t) }
            try db.execute(sql: "UPDATE snapshot SET tags = ? WHERE id = ?",
                           arguments: [String(decoding: try JSONEncoder().encode(all), as: UTF8.self), id])
        }
    }

    /// Forgets snapshots, and every version that no kept snapshot and no current state can see.
    /// One transaction: a crash leaves all of them or none.
    public func forgetSnapshots(ids: [String]) throws {
        try pool.write { db in
            for id in ids { try db.execute(sql: "DELETE FROM snapshot WHERE id = ?", arguments: [id]) }
            try db.execute(sql: """
                DELETE FROM version WHERE gen_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM snapshot s
                    WHERE s.account = version.account AND s.gen >= version.gen_from AND s.gen < version.gen_to)
                """)
        }
    }

    /// Every object the current state or any kept snapshot references: what prune must keep.
    public func referencedObjects() throws -> Set<String> {
        try pool.read { db in
            var out = Set<String>()
            for sha in try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM version WHERE sha256 IS NOT NULL") { out.insert(sha) }
            for sha in try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM email WHERE sha256 IS NOT NULL") { out.insert(sha) }
            for blobs in try String.fetchAll(db, sql: "SELECT DISTINCT blobs FROM version WHERE blobs != '{}'") {
                out.formUnion(Catalog.decodeMap(blobs).values)
            }
            return out
        }
    }

    /// A stored object was found missing or damaged: the current messages that use it lose their
    /// SHA-256 (so the next sync fetches the blob again, as after a failed download) and their
    /// views are journalled to be redone. Returns the ids of those messages, per account.
    @discardableResult
    public func markObjectDamaged(_ sha256: String, reason: String) throws -> [String: [String]] {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO damaged(sha256, reason) VALUES (?, ?)", arguments: [sha256, reason])
            var out: [String: [String]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT account, id FROM email WHERE sha256 = ?", arguments: [sha256]) {
                out[r[0], default: []].append(r[1])
                try db.execute(sql: "INSERT OR IGNORE INTO dirty_email(account, email_id) VALUES (?, ?)", arguments: [r[0], r[1]])
            }
            try db.execute(sql: "UPDATE email SET sha256 = NULL WHERE sha256 = ?", arguments: [sha256])
            // Items name blobs through blob_id: forgetting the mapping makes the next sync fetch it.
            for r in try Row.fetchAll(db, sql: "SELECT origin, blob_id FROM blob_id WHERE sha256 = ?", arguments: [sha256]) {
                try db.execute(sql: "UPDATE item SET blobs_pending = 1 WHERE json LIKE ?", arguments: ["%\"" + (r[1] as String) + "\"%"])
            }
            try db.execute(sql: "DELETE FROM blob_id WHERE sha256 = ?", arguments: [sha256])
            return out
        }
    }

    /// A damaged object leaves the store (so that a fetch can put the right bytes there) but is
    /// kept aside in `.jmirror/damaged/`, since the server may no longer have it; its messages
    /// are marked as not fetched. What `check`, the sync's scrub and the Maildir view all do.
    @discardableResult
    public func condemn(_ sha256: String, in objects: ObjectStore) throws -> [String: [String]] {
        try objects.moveAside(sha256)
        return try markObjectDamaged(sha256, reason: "object-damaged")
    }

    /// Objects marked damaged that are stored again (fetched by a sync): no longer damaged.
    public func clearRepairedDamage(present: (String) -> Bool) throws {
        try pool.write { db in
            for sha in try String.fetchAll(db, sql: "SELECT sha256 FROM damaged") where present(sha) {
                try db.execute(sql: "DELETE FROM damaged WHERE sha256 = ?", arguments: [sha])
            }
        }
    }

    public func damagedObjects() throws -> [String: String] {
        try pool.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT sha256, reason FROM damaged") { out[r[0]] = r[1] }
            return out
        }
    }

    /// The messages (account, id) whose current or kept versions use an object.
    public func users(ofObject sha256: String) throws -> [(account: String, id: String)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT DISTINCT account, id FROM version WHERE sha256 = ? ORDER BY account, id", arguments: [sha256])
                .map { ($0[0], $0[1]) }
        }
    }

    /// SQLite's own consistency check: "ok", or what is wrong.
    public func integrityCheck() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
    }

    /// Rendered Maildir paths and the message each holds, for `check`.
    public func renderedFiles(account: String) throws -> [(emailId: String, path: String, sha256: String?)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.email_id, r.path, e.sha256 FROM rendered r LEFT JOIN email e ON e.account = r.account AND e.id = r.email_id
                WHERE r.account = ? ORDER BY r.path
                """, arguments: [account]).map { ($0[0], $0[1], $0[2]) }
        }
    }

    /// Pending view work of an account (journal entries not yet done).
    public func pendingViewWork(account: String) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM dirty_email WHERE account = ?) + (SELECT count(*) FROM dirty_mailbox WHERE account = ?)
                    + (SELECT count(*) FROM dirty_view WHERE account = ?)
                """, arguments: [account, account, account]) ?? 0
        }
    }
}

extension Catalog {
    /// Adds a snapshot made elsewhere (from an archive) to the account's history: its objects
    /// become the account's versions at a new generation, sharing rows with the previous snapshot
    /// wherever an object did not change. Returns false when the snapshot is already here.
    /// Snapshots of one account must come oldest first; the caller checks that.
    public func importSnapshot(_ s: SnapshotRow, versions: [VersionRow]) throws -> Bool {
        try pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM snapshot WHERE id = ?", arguments: [s.id]) == true { return false }
            let a = s.account
            let gen = try Catalog.workingGeneration(db, a)
            let incoming = Set(versions.map { "\($0.type)\u{0}\($0.id)" })
            let open = try Row.fetchAll(db, sql: "SELECT type, id FROM version WHERE account = ? AND gen_to IS NULL", arguments: [a])
            for r in open {
                let (type, id): (String, String) = (r[0], r[1])
                if !incoming.contains("\(type)\u{0}\(id)") { try Catalog.setVersion(db, account: a, type: type, id: id, gen: gen, nil) }
            }
            if open.isEmpty {
                // A new account: nothing to compare with.
                for v in versions { try Catalog.insertVersion(db, account: a, gen: gen, v) }
            } else {
                for v in versions { try Catalog.setVersion(db, account: a, type: v.type, id: v.id, gen: gen, v) }
            }
            var row = s
            row.generation = gen
            try Catalog.insert(db, row)
            try db.execute(sql: "UPDATE history SET gen = gen + 1, changed = 0 WHERE account = ?", arguments: [a])
            return true
        }
    }
}
