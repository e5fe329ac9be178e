import Foundation
import History
import JMAP
import Store

/// One message to put on the target: every source copy with the same bytes merged, so that a
/// message in three folders is one import with three mailboxes.
struct PlannedMessage: Sendable {
    var sha256: String
    var size: Int
    var paths: Set<String> = []
    var keywords: Set<String> = []
    var receivedAt: Date?
    /// The first source copy's id, for messages to the user.
    var sourceId: String

    var label: String { sha256 + " (email \(sourceId))" }
}

/// Keys of the journal: messages this tool imported, and messages it found already there.
enum MailJournal {
    static let imported = "Email", found = "Email.found"
}

/// Mail, as the protocol has it backwards: map the folders, learn what the target already holds
/// by the SHA-256 of its bytes, upload and import the rest in batches, bring the others' folders
/// and keywords in line, then read the target back.
extension ReplayRun {
    func mail(_ report: inout ReplayReport) async throws {
        var kind = KindReport(kind: "mail")
        defer { report.kinds.append(kind) }
        var plan = try MailboxPlan(state: state, target: try await target.mailboxes(), options: options)
        report.mailboxes = plan.mappings
        var planned = try self.planned(plan, &kind, &report.droppedKeywords)
        kind.planned = planned.count
        progress("mail: \(planned.count) messages planned; reading what the target holds")
        var bySha = try await inventory()
        var toImport: [PlannedMessage] = []
        var toUpdate: [(PlannedMessage, TargetEmail)] = []
        for p in planned.values {
            if let existing = bySha[p.sha256]?.first {
                let ids = Set(p.paths.compactMap { plan.idByPath[$0] })
                if !ids.isSubset(of: existing.mailboxIds) || !Keywords.same(existing.keywords, p.keywords) || ids.count < p.paths.count {
                    toUpdate.append((p, existing))
                } else {
                    kind.present += 1
                }
            } else {
                toImport.append(p)
                kind.bytesToUpload += Int64(p.size)
            }
        }
        kind.toCreate = toImport.count
        kind.toUpdate = toUpdate.count
        if options.dryRun { return }

        let folderRefusals = try await plan.create(on: target)
        kind.refused += folderRefusals
        let importer = MailImporter(target: target, objects: objects, catalog: catalog, progress: progress)
        let outcome = try await importer.importAll(toImport, plan: plan)
        kind.created = outcome.created
        kind.refused += outcome.refused
        report.droppedKeywords.merge(outcome.droppedKeywords, uniquingKeysWith: +)
        for (sha, id) in outcome.existing {
            // Already there under another copy (a server that deduplicates by bytes): its folders
            // and keywords are brought in line instead.
            if let p = planned[sha] { toUpdate.append((p, TargetEmail(id: id, blobId: "", mailboxIds: [], keywords: [], keywordsUnknown: true))) }
        }
        let updated = try await importer.update(toUpdate, plan: plan)
        kind.updated = updated.updated
        kind.refused += updated.refused
        for sha in outcome.refusedShas { planned[sha] = nil }

        // Read back, unless nothing at all was written (a rerun): then the inventory taken at the
        // start is the target's state.
        if kind.created + kind.updated > 0 || !outcome.existing.isEmpty || !outcome.refused.isEmpty || !plan.toCreate.isEmpty {
            progress("mail: reading the target back")
            bySha = try await inventory()
        }
        let ours = try catalog.journalTargets(target: target.journalKey, kind: MailJournal.imported)
        var verified = 0
        for p in planned.values.sorted(by: { $0.sha256 < $1.sha256 }) {
            guard let copies = bySha[p.sha256], !copies.isEmpty else {
                kind.verifyFailures.append(Refusal(kind: "mail", item: p.label, reason: "not on the target"))
                continue
            }
            let ids = Set(p.paths.compactMap { plan.idByPath[$0] })
            guard let e = copies.first(where: { ids.isSubset(of: $0.mailboxIds) }) else {
                kind.verifyFailures.append(Refusal(kind: "mail", item: p.label, reason: "not in every planned folder"))
                continue
            }
            guard Keywords.same(e.keywords, p.keywords) else {
                kind.verifyFailures.append(Refusal(kind: "mail", item: p.label, reason: "keywords differ: "
                    + e.keywords.sorted().joined(separator: " ") + " instead of " + p.keywords.sorted().joined(separator: " ")))
                continue
            }
            if ours.contains(e.id), let want = p.receivedAt, let got = e.receivedAt.flatMap(UTCDate.parse),
               abs(got.timeIntervalSince(want)) >= 1 {
                kind.verifyFailures.append(Refusal(kind: "mail", item: p.label, reason: "receivedAt is \(e.receivedAt ?? "-")"))
                continue
            }
            verified += 1
        }
        kind.verified = verified
    }

    /// The target's messages by the SHA-256 of their bytes.
    func inventory() async throws -> [String: [TargetEmail]] {
        let emails = try await target.emails()
        let digests = try await target.digests(of: emails.map(\.blobId), catalog: catalog, scratch: objects.temporaryDirectory)
        var out: [String: [TargetEmail]] = [:]
        for e in emails { if let sha = digests[e.blobId] { out[sha, default: []].append(e) } }
        return out
    }

    /// The selection's messages merged by content, with keywords the target can take.
    func planned(_ plan: MailboxPlan, _ kind: inout KindReport, _ dropped: inout [String: Int]) throws -> [String: PlannedMessage] {
        var out: [String: PlannedMessage] = [:]
        let maxSize = target.limits.maxSizeUpload
        try state.forEachEmail { e in
            let boxes = e.mailboxIds.intersection(plan.selected)
            guard !boxes.isEmpty else { return }
            guard let sha = e.sha256, objects.contains(sha) else {
                kind.refused.append(Refusal(kind: "mail", item: (e.sha256 ?? "-") + " (email \(e.id))",
                                            reason: "its bytes are not in the store (never fetched, or damaged: see `jmirror check`)"))
                return
            }
            guard e.size <= maxSize else {
                kind.refused.append(Refusal(kind: "mail", item: sha + " (email \(e.id))",
                                            reason: "\(e.size) bytes is more than the target's maxSizeUpload (\(maxSize))"))
                return
            }
            var p = out[sha] ?? PlannedMessage(sha256: sha, size: e.size, receivedAt: e.receivedAt, sourceId: e.id)
            p.paths.formUnion(boxes.compactMap { plan.targetPath[$0] })
            for k in e.keywords {
                let lowered = k.lowercased()
                if Keywords.isValid(lowered) { p.keywords.insert(lowered) } else { dropped[k, default: 0] += 1 }
            }
            if let r = e.receivedAt, p.receivedAt.map({ r < $0 }) ?? true { p.receivedAt = r }
            out[sha] = p
        }
        if let max = target.mailLimits.maxKeywordsPerEmail {
            for (sha, p) in out where p.keywords.count > max {
                let keep = p.keywords.sorted { ($0.hasPrefix("$") ? 0 : 1, $0) < ($1.hasPrefix("$") ? 0 : 1, $1) }.prefix(max)
                for k in p.keywords.subtracting(keep) { dropped[k, default: 0] += 1 }
                out[sha]!.keywords = Set(keep)
            }
        }
        return out
    }

}

/// RFC 8621 §4.1.1: what a keyword may contain. Checked before sending, because one refused
/// keyword otherwise refuses the whole message.
enum Keywords {
    /// Keywords a server sets by itself from the message's content (Cyrus adds `$hasattachment`
    /// on import): neither compared nor removed.
    static let serverSet: Set<String> = ["$hasattachment", "$hasnoattachment"]

    static func same(_ a: Set<String>, _ b: Set<String>) -> Bool { a.subtracting(serverSet) == b.subtracting(serverSet) }

    static func isValid(_ k: String) -> Bool {
        guard (1...255).contains(k.utf8.count) else { return false }
        return k.utf8.allSatisfy { b in
            b >= 0x21 && b <= 0x7e && !"(){]%*\"\\".utf8.contains(b)
        }
    }
}
