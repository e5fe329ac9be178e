import ArgumentParser
import Foundation
import History
import Mirror
import Store

struct ForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forget",
        abstract: "Forget snapshots by a retention policy (restic's rules); with no --keep flags, the config's [retention].",
        discussion: """
            Each --keep-<period> N keeps the newest snapshot of each of the last N periods that have one; the union of \
            all rules is kept, and each account's latest snapshot always. Objects are freed by `prune` (or --prune).
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Accounts (default: all with snapshots).") var accounts: [String] = []
    @Option(name: .customLong("keep-last")) var last: Int?
    @Option(name: .customLong("keep-hourly")) var hourly: Int?
    @Option(name: .customLong("keep-daily")) var daily: Int?
    @Option(name: .customLong("keep-weekly")) var weekly: Int?
    @Option(name: .customLong("keep-monthly")) var monthly: Int?
    @Option(name: .customLong("keep-yearly")) var yearly: Int?
    @Option(name: .customLong("keep-within"), help: "Keep all snapshots this recent (from the newest), e.g. 30d, 1y6m, 12h.")
    var within: String?
    @Option(name: .customLong("keep-tag"), help: "Keep snapshots with this tag (repeatable).") var keepTags: [String] = []
    @Flag(help: "Say what would be forgotten and why each kept snapshot is kept; change nothing.") var dryRun = false
    @Flag(help: "Then delete the objects no longer referenced.") var prune = false
    @Flag(help: "Print one JSON object.") var json = false

    struct Decision: Encodable { var snapshot: SnapshotOut; var keep: Bool; var reasons: [String] }
    struct Out: Encodable { var dryRun: Bool; var decisions: [Decision]; var forgotten: Int; var prune: Pruner.Result?; var exitCode: Int32 = 0 }

    func policy(_ config: MirrorConfig) throws -> RetentionPolicy {
        var p = RetentionPolicy()
        let flags: [(Int?, WritableKeyPath<RetentionPolicy, Int>, String)] = [
            (last, \.last, "last"), (hourly, \.hourly, "hourly"), (daily, \.daily, "daily"), (weekly, \.weekly, "weekly"),
            (monthly, \.monthly, "monthly"), (yearly, \.yearly, "yearly"),
        ]
        for (v, path, name) in flags {
            guard let v else { continue }
            guard v >= 0 else { throw HistoryError("--keep-\(name) must be 0 or more") }
            p[keyPath: path] = v
        }
        p.within = try within.map(RetentionPolicy.duration)
        p.tags = keepTags
        if p.isEmpty { p = config.retention }
        guard !p.isEmpty else {
            throw HistoryError("no retention policy: give --keep-last, --keep-daily, … or set [retention] in the config; nothing was forgotten")
        }
        return p
    }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            let p = try policy(o.config)
            let all = try o.store.catalog.snapshots(accounts: accounts)
            var decisions: [Decision] = []
            for account in Set(all.map(\.account)).sorted() {
                for d in p.apply(all.filter { $0.account == account }) {
                    decisions.append(Decision(snapshot: SnapshotOut(d.snapshot), keep: d.keep, reasons: d.reasons))
                }
            }
            let gone = decisions.filter { !$0.keep }.map(\.snapshot.id)
            if !dryRun { try o.store.catalog.forgetSnapshots(ids: gone) }
            var pruned: Pruner.Result?
            if prune { pruned = try Pruner(store: o.store).run(dryRun: dryRun) }
            if json {
                Console.jsonLine(Out(dryRun: dryRun, decisions: decisions, forgotten: gone.count, prune: pruned))
                return
            }
            for d in decisions {
                let what = d.keep ? "keep  " : (dryRun ? "would forget" : "forget")
                Console.out("\(what) \(d.snapshot.shortId) \(d.snapshot.account) \(SnapshotOut.localTime(ISO8601DateFormatter().date(from: d.snapshot.time) ?? Date()))"
                    + (d.keep ? " (" + d.reasons.joined(separator: ", ") + ")" : ""))
            }
            Console.out("\(dryRun ? "would forget" : "forgot") \(gone.count) of \(decisions.count) snapshots")
            if let pruned { Console.out(PruneCommand.describe(pruned)) }
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune",
        abstract: "Delete stored objects that neither the current state nor any kept snapshot references.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Count what would be deleted; delete nothing.") var dryRun = false
    @Flag(help: "Print one JSON object.") var json = false

    struct Out: Encodable { var result: Pruner.Result; var exitCode: Int32 = 0 }

    static func describe(_ r: Pruner.Result) -> String {
        "\(r.dryRun ? "would delete" : "deleted") \(r.objects) objects, "
            + "\(Console.bytes(r.bytes)); \(r.kept) objects kept"
    }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            let r = try Pruner(store: o.store).run(dryRun: dryRun)
            if json { Console.jsonLine(Out(result: r)) } else { Console.out(PruneCommand.describe(r)) }
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check",
        abstract: "Check the catalog, the object store and the views; exit 66 on a damaged or missing object, 1 on a view problem.",
        discussion: "A damaged object is moved to .jmirror/damaged/ and a missing one marked: the next sync fetches both again.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Re-hash every object.") var readData = false
    @Option(help: "Re-hash this share of the objects, chosen at random (e.g. 10%).") var readDataSubset: String?
    @Flag(help: "Print one JSON object.") var json = false

    struct Out: Encodable { var result: Checker.Result; var exitCode: Int32 }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            var share = readData ? 1.0 : 0
            if let s = readDataSubset {
                guard let n = Double(s.hasSuffix("%") ? String(s.dropLast()) : s), n > 0, n <= 100 else {
                    throw HistoryError("--read-data-subset: give a share like 10% (above 0, at most 100)")
                }
                share = n / 100
            }
            let r = try Checker(store: o.store).run(readShare: share)
            let status: ExitStatus = r.problems.contains { $0.kind.hasPrefix("object") || $0.kind == "catalog" } ? .damaged
                : r.ok ? .success : .partialFailure
            if json {
                Console.jsonLine(Out(result: r, exitCode: status.rawValue))
            } else {
                for p in r.problems {
                    Console.out("\(p.kind): \(p.detail)" + (p.usedBy.isEmpty ? "" : " (used by " + p.usedBy.prefix(10).joined(separator: ", ")
                        + (p.usedBy.count > 10 ? ", …" : "") + ")"))
                }
                for a in r.pendingViews { Console.out("note: \(a): the views have unfinished work; the next sync completes it") }
                Console.out("\(r.ok ? "no problems" : "\(r.problems.count) problems"): \(r.objectsReferenced) objects referenced, "
                    + "\(r.objectsRead) re-hashed (\(Console.bytes(r.bytesRead))), "
                    + "\(r.viewFilesChecked) view files checked")
            }
            if status != .success { throw ExitCode(status.rawValue) }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}
