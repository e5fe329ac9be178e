import Digest
import Formats
import Foundation
import JMAP
import Store

/// `jmirror check`: the catalog's own integrity, every referenced object present (and with
/// `readData`, re-hashed), every view consistent with the catalog. A missing or damaged object is
/// moved aside and marked, so that the next sync fetches it again from the server.
public struct Checker {
    public struct Problem: Codable, Sendable, Equatable {
        /// "catalog", "object-missing", "object-damaged", "view"
        public var kind: String
        public var detail: String
        /// Messages (account/id) that use the object, for object problems.
        public var usedBy: [String] = []
    }

    public struct Result: Codable, Sendable {
        public var objectsReferenced = 0
        public var objectsRead = 0
        public var bytesRead: Int64 = 0
        public var viewFilesChecked = 0
        public var problems: [Problem] = []
        /// Views with journalled work left (an interrupted sync): the next sync completes them.
        public var pendingViews: [String] = []
        public var ok: Bool { problems.isEmpty }
    }

    let store: MirrorStore

    public init(store: MirrorStore) { self.store = store }

    /// `readShare`: 0 reads no object data, 1 re-hashes every object, in between a random share.
    public func run(readShare: Double) throws -> Result {
        var result = Result()
        let catalog = store.catalog
        let integrity = try catalog.integrityCheck()
        if integrity != ["ok"] {
            result.problems.append(Problem(kind: "catalog", detail: "SQLite integrity check: " + integrity.prefix(5).joined(separator: "; ")))
        }
        let referenced = try catalog.referencedObjects().sorted()
        result.objectsReferenced = referenced.count
        for sha in referenced {
            let path = store.objects.path(sha)
            var st = stat()
            if stat(path, &st) != 0 {
                try report(sha, kind: "object-missing", detail: "\(sha) is not in the store", &result)
                continue
            }
            guard readShare > 0, readShare >= 1 || Double.random(in: 0..<1) < readShare else { continue }
            let actual = try SHA256Hasher.hex(ofFileAt: path)
            result.objectsRead += 1
            result.bytesRead += actual.size
            if actual.sha256 != sha {
                try report(sha, kind: "object-damaged", detail: "\(sha) reads as \(actual.sha256); moved to .jmirror/damaged/", &result)
            }
        }
        // Views exist only for accounts synced here (an imported account has none).
        for account in try catalog.syncedAccounts() {
            if try catalog.pendingViewWork(account: account) > 0 { result.pendingViews.append(account) }
            try checkMaildir(account, &result)
            try checkVdirs(account, &result)
        }
        return result
    }

    /// Marks the object (a damaged one is also moved aside) so that the next sync fetches it again.
    private func report(_ sha: String, kind: String, detail: String, _ result: inout Result) throws {
        let users = try store.catalog.users(ofObject: sha).map { "\($0.account)/\($0.id)" }
        if kind == "object-damaged" {
            try store.catalog.condemn(sha, in: store.objects)
        } else {
            try store.catalog.markObjectDamaged(sha, reason: kind)
        }
        result.problems.append(Problem(kind: kind, detail: detail + (users.isEmpty ? "" : "; the next sync fetches it again if the server still has it"),
                                       usedBy: users))
    }

    private func checkMaildir(_ account: String, _ result: inout Result) throws {
        let root = store.root + "/" + account + "/mail"
        let rendered = try store.catalog.renderedFiles(account: account)
        let pending = try store.catalog.pendingViewWork(account: account) > 0
        var ours = Set<String>()
        for r in rendered {
            ours.insert(r.path)
            result.viewFilesChecked += 1
            guard let sha = r.sha256 else { continue }
            var a = stat(), b = stat()
            let full = root + "/" + r.path
            if stat(full, &a) != 0 {
                if !pending { result.problems.append(Problem(kind: "view", detail: "\(account)/mail/\(r.path) is missing")) }
            } else if stat(store.objects.path(sha), &b) == 0, a.st_ino != b.st_ino {
                result.problems.append(Problem(kind: "view", detail: "\(account)/mail/\(r.path) is not the stored message \(sha.prefix(12))"))
            }
        }
        guard !pending else { return }
        for folder in Set(try store.catalog.renderedFolders(account: account).values) {
            for sub in ["cur", "new"] {
                let rel = (folder.isEmpty ? "" : folder + "/") + sub
                for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + rel)) ?? []
                where !ours.contains(rel + "/" + name) {
                    result.problems.append(Problem(kind: "view", detail: "\(account)/mail/\(rel)/\(name) is not in the catalog"))
                }
            }
        }
    }

    private func checkVdirs(_ account: String, _ result: inout Result) throws {
        let state = try AccountState.load(store.catalog, account: account, snapshot: nil)
        let dirty = try store.catalog.dirtyViews(account: account)
        let layout = state.vdirLayout(objects: store.objects)
        let base = store.root + "/" + account
        let views: [(DataKind, String, () throws -> [String: Data])] = [
            (.contacts, "contacts", { layout.contacts() }), (.calendars, "calendars", { layout.calendars() }),
            (.sieve, "sieve", { layout.sieve() }),
        ]
        for (kind, dir, files) in views where state.has(kind) && !dirty.contains(dir) {
            for (rel, data) in try files() {
                result.viewFilesChecked += 1
                if FileManager.default.contents(atPath: base + "/" + dir + "/" + rel) != data {
                    result.problems.append(Problem(kind: "view", detail: "\(account)/\(dir)/\(rel) differs from the catalog"))
                }
            }
        }
    }
}
