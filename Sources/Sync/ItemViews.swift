import Digest
import Formats
import Foundation
import JMAP
import Store

/// The files under `<mirror>/<account>/` for everything but mail: `contacts/<book>/<uid>.vcf`,
/// `calendars/<calendar>/<uid>.ics` (vdir layout, with `displayname` and `color`),
/// `sieve/<name>.sieve` plus `sieve/active`, `identities.json` and `vacation.json`.
///
/// A view is rendered in full from the catalog whenever the journal (`dirty_view`) says its data
/// changed, and the journal entry is cleared only afterwards: a crash midway means the next run
/// renders it again. Only files whose bytes differ are rewritten, each atomically.
struct ItemViews {
    let root: String
    let account: String
    let catalog: Catalog
    let objects: ObjectStore
    let origin: String

    func render() throws {
        // A write of identities.json or vacation.json cut short leaves its temporary file at the
        // account root (inside the view folders, `reconcile` removes them).
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where entry.hasPrefix(AtomicFile.temporaryPrefix) {
            unlink(root + "/" + entry)
        }
        for view in try catalog.dirtyViews(account: account).sorted() {
            let layout = try self.layout(view)
            switch view {
            case "contacts": try reconcile("contacts", layout.contacts())
            case "calendars": try reconcile("calendars", layout.calendars())
            case "sieve": try reconcile("sieve", layout.sieve())
            case "identities": try writeFile("identities.json", try layout.identities())
            case "vacation": try writeFile("vacation.json", try layout.vacation())
            default: break
            }
            try catalog.clearDirtyView(account: account, view: view)
        }
    }

    /// The catalog's objects of one view, and its blobs from the store.
    func layout(_ view: String) throws -> VdirLayout {
        var byType: [String: [String: JSONValue]] = [:]
        var blobIds: [String] = []
        for type in VdirLayout.types[view] ?? [] {
            let decoded = try catalog.items(account: account, type: type).compactMapValues { try? JSONValue.decode($0.json) }
            byType[type] = decoded
            blobIds += decoded.values.compactMap { $0["blobId"]?.stringValue }
        }
        let known = try catalog.knownBlobs(origin: origin, blobIds: blobIds)
        let store = objects
        return VdirLayout(objects: byType) { blobId in
            known[blobId].flatMap { FileManager.default.contents(atPath: store.path($0)) }
        }
    }

    // MARK: Writing

    /// Makes `<root>/<dir>` hold exactly `files` (paths one or two levels deep): changed files are
    /// replaced atomically, files of ours that are no longer wanted removed, emptied folders too.
    func reconcile(_ dir: String, _ files: VdirLayout.Files) throws {
        let base = root + "/" + dir
        let fm = FileManager.default
        for (rel, data) in files.sorted(by: { $0.key < $1.key }) {
            let path = base + "/" + rel
            if fm.contents(atPath: path) == data { continue }
            try AtomicFile.write(data, to: path)
        }
        guard let top = try? fm.contentsOfDirectory(atPath: base) else { return }
        for entry in top {
            let path = base + "/" + entry
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                for file in (try? fm.contentsOfDirectory(atPath: path)) ?? []
                where files[entry + "/" + file] == nil && ItemViews.isOurs(file) {
                    try? fm.removeItem(atPath: path + "/" + file)
                }
                if ((try? fm.contentsOfDirectory(atPath: path)) ?? []).isEmpty { try? fm.removeItem(atPath: path) }
            } else if files[entry] == nil && ItemViews.isOurs(entry) {
                try? fm.removeItem(atPath: path)
            }
        }
    }

    static func isOurs(_ file: String) -> Bool {
        file.hasSuffix(".vcf") || file.hasSuffix(".ics") || file.hasSuffix(".sieve") || file == "displayname"
            || file == "color" || file == "active" || file.hasPrefix(AtomicFile.temporaryPrefix)
    }

    func writeFile(_ file: String, _ data: Data?) throws {
        let path = root + "/" + file
        guard let data else {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        if FileManager.default.contents(atPath: path) != data { try AtomicFile.write(data, to: path) }
    }
}
