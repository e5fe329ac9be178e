import Foundation
import JMAP
import Logging
import Search
import Store
import Sync

/// One sync of one account, as both `jmirror sync` and the daemon run it: connect (or reuse a
/// client), sync, record the snapshot the run leaves, keep the Session, and record the run for
/// `status`, whatever its outcome.
public enum AccountSync {
    public struct Outcome: Sendable {
        public var summary: SyncSummary
        public var snapshot: SnapshotRow?
    }

    /// `client` is reused when given (the daemon keeps one per account, so a quiet poll is one
    /// request); the client actually used is handed to `keepClient`, even after a failure, since
    /// the Session it ends with is worth keeping.
    public static func run(_ account: AccountConfig, store: MirrorStore, options: SyncOptions, tags: [String] = [],
                           origin: String, logger: Logger, client: JMAPClient? = nil,
                           keepClient: (JMAPClient) -> Void = { _ in }, warn: (String) -> Void = { _ in },
                           progress: @escaping @Sendable (SyncProgress) -> Void = { _ in }) async throws -> Outcome {
        let started = Date()
        let kept = client == nil ? SessionKeeper.kept(account, in: store) : nil
        var connected = client
        do {
            let c: JMAPClient
            if let client { c = client } else { c = try await Connector.connect(account, logger: logger, cached: kept, warn: warn) }
            connected = c
            keepClient(c)
            let summary = try await MailSync(name: account.name, client: c, store: store, options: options, logger: logger,
                                             onProgress: progress).run()
            // Every run that changed anything leaves a snapshot of the account as it ends.
            let snapshot = try store.catalog.recordSnapshot(account: account.name, tags: tags, force: false)
            if client == nil { try? await SessionKeeper.keep(c, account, in: store, previous: kept) }
            updateSearchIndex(account.name, store: store, logger: logger, warn: warn)
            try? store.catalog.recordRun(SyncRunRecord(
                account: account.name, started: started, finished: Date(), outcome: summary.failed.isEmpty ? "ok" : "partial",
                message: summary.failed.first, created: summary.created, updated: summary.updated, destroyed: summary.destroyed,
                bytes: summary.bytesDownloaded, origin: origin))
            return Outcome(summary: summary, snapshot: snapshot)
        } catch {
            if let connected, client == nil { try? await SessionKeeper.keep(connected, account, in: store, previous: kept) }
            if !(error is CancellationError) {
                try? store.catalog.recordRun(SyncRunRecord(
                    account: account.name, started: started, finished: Date(), outcome: "error",
                    kind: ErrorClassifier.kind(for: error), message: ErrorClassifier.message(for: error), origin: origin))
            }
            throw error
        }
    }

    /// Once a search index exists, every sync keeps it current. Indexing never fails a sync: a
    /// problem is reported, and the next sync (or `search --reindex`) tries again.
    static func updateSearchIndex(_ account: String, store: MirrorStore, logger: Logger, warn: (String) -> Void) {
        guard SearchIndex.exists(mirror: store.root) else {
            // No index (never built, or deleted): the catalog stops noting changes for one.
            if (try? store.catalog.searchJournalToken()) != nil { try? store.catalog.stopSearchJournal() }
            return
        }
        do {
            // A rebuild under way reads everything itself; the changes it may have passed stay
            // in the journal for the next update.
            guard let lock = try SearchIndex.lock(index: SearchIndex.path(mirror: store.root), exclusive: false, wait: false) else {
                logger.info("\(account): search index: a rebuild is under way; the next sync updates it")
                return
            }
            defer { withExtendedLifetime(lock) {} }
            let index = try SearchIndex(path: SearchIndex.path(mirror: store.root))
            // A quiet sync changed nothing the index has not read: it costs one lookup.
            guard try !index.isCurrent(account: account, catalog: store.catalog) else { return }
            let r = try index.update(catalog: store.catalog, objects: store.objects, accounts: [account])
            logger.info("\(account): search index: \(r.indexed) indexed, \(r.updated) updated, \(r.markedDeleted) deleted",
                        metadata: ["seconds": "\(r.seconds)", "compared": "\(r.compared)"])
        } catch {
            warn("jmirror: \(account): the search index was not updated (\(ErrorClassifier.message(for: error))); "
                 + "the next sync tries again")
        }
    }
}
