import Foundation
import History
import Store
import Testing

@Suite("Retention: restic's rules")
struct RetentionTests {
    var utc: Calendar {
        var c = Calendar(identifier: .iso8601)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }

    /// Snapshots every 6 hours for 40 days, ending 2026-03-20 18:00 UTC.
    func series() -> [SnapshotRow] {
        let end = ISO8601DateFormatter().date(from: "2026-03-20T18:00:00Z")!
        return (0..<160).map { i in
            SnapshotRow(id: String(format: "%064x", i), account: "a", generation: Int64(160 - i),
                        time: end.addingTimeInterval(-Double(i) * 6 * 3600), tags: i == 50 ? ["keep-me"] : [], counts: [:], bytesNew: 0)
        }
    }

    func kept(_ p: RetentionPolicy) -> [String] {
        p.apply(series(), calendar: utc).filter(\.keep).map { ISO8601DateFormatter().string(from: $0.snapshot.time) }
    }

    @Test("keep-daily keeps the newest snapshot of each of the last N days that have one")
    func daily() {
        var p = RetentionPolicy()
        p.daily = 3
        #expect(kept(p) == ["2026-03-20T18:00:00Z", "2026-03-19T18:00:00Z", "2026-03-18T18:00:00Z"])
    }

    @Test("rules are a union; the latest is always kept; tags and within keep too")
    func union() {
        var p = RetentionPolicy()
        p.last = 2
        p.weekly = 2
        p.tags = ["keep-me"]
        p.within = 13 * 3600
        let k = kept(p)
        // last 2 + within 13h (3 snapshots: 18:00, 12:00, 06:00), newest of this ISO week and the
        // previous one (2026-03-15 is a Sunday), and the tagged one.
        #expect(k == ["2026-03-20T18:00:00Z", "2026-03-20T12:00:00Z", "2026-03-20T06:00:00Z", "2026-03-15T18:00:00Z",
                      "2026-03-08T06:00:00Z"])
        let decisions = p.apply(series(), calendar: utc)
        #expect(decisions[0].reasons.contains("latest") && decisions[0].reasons.contains("last"))
        #expect(decisions.first { $0.snapshot.tags == ["keep-me"] }?.reasons == ["tag keep-me"])
    }

    @Test("an empty policy is empty; monthly/yearly count periods, not snapshots")
    func periods() {
        #expect(RetentionPolicy().isEmpty)
        var p = RetentionPolicy()
        p.monthly = 5
        p.yearly = 5
        #expect(kept(p) == ["2026-03-20T18:00:00Z", "2026-02-28T18:00:00Z"])
    }

    @Test("durations: y, m, w, d, h; anything else is an error", arguments: [("7d", 7 * 86400.0), ("36h", 36 * 3600.0), ("1w2d", 9 * 86400.0)])
    func durations(text: String, seconds: Double) throws {
        #expect(try RetentionPolicy.duration(text) == seconds)
    }

    @Test("bad durations are refused", arguments: ["", "7", "d", "7x", "-3d"])
    func badDurations(text: String) {
        #expect(throws: HistoryError.self) { try RetentionPolicy.duration(text) }
    }
}

@Suite("Snapshot references")
struct SnapshotRefTests {
    let snaps = [
        SnapshotRow(id: "ab12" + String(repeating: "0", count: 60), account: "work", generation: 1, time: Date(timeIntervalSince1970: 100),
                    tags: [], counts: [:], bytesNew: 0),
        SnapshotRow(id: "ab34" + String(repeating: "0", count: 60), account: "work", generation: 2, time: Date(timeIntervalSince1970: 200),
                    tags: [], counts: [:], bytesNew: 0),
        SnapshotRow(id: "cd56" + String(repeating: "0", count: 60), account: "home", generation: 1, time: Date(timeIntervalSince1970: 150),
                    tags: [], counts: [:], bytesNew: 0),
    ]

    @Test("ids by unique prefix, ACCOUNT@ID, ACCOUNT@latest, a bare account name")
    func resolves() throws {
        #expect(try SnapshotRef.resolve("ab12", in: snaps).generation == 1)
        #expect(try SnapshotRef.resolve("work@ab3", in: snaps).generation == 2)
        #expect(try SnapshotRef.resolve("work@latest", in: snaps).generation == 2)
        #expect(try SnapshotRef.resolve("home", in: snaps).account == "home")
        #expect(try SnapshotRef.resolve("CD56", in: snaps).account == "home")
    }

    @Test("ambiguous and unknown references say what matched")
    func errors() {
        #expect { try SnapshotRef.resolve("ab", in: snaps) } throws: { ($0 as? HistoryError)?.message.contains("ambiguous") == true }
        #expect { try SnapshotRef.resolve("latest", in: snaps) } throws: { ($0 as? HistoryError)?.message.contains("work@latest") == true }
        #expect { try SnapshotRef.resolve("ffff", in: snaps) } throws: { ($0 as? HistoryError)?.message.contains("no snapshot") == true }
        #expect { try SnapshotRef.resolve("nobody@latest", in: snaps) } throws: { $0 is HistoryError }
    }
}

@Suite("Versioned catalog rows")
struct VersionedRowsTests {
    func catalog() throws -> Catalog {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jm-versions-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try Catalog(path: dir + "/catalog.sqlite")
    }

    func email(_ id: String, keywords: Set<String> = [], box: String = "m1") -> EmailRow {
        EmailRow(id: id, blobId: "B" + id, sha256: String(repeating: "a", count: 63) + String(id.count % 10), size: 10, receivedAt: nil,
                 keywords: keywords, mailboxIds: [box], json: Data("{\"id\":\"\(id)\"}".utf8))
    }

    func versionRows(_ c: Catalog) throws -> Int {
        try c.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM version") ?? 0 }
    }

    @Test("the kept message count follows new, changed, deleted and unlisted messages, per account")
    func keptCount() throws {
        let c = try catalog()
        func counted(_ a: String) throws -> Int {
            try c.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM email WHERE account = ?", arguments: [a]) ?? 0 }
        }
        var round = CatalogRound(account: "a")
        round.upsertEmails = (0..<50).map { email("e\($0)") }
        try c.apply(round)
        var other = CatalogRound(account: "b")
        other.upsertEmails = (0..<7).map { email("e\($0)") }
        try c.apply(other)
        round.upsertEmails = (40..<60).map { email("e\($0)", keywords: ["$seen"]) }  // 10 changed, 10 new
        round.destroyEmails = ["e1", "e2", "nonexistent"]
        try c.apply(round)
        #expect(try c.emailCount(account: "a") == 58 && c.emailCount(account: "a") == counted("a"))
        var listing = CatalogRound(account: "a")
        listing.keepOnlyEmails = Set((0..<30).map { "e\($0)" })
        try c.apply(listing)
        #expect(try c.emailCount(account: "a") == counted("a") && c.emailCount(account: "a") == 28)
        #expect(try c.emailCount(account: "b") == 7 && c.emailCount(account: "none") == 0)
    }

    @Test("a flag change updates the message's row in place and leaves its folders' rows; a new blob or folder rewrites them")
    func updatesInPlace() throws {
        let c = try catalog()
        var round = CatalogRound(account: "a")
        round.upsertEmails = [email("e1"), email("e2")]
        try c.apply(round)
        func rowids(_ id: String) throws -> [Int64] {
            try c.pool.read { db in
                [try Int64.fetchOne(db, sql: "SELECT rowid FROM email WHERE account = 'a' AND id = ?", arguments: [id]) ?? -1]
                    + (try Int64.fetchAll(db, sql: "SELECT rowid FROM membership WHERE account = 'a' AND email_id = ? ORDER BY rowid",
                                          arguments: [id]))
            }
        }
        let before = try rowids("e1")
        round.upsertEmails = [email("e1", keywords: ["$seen"])]
        try c.apply(round)
        // REPLACE deleted and re-inserted both, and with them every index entry.
        #expect(try rowids("e1") == before)
        var moved = email("e2", keywords: ["$flagged"], box: "m2")
        moved.sha256 = String(repeating: "b", count: 64)
        moved.blobId = "Bother"
        moved.size = 20
        round.upsertEmails = [moved]
        try c.apply(round)
        let rows = try c.emails(account: "a")
        #expect(rows["e1"]?.keywords == ["$seen"] && rows["e1"]?.mailboxIds == ["m1"] && rows["e1"]?.blobId == "Be1")
        #expect(rows["e2"] == moved)
        #expect(try c.emailCount(account: "a") == 2)
    }

    @Test("the search journal notes every message written while an index follows, and only then")
    func searchJournal() throws {
        let c = try catalog()
        var round = CatalogRound(account: "a")
        round.upsertEmails = (0..<20).map { email("e\($0)") }
        try c.apply(round)
        // No index follows: nothing is noted.
        #expect(try c.searchJournalToken() == nil)
        #expect(try c.searchJournal(account: "a", limit: 100).ids == [])
        let token = try c.startSearchJournal()
        #expect(try c.searchJournalToken() == token)
        var change = CatalogRound(account: "a")
        change.upsertEmails = [email("e1", keywords: ["$seen"]), email("e2", box: "m2"), email("new")]
        change.destroyEmails = ["e3"]
        try c.apply(change)
        var other = CatalogRound(account: "b")
        other.upsertEmails = [email("x")]
        try c.apply(other)
        let noted = try c.searchJournal(account: "a", limit: 100)
        #expect(noted.ids == ["e1", "e2", "new", "e3"])
        #expect(try c.searchJournal(account: "a", limit: 3).ids == nil)  // more than is worth reading one by one
        // A note made after the read survives the consumption of what was read.
        change.upsertEmails = [email("e4", keywords: ["$flagged"])]
        change.destroyEmails = []
        try c.apply(change)
        try c.consumeSearchJournal(account: "a", through: noted.through)
        #expect(try c.searchJournal(account: "a", limit: 100).ids == ["e4"])
        #expect(try c.searchJournal(account: "b", limit: 100).ids == ["x"])
        // A deleted snapshot changes what --history finds: everything is compared again.
        let snap = try #require(try c.recordSnapshot(account: "a", tags: [], force: false))
        try c.forgetSnapshots(ids: [snap.id])
        #expect(try c.searchJournal(account: "a", limit: 100).ids == nil)
        try c.stopSearchJournal()
        try c.apply(change)
        #expect(try c.searchJournalToken() == nil && c.searchJournal(account: "a", limit: 100).ids == [])
    }

    @Test("a snapshot costs one row; a change costs one or two rows; old snapshots keep their state")
    func costAndState() throws {
        let c = try catalog()
        var round = CatalogRound(account: "a")
        round.upsertMailboxes = [MailboxRow(id: "m1", parentId: nil, name: "Inbox", role: "inbox", json: Data("{}".utf8))]
        round.upsertEmails = (0..<1000).map { email("e\($0)") }
        try c.apply(round)
        let s1 = try #require(try c.recordSnapshot(account: "a", tags: [], force: false))
        #expect(try versionRows(c) == 1001)
        // Nothing changed: no snapshot, no rows; an identical full listing adds nothing either.
        #expect(try c.recordSnapshot(account: "a", tags: [], force: false) == nil)
        round.upsertMailboxes = []
        try c.apply(round)
        #expect(try versionRows(c) == 1001)
        #expect(try c.recordSnapshot(account: "a", tags: [], force: false) == nil)

        var change = CatalogRound(account: "a")
        change.upsertEmails = [email("e1", keywords: ["$seen"])]
        change.destroyEmails = ["e2"]
        try c.apply(change)
        // Changed twice before the next snapshot: updated in place, still one new row.
        change.upsertEmails = [email("e1", keywords: ["$seen", "$flagged"])]
        change.destroyEmails = []
        try c.apply(change)
        let s2 = try #require(try c.recordSnapshot(account: "a", tags: ["t"], force: false))
        #expect(try versionRows(c) == 1002)

        let old = try c.versions(account: "a", generation: s1.generation)
        #expect(old.count == 1001 && old.first { $0.id == "e1" }?.keywords == [])
        let new = try c.versions(account: "a", generation: s2.generation)
        #expect(new.count == 1000 && new.first { $0.id == "e1" }?.keywords == ["$seen", "$flagged"] && !new.contains { $0.id == "e2" })
        #expect(s2.counts["Email"] == 999 && s2.tags == ["t"])

        // Forgetting the first snapshot drops the versions only it could see.
        try c.forgetSnapshots(ids: [s1.id])
        #expect(try versionRows(c) == 1000)
        #expect(try c.versions(account: "a", generation: s2.generation) == new)
    }
}
