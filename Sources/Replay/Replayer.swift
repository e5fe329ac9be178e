import Foundation
import History
import JMAP
import Store

/// Puts a snapshot into a JMAP account: plan, upload, create, read back. Idempotent: what the
/// target already holds (found by content or UID, not only by the journal) is not created again,
/// only brought in line; so a rerun, or a run after a crash at any instant, finishes the job
/// without a duplicate. Nothing is ever sent: no EmailSubmission, and every calendar write says
/// `sendSchedulingMessages: false`.
public struct Replayer: Sendable {
    let catalog: Catalog
    let objects: ObjectStore

    public init(catalog: Catalog, objects: ObjectStore) {
        self.catalog = catalog
        self.objects = objects
    }

    public func run(_ state: AccountState, snapshot: String, into target: ReplayTarget, options: ReplayOptions,
                    progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> ReplayReport {
        var report = ReplayReport(source: state.account, snapshot: snapshot, target: target.name, dryRun: options.dryRun)
        let run = ReplayRun(state: state, objects: objects, catalog: catalog, target: target, options: options, progress: progress)
        if options.only.contains(.mail), state.emailCount > 0 || !state.mailboxes.isEmpty {
            guard target.support[.mail] != nil else { throw ReplayError("\(target.name): the target offers no JMAP mail") }
            try await run.mail(&report)
        }
        for kind in [History.DataKind.sieve, .identities, .contacts, .calendars, .vacation] where options.only.contains(kind) {
            if let r = try await run.items(kind) { report.kinds.append(r) }
        }
        return report
    }
}
