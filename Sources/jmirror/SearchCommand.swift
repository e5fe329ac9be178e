import ArgumentParser
import Foundation
import History
import Mirror
import Search
import Store

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find messages in the mirror (and with --history, those since deleted on the server).",
        discussion: """
            Every word must match (in any header, the text, or attachment names); case and accents do not \
            matter (Über finds uber), and words in Chinese, Japanese and Korean are found inside longer text. \
            A trailing * matches a prefix: invoic*. "exact phrase" in quotes.

            Fields: from:  to: (To, Cc, Bcc)  subject:  body:  attachment: (file name)  has:attachment  \
            mime:TYPE (a part's type: mime:application/pdf, mime:image)  \
            in: folder: path: or maildir: (a mailbox path, in:Archive/2024; with children: in:Archive/*)  \
            is:unread|read|flagged|answered|draft|forwarded  keyword:NAME  thread:ID (as --output json gives it)  \
            date:2024  date:2024-03  date:2024-03-05  date:2019..2021  date:2024-01-01..2024-06-30  \
            date:today  date:yesterday  date:this-week  date:last-month  date:this-year  date:june  date:7d..  \
            after:DATE  before:DATE  newer:7d  older:1y (h, d, w, m, y)  size:>1M  size:<10k  size:1M..5M  \
            account:NAME  deleted:yes (with --history).

            Combine with AND (the default between terms), OR, NOT or a leading -, and parentheses: \
            from:alice (subject:invoice OR attachment:pdf) -is:read

            The index is .jmirror/search.sqlite; build it once with --reindex, then every sync (and the \
            daemon) keeps it current.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The query (words and field:value terms; see below).")
    var query: [String] = []

    @Option(name: .customLong("account"), help: "Only this account (repeatable).")
    var accounts: [String] = []

    @Flag(help: "Also find messages no longer on the server, kept by snapshots.")
    var history = false

    @Option(help: "Search the messages one snapshot held (ID, ACCOUNT@ID, ACCOUNT@latest), in the folders and with the flags they had then.")
    var snapshot: String?

    @Option(help: "At most this many results.")
    var limit: Int?

    @Option(help: "newest (default), oldest or relevance.")
    var sort: String = "newest"

    @Option(help: "summary (default), files (Maildir paths, for mutt), ids, or json (one object per line).")
    var output: String = "summary"

    @Flag(help: "Rebuild the index from the mirror, then search (when a query is given).")
    var reindex = false

    @Flag(help: "One line per thread (its newest message), with the thread's message count.")
    var threads = false

    @Option(help: "messages (default), contacts (names, addresses, phones, organisations) or events (titles, places, descriptions, participants).")
    var type: String = "messages"

    func run() async throws {
        _ = global.start()
        guard ["summary", "files", "ids", "json"].contains(output) else {
            throw Console.fail(SearchError("--output must be summary, files, ids or json"), json: false)
        }
        guard let order = SearchSort(rawValue: sort) else {
            throw Console.fail(SearchError("--sort must be newest, oldest or relevance"), json: false)
        }
        let json = output == "json"
        do {
            let config = try global.loadConfig()
            // The catalog only for what needs it (a rebuild, a snapshot, file paths): opening it
            // was a tenth of a narrow query's whole process.
            var opened: (catalog: Catalog, objects: ObjectStore)?
            func store() throws -> (catalog: Catalog, objects: ObjectStore) {
                if let opened { return opened }
                let s = try MirrorStore.reader(root: config.mirrorPath)
                opened = s
                return s
            }
            let indexPath = SearchIndex.path(mirror: config.mirrorPath)
            if reindex {
                let progress = ProgressLine(enabled: isatty(STDERR_FILENO) == 1)
                let (r, bytes) = try SearchIndex.rebuild(path: indexPath, catalog: try store().catalog, objects: try store().objects,
                                                         accounts: config.accounts.map(\.name)) { done, total in
                    progress.text("indexing \(done)/\(total) messages")
                }
                progress.clear()
                Console.error("jmirror: indexed \(r.indexed) messages in \(String(format: "%.1f", r.seconds)) s"
                    + (r.unreadable > 0 ? " (\(r.unreadable) not readable as mail: found by their facts only)" : "")
                    + "; index \(Console.bytes(bytes))")
                if query.isEmpty { return }
            }
            guard SearchIndex.exists(mirror: config.mirrorPath) else {
                throw SearchError("no search index yet: build it once with `jmirror search --reindex`; every sync keeps it current after that")
            }
            let index = try SearchIndex(path: indexPath)
            let q = try Query.parse(query.joined(separator: " "))
            if type != "messages" {
                guard let kind = ItemKind(rawValue: type) else { throw SearchError("--type must be messages, contacts or events") }
                guard output != "files" else { throw SearchError("--output files lists message files; for contacts and events use json or ids") }
                let items = try index.searchItems(q, kind: kind, accounts: accounts, limit: limit)
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let lines = Console.Lines()
                for i in items {
                    switch output {
                    case "json": lines.add(String(decoding: try e.encode(i), as: UTF8.self))
                    case "ids": lines.add("\(i.account)/\(i.type)/\(i.id)")
                    default: lines.add("\(i.account)/\(i.type)/\(i.id)  \(i.title.isEmpty ? "(no name)" : i.title)")
                    }
                }
                return
            }
            var options = SearchOptions()
            options.accounts = accounts
            options.history = history
            options.limit = threads ? nil : limit
            options.sort = order
            var snapshotRef: SnapshotRow?
            if let snapshot { snapshotRef = try SnapshotRef.resolve(snapshot, in: try store().catalog.snapshots()) }
            func search(_ each: ([SearchHit]) throws -> Void) throws {
                if let snap = snapshotRef {
                    try index.search(q, snapshotOf: snap.account, generation: snap.generation, catalog: try store().catalog,
                                     options: options, each: each)
                } else {
                    try index.search(q, options: options, each: each)
                }
            }
            let printer = HitPrinter(output: output, mirror: config.mirrorPath, store: store)
            guard threads else {
                // Printed as they are read: every match of a common word at 100k held 113 MB.
                try search { try printer.print($0) }
                return
            }
            // One line per thread, its first match in the order asked for: only those are kept.
            var threadCounts: [String: Int] = [:]
            var seen: [String: Int] = [:]
            var kept: [SearchHit] = []
            try search { chunk in
                for h in chunk {
                    let key = h.account + "/" + (h.threadId ?? h.id)
                    if let i = seen[key] { threadCounts[kept[i].account + "/" + kept[i].id, default: 1] += 1; continue }
                    seen[key] = kept.count
                    kept.append(h)
                }
            }
            try printer.print(Array(kept.prefix(limit ?? Int.max)), threadCounts: threadCounts)
        } catch let e as QueryError {
            throw Console.fail(SearchError(e.description), json: json)
        } catch {
            throw Console.fail(error, json: json)
        }
    }

    static func short(_ s: String, _ n: Int) -> String {
        s.count <= n ? s.padding(toLength: n, withPad: " ", startingAt: 0) : String(s.prefix(n - 1)) + "…"
    }
}


struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "A message found by search: its decoded headers and readable text, or its raw bytes.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "ACCOUNT/ID as search prints it (or just the ID when one account has it).")
    var id: String

    @Flag(help: "The message exactly as stored.") var raw = false
    @Flag(help: "Only the decoded headers.") var headers = false
    @Flag(help: "Only the readable text (text/plain, or the HTML part as text).") var text = false

    func run() async throws {
        _ = global.start()
        do {
            let config = try global.loadConfig()
            let (_, objects) = try MirrorStore.reader(root: config.mirrorPath)
            guard SearchIndex.exists(mirror: config.mirrorPath) else {
                throw SearchError("no search index yet: build it once with `jmirror search --reindex`")
            }
            let index = try SearchIndex(path: SearchIndex.path(mirror: config.mirrorPath))
            let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
            let hits = try index.find(account: parts.count == 2 ? parts[0] : nil, emailId: parts.last ?? id)
            guard let hit = hits.first else { throw SearchError("no message \(id) in the index") }
            guard hits.count == 1 else {
                throw SearchError("\(id) is in several accounts: say which (\(hits.map { "\($0.account)/\($0.id)" }.joined(separator: ", ")))")
            }
            let path = objects.path(hit.sha256)
            if raw {
                // A megabyte at a time: a message can be larger than memory should hold.
                guard let file = FileHandle(forReadingAtPath: path) else { throw StoreError(path: path, message: "cannot open") }
                defer { try? file.close() }
                while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty { Console.write(Array(chunk)) }
                return
            }
            let m = try MessageText.read(path: path)
            if !text {
                for (name, value) in [("Date", m.date), ("From", m.from), ("To", m.recipients), ("Reply-To", m.replyTo),
                                      ("Subject", m.subject), ("Message-ID", m.messageId), ("List-Id", m.listId)] where !value.isEmpty {
                    Console.out("\(name): \(value)")
                }
                if !m.attachmentNames.isEmpty { Console.out("Attachments: " + m.attachmentNames.joined(separator: ", ")) }
                if !headers { Console.out("") }
            }
            if !headers { Console.out(m.body) }
        } catch {
            throw Console.fail(error)
        }
    }
}

/// Search results as lines, in one buffer for the whole run (`Console.Lines`).
final class HitPrinter {
    let output: String
    let mirror: String
    let store: () throws -> (catalog: Catalog, objects: ObjectStore)
    private let lines = Console.Lines()
    private let encoder = JSONEncoder()
    private let dates = DateFormatter()

    init(output: String, mirror: String, store: @escaping () throws -> (catalog: Catalog, objects: ObjectStore)) {
        self.output = output
        self.mirror = mirror
        self.store = store
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        dates.dateFormat = "yyyy-MM-dd HH:mm"
    }

    func print(_ hits: [SearchHit], threadCounts: [String: Int] = [:]) throws {
        switch output {
        case "ids":
            for h in hits { lines.add("\(h.account)/\(h.id)") }
        case "json":
            for h in hits { lines.add(String(decoding: try encoder.encode(h), as: UTF8.self)) }
        case "files":
            var accounts: [String] = []
            let groups = Dictionary(grouping: hits, by: \.account)
            for h in hits where !accounts.contains(h.account) { accounts.append(h.account) }
            for account in accounts {
                let group = groups[account] ?? []
                let (catalog, objects) = try store()
                let paths = try catalog.renderedPaths(account: account, emailIds: group.map(\.id))
                for h in group {
                    let root = mirror + "/\(account)/mail/"
                    let existing = (paths[h.id] ?? []).sorted().map { root + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
                    // A message no longer on the server has no Maildir file: its stored copy is a message file too.
                    for p in existing.isEmpty ? [objects.path(h.sha256)] : existing { lines.add(p) }
                }
            }
        default:
            for h in hits {
                let count = threadCounts[h.account + "/" + h.id].map { " [\($0)]" } ?? ""
                let flags = h.keywords.filter { $0 != "$seen" }.joined(separator: " ")
                lines.add("\(h.account)/\(h.id)  \(h.date.map(dates.string) ?? "-")  \(SearchCommand.short(h.from, 28))  "
                    + "\(h.subject.isEmpty ? "(no subject)" : h.subject)\(count)  (\(h.folders.joined(separator: ", "))"
                    + "\(flags.isEmpty ? "" : "; " + flags)\(h.keywords.contains("$seen") ? "" : "; unread")\(h.deleted ? "; deleted" : ""))")
            }
        }
    }
}
