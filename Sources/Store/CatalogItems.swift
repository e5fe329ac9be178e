import Foundation
import GRDB

/// Identifies one non-mail object: its JMAP type and id.
public struct ItemKey: Sendable, Hashable {
    public var type: String
    public var id: String
    public init(type: String, id: String) { self.type = type; self.id = id }
}

/// A contact, event, script, identity or vacation response: the server's exact JSON, and whether
/// a blob it names still has to be fetched (retried on the next run).
public struct ItemRow: Sendable, Equatable {
    public var type: String
    public var id: String
    public var json: Data
    public var blobsPending: Bool

    public init(type: String, id: String, json: Data, blobsPending: Bool = false) {
        self.type = type
        self.id = id
        self.json = json
        self.blobsPending = blobsPending
    }
}

extension Catalog {
    public func items(account: String, type: String) throws -> [String: ItemRow] {
        try pool.read { db in
            var out: [String: ItemRow] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT id, json, blobs_pending FROM item WHERE account = ? AND type = ?",
                                      arguments: [account, type]) {
                out[r[0]] = ItemRow(type: type, id: r[0], json: r[1], blobsPending: r[2])
            }
            return out
        }
    }

    /// Which of `ids` the catalog holds, and how many items of `type` it holds in all: what a
    /// delta needs, without reading every stored object.
    public func itemPresence(account: String, type: String, ids: [String]) throws -> (present: Set<String>, count: Int) {
        try pool.read { db in
            let present = try Catalog.inChunks(ids) { chunk, marks in
                try String.fetchAll(db, sql: "SELECT id FROM item WHERE account = ? AND type = ? AND id IN (\(marks))",
                                    arguments: StatementArguments([account, type] + chunk))
            }
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM item WHERE account = ? AND type = ?",
                                         arguments: [account, type]) ?? 0
            return (Set(present), count)
        }
    }

    public func itemsWithPendingBlobs(account: String) throws -> [ItemRow] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT type, id, json FROM item WHERE account = ? AND blobs_pending != 0", arguments: [account])
                .map { ItemRow(type: $0[0], id: $0[1], json: $0[2], blobsPending: true) }
        }
    }

    public func dirtyViews(account: String) throws -> Set<String> {
        try pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT view FROM dirty_view WHERE account = ?", arguments: [account]))
        }
    }

    /// After a view is rendered in full: clear its journal entry.
    public func clearDirtyView(account: String, view: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM dirty_view WHERE account = ? AND view = ?", arguments: [account, view])
        }
    }

    public func markViewDirty(account: String, view: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO dirty_view(account, view) VALUES (?, ?)", arguments: [account, view])
        }
    }

    func applyItems(_ round: CatalogRound, _ db: Database, gen: Int64) throws {
        let a = round.account
        var destroy = round.destroyItems
        for (type, keep) in round.keepOnlyItems {
            destroy += try String.fetchAll(db, sql: "SELECT id FROM item WHERE account = ? AND type = ?", arguments: [a, type])
                .filter { !keep.contains($0) }.map { ItemKey(type: type, id: $0) }
        }
        for i in round.upsertItems {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO item(account, type, id, json, blobs_pending) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [a, i.type, i.id, i.json, i.blobsPending])
            let blobs = try Catalog.resolveBlobs(db, json: i.json, origin: round.origin)
            try Catalog.setVersion(db, account: a, type: i.type, id: i.id, gen: gen,
                                   VersionRow(type: i.type, id: i.id, json: i.json, blobs: blobs))
        }
        for k in destroy {
            try Catalog.setVersion(db, account: a, type: k.type, id: k.id, gen: gen, nil)
            try db.cachedStatement(sql: "DELETE FROM item WHERE account = ? AND type = ? AND id = ?").execute(arguments: [a, k.type, k.id])
        }
        for v in round.dirtyViews {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO dirty_view(account, view) VALUES (?, ?)").execute(arguments: [a, v])
        }
    }
}
