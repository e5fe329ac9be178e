import ArgumentParser
import Foundation
import Mirror
import Store
import Sync

struct Debug: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract: "Diagnostic tools: talk to a server the way sync does, one step at a time.",
        subcommands: [DownloadBlob.self, DownloadFloorCommand.self])
}

struct DownloadBlob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download-blob",
        abstract: "Download one blob by id to a file, printing its size and SHA-256.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Configured account name.")
    var account: String

    @Argument(help: "Blob id.")
    var blobId: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    @Option(help: "JMAP account id (default: the primary mail account).")
    var accountId: String?

    func run() async throws {
        let logger = global.start()
        do {
            let config = try global.loadConfig()
            guard let account = try config.accounts(named: [account]).first else { return }
            let client = try await Connector.connect(account, logger: logger, warn: Console.error)
            let session = await client.session
            guard let id = accountId ?? session.primaryAccounts["urn:ietf:params:jmap:mail"] ?? session.accounts.keys.sorted().first else {
                throw ConfigError(file: config.file, key: nil, message: "the server lists no accounts")
            }
            let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
            let started = Date()
            let blob = try await client.download(accountId: id, blobId: blobId, into: directory)
            guard rename(blob.temporaryPath, output) == 0 else {
                unlink(blob.temporaryPath)
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: output])
            }
            let seconds = Date().timeIntervalSince(started)
            Console.out("\(blob.size) bytes sha256:\(blob.sha256) in \(String(format: "%.3f", seconds)) s")
        } catch {
            throw Console.fail(error)
        }
    }
}

struct DownloadFloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download-floor",
        abstract: "Fetch every message the mirror holds of an account again, as a first sync would, and drop it: the server's floor.",
        discussion: """
            The same Blob/get batches and downloads as a first sync, at the same concurrency, decoded and \
            thrown away; nothing is written. A first sync's time against this one says how much of it is \
            the server's and the network's, and how much is jmirror's (hashing, files, fsync, catalog, views).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Configured account name (already synced: its messages are the ones fetched).")
    var account: String

    @Flag(help: "One JSON object.") var json = false

    func run() async throws {
        let logger = global.start()
        do {
            let config = try global.loadConfig()
            guard let account = try config.accounts(named: [account]).first else { return }
            let store = try MirrorStore(root: config.mirrorPath)
            let client = try await Connector.connect(account, logger: logger, warn: Console.error)
            let r = try await DownloadFloor.measure(client: client, store: store, account: account.name)
            if json { return Console.json(r) }
            Console.out("\(r.messages) messages, \(Console.bytes(r.bytes)) in \(String(format: "%.2f", r.seconds)) s "
                + "(\(String(format: "%.1f", Double(r.bytes) / 1e6 / max(r.seconds, 0.001))) MB/s, \(r.concurrency) in flight)")
        } catch {
            throw Console.fail(error, json: json)
        }
    }
}
