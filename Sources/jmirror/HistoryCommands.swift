import ArgumentParser
import Foundation
import History
import Mirror
import Store

/// What every mirror command opens first; a failure is printed (as JSON too with --json) and
/// turned into its exit code.
struct Opened {
    let config: MirrorConfig
    let store: MirrorStore

    static func open(_ global: GlobalOptions, json: Bool) throws -> Opened {
        Interruption.json = json
        do {
            let config = try global.loadConfig()
            return Opened(config: config, store: try MirrorStore(root: config.mirrorPath))
        } catch {
            throw Console.fail(error, json: json)
        }
    }

    func resolve(_ text: String) throws -> SnapshotRow {
        try SnapshotRef.resolve(text, in: try store.catalog.snapshots())
    }
}

/// A snapshot as commands print it.
struct SnapshotOut: Encodable {
    var id: String
    var shortId: String
    var account: String
    var time: String
    var tags: [String]
    var messages: Int
    var mailboxes: Int
    var contacts: Int
    var events: Int
    var scripts: Int
    var counts: [String: Int]
    var bytesNew: Int64

    init(_ s: SnapshotRow) {
        id = s.id
        shortId = s.shortId
        account = s.account
        time = ISO8601DateFormatter().string(from: s.time)
        tags = s.tags
        counts = s.counts
        messages = s.counts["Email"] ?? 0
        mailboxes = s.counts["Mailbox"] ?? 0
        contacts = (s.counts["ContactCard"] ?? 0) + (s.counts["Contact"] ?? 0)
        events = s.counts["CalendarEvent"] ?? 0
        scripts = s.counts["SieveScript"] ?? 0
        bytesNew = s.bytesNew
    }

    static func localTime(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: d)
    }
}

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshot",
        abstract: "Record a snapshot of each account's mirrored state now, even when nothing changed.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Accounts (default: all configured).") var accounts: [String] = []
    @Option(name: .customLong("tag"), help: "Tag the snapshot (repeatable).") var tags: [String] = []
    @Flag(help: "Print one JSON object.") var json = false

    struct Out: Encodable { var snapshots: [SnapshotOut]; var notSynced: [String]; var exitCode: Int32 }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            let synced = Set(try o.store.catalog.historyAccounts())
            var out: [SnapshotOut] = []
            var skipped: [String] = []
            for a in try o.config.accounts(named: accounts) {
                guard synced.contains(a.name) else {
                    Console.error("jmirror: \(a.name): not synced yet, no snapshot (run `jmirror sync \(a.name)` first)")
                    skipped.append(a.name)
                    continue
                }
                if let s = try o.store.catalog.recordSnapshot(account: a.name, tags: tags, force: true) { out.append(SnapshotOut(s)) }
            }
            let status: ExitStatus = skipped.isEmpty ? .success : .partialFailure
            if json { Console.jsonLine(Out(snapshots: out, notSynced: skipped, exitCode: status.rawValue)) } else {
                for s in out { Console.out("snapshot \(s.shortId) of \(s.account) saved (\(s.messages) messages)") }
            }
            if status != .success { throw ExitCode(status.rawValue) }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}

struct SnapshotsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshots", abstract: "List snapshots, oldest first.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Accounts (default: all, imported ones included).") var accounts: [String] = []
    @Flag(help: "Print one JSON object.") var json = false

    struct Out: Encodable { var snapshots: [SnapshotOut]; var exitCode: Int32 = 0 }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            let list = try o.store.catalog.snapshots(accounts: accounts)
            if json {
                Console.jsonLine(Out(snapshots: list.map(SnapshotOut.init)))
                return
            }
            let rows = [["ID", "Time", "Account", "Messages", "Mailboxes", "Contacts", "Events", "Scripts", "New data", "Tags"]]
                + list.map { s in
                    let x = SnapshotOut(s)
                    return [x.shortId, SnapshotOut.localTime(s.time), x.account, "\(x.messages)", "\(x.mailboxes)", "\(x.contacts)",
                            "\(x.events)", "\(x.scripts)", Console.bytes(x.bytesNew),
                            x.tags.joined(separator: ",")]
                }
            Console.table(rows)
            Console.out("\(list.count) snapshots")
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff",
        abstract: "What changed between two snapshots, or between a snapshot and the current state.",
        discussion: "Lines: + added, - removed, M moved or changed, K keywords changed.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The older snapshot (ID, ACCOUNT@ID, ACCOUNT@latest).") var from: String
    @Argument(help: "The newer snapshot (default: the account's current state).") var to: String?
    @Flag(help: "Print one JSON object.") var json = false

    struct Out: Encodable { var from: String; var to: String; var diff: StateDiff; var exitCode: Int32 = 0 }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            let a = try o.resolve(from)
            let b = try to.map { try o.resolve($0) }
            let before = try AccountState.load(o.store.catalog, account: a.account, snapshot: a)
            let after = try AccountState.load(o.store.catalog, account: b?.account ?? a.account, snapshot: b)
            let diff = StateDiff(from: before, to: after)
            if json {
                Console.jsonLine(Out(from: a.id, to: b?.id ?? "current", diff: diff))
                return
            }
            for line in diff.lines { Console.out(line) }
            Console.out("\(a.shortId) -> \(b?.shortId ?? "current"): \(diff.messagesAdded.count) messages added, "
                + "\(diff.messagesRemoved.count) removed, \(diff.messagesMoved.count) moved, \(diff.keywordsChanged.count) with "
                + "keywords changed; mailboxes \(diff.mailboxesCreated.count) created, \(diff.mailboxesRenamed.count) renamed, "
                + "\(diff.mailboxesDestroyed.count) destroyed; other objects \(diff.itemsCreated.count) created, "
                + "\(diff.itemsChanged.count) changed, \(diff.itemsDestroyed.count) destroyed")
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore",
        abstract: "Render a snapshot in the mirror's layout into an empty directory (the live mirror is not touched).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The snapshot (ID, ACCOUNT@ID, ACCOUNT@latest).") var snapshot: String
    @Option(help: "An empty or new directory.") var to: String
    @Option(help: "Only these kinds: mail,contacts,calendars,sieve,identities,vacation.") var only: String?
    @Flag(help: "Print one JSON object.") var json = false

    struct Out: Encodable { var snapshot: String; var directory: String; var result: Restorer.Result; var exitCode: Int32 }

    func run() async throws {
        _ = global.start()
        let o = try Opened.open(global, json: json)
        do {
            let snap = try o.resolve(snapshot)
            let kinds = try DataKind.parse(only)
            let dir = (to as NSString).standardizingPath
            if dir == o.store.root || dir.hasPrefix(o.store.root + "/") {
                throw HistoryError("restore: \(to) is inside the mirror; restore into a directory outside it")
            }
            try Restorer.prepare(dir)
            let state = try AccountState.load(o.store.catalog, account: snap.account, snapshot: snap)
            let result = try Restorer(objects: o.store.objects).restore(state, to: dir, only: kinds)
            let status: ExitStatus = result.missing.isEmpty ? .success : .partialFailure
            if json {
                Console.jsonLine(Out(snapshot: snap.id, directory: dir, result: result, exitCode: status.rawValue))
            } else {
                Console.out("restored \(snap.account)@\(snap.shortId) to \(dir)/\(snap.account): \(result.messages) messages "
                    + "(\(result.messageFiles) files, \(result.linked) linked, \(result.copied) copied), \(result.files) other files")
                for id in result.missing { Console.error("jmirror: message \(id): its object is not in the store (run `jmirror check`)") }
            }
            if status != .success { throw ExitCode(status.rawValue) }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}
