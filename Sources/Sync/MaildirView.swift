import Digest
import Formats
import Foundation
import Logging
import Store

/// Renders the catalog's mail as Maildir++ under `<mirror>/<account>/mail/`, from the journal of
/// what changed (`dirty_email`, `dirty_mailbox`). Every step is idempotent and the `rendered` table
/// is kept a superset of the files on disk, so a crash at any instant is repaired by the next run.
struct MaildirView {
    let root: String
    let account: String
    let catalog: Catalog
    let objects: ObjectStore
    let logger: Logger
    /// `<mirror>/.jmirror/<what>/<account>`: where files someone else left in a destroyed mailbox's
    /// folder are kept (`set-aside`), and where such a folder goes while it is removed (`removing`).
    func privateDir(_ what: String) -> String {
        (((root as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent(".jmirror/\(what)/\(account)")
    }

    struct Counts { var linked = 0, renamed = 0, unlinked = 0, missingObjects = 0, repaired = 0 }

    func render() throws -> Counts {
        var counts = Counts()
        try ensureMaildir("")
        try recoverInterruptedMoves()
        var seen = try catalog.folderSignatures(account: account)
        counts.repaired += try repairTouchedFolders(&seen, listKnown: true)
        let foldersChanged = try catalog.dirtyMailboxCount(account: account) > 0
        var destroyedFolders: [(id: String, folder: String?)] = []
        if foldersChanged { destroyedFolders = try reconcileFolders() }
        let rendered = try drainJournal(&counts)
        for d in destroyedFolders {
            if let folder = d.folder { try removeFolder(folder) }
            try catalog.moveFolder(account: account, mailboxId: d.id, from: d.folder, to: nil)
        }
        if foldersChanged { try catalog.clearDirtyMailboxes(account: account) }
        // A render that did nothing (a quiet sync) has nothing more to look at.
        guard foldersChanged || rendered > 0 else { return counts }
        // Folders seen for the first time (new, or a catalog rebuilt over an old view) are listed
        // now; the ones we just changed ourselves only get their new signature.
        let repaired = try repairTouchedFolders(&seen, listKnown: false)
        if repaired > 0 {
            counts.repaired += repaired
            _ = try drainJournal(&counts)
            counts.repaired += try repairTouchedFolders(&seen, listKnown: false)
        }
        return counts
    }

    /// Renders every journalled message; returns how many there were.
    private func drainJournal(_ counts: inout Counts) throws -> Int {
        var n = 0
        while true {
            let ids = try catalog.dirtyEmails(account: account)
            if ids.isEmpty { return n }
            n += ids.count
            try renderEmails(ids, &counts)
        }
    }

    // MARK: Foreign changes

    /// The mirror is read-only for users: a folder whose cur/ or new/ changed since jmirror last
    /// left it is listed, files named like ours that the catalog does not name are removed (a
    /// reader's renamed copy, a stale file of a lost catalog: they are hard links, nothing is
    /// lost), and messages whose files are missing are journalled to be linked again. Files with
    /// other names are never touched (`check` reports them).
    private func repairTouchedFolders(_ seen: inout [String: String], listKnown: Bool) throws -> Int {
        var fixes = 0
        var now: [String: String] = [:]
        for folder in Set(try catalog.renderedFolders(account: account).values) {
            let sig = signature(folder)
            if seen[folder] == nil || (listKnown && seen[folder] != sig) {
                fixes += try repair(folder)
                now[folder] = signature(folder)
            } else {
                now[folder] = sig
            }
        }
        if now != seen {
            try catalog.setFolderSignatures(account: account, now)
            seen = now
        }
        return fixes
    }

    private func signature(_ folder: String) -> String {
        let dir = folder.isEmpty ? root : root + "/" + folder
        return ["cur", "new"].map { sub -> String in
            var st = stat()
            guard stat(dir + "/" + sub, &st) == 0 else { return "-" }
            return "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec).\(st.st_ino)"
        }.joined(separator: "/")
    }

    private func repair(_ folder: String) throws -> Int {
        let prefix = folder.isEmpty ? "" : folder + "/"
        try ensureMaildir(folder)
        let expected = try catalog.renderedPaths(account: account, folder: folder)
        var present = Set<String>()
        var fixes = 0
        for sub in ["cur", "new"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + prefix + sub)) ?? [] {
                let rel = prefix + sub + "/" + name
                if expected[rel] != nil {
                    present.insert(rel)
                } else if name.hasPrefix("jmap-"), unlink(root + "/" + rel) == 0 {
                    fixes += 1
                }
            }
        }
        let missing = Set(expected.filter { !present.contains($0.key) }.map(\.value))
        try catalog.markEmailsDirty(account: account, ids: Array(missing))
        return fixes + missing.count
    }

    // MARK: Folders

    static func desiredFolders(_ mailboxes: [MailboxRow]) -> [String: String] {
        MaildirLayout.folders(mailboxes.map { .init(id: $0.id, parentId: $0.parentId, name: $0.name, role: $0.role) })
    }

    /// Moves folders to where the catalog says, in two phases (via temporary names) so that swaps
    /// and chains of renames never collide. Returns destroyed mailboxes with the folder to remove
    /// once their messages are gone.
    private func reconcileFolders() throws -> [(id: String, folder: String?)] {
        let desired = MaildirView.desiredFolders(try catalog.mailboxes(account: account))
        let rendered = try catalog.renderedFolders(account: account)
        var moving: [(id: String, from: String, to: String)] = []
        for (id, folder) in desired {
            let temp = temporaryFolder(id)
            let current = rendered[id]
            if let old = current, old != folder, !old.isEmpty, exists(old) {
                if old != temp {
                    try renameDirectory(old, temp)
                    try catalog.moveFolder(account: account, mailboxId: id, from: old, to: temp)
                }
                moving.append((id, temp, folder))
            } else if current != folder {
                try catalog.moveFolder(account: account, mailboxId: id, from: current, to: folder)
            }
        }
        for m in moving {
            if exists(m.to) {
                // Something else holds the name (should not happen: names are unique per parent).
                // Keep the messages where they are; the email pass relinks them at the right path.
                try catalog.moveFolder(account: account, mailboxId: m.id, from: m.from, to: m.to)
            } else {
                try renameDirectory(m.from, m.to)
                try catalog.moveFolder(account: account, mailboxId: m.id, from: m.from, to: m.to)
            }
        }
        for folder in desired.values { try ensureMaildir(folder) }
        // A destroyed mailbox keeps its row until its folder is gone, so that a crash in between
        // finds it again. A new mailbox may have taken the name in the same round: that folder stays.
        let kept = Set(desired.values)
        return rendered.filter { desired[$0.key] == nil }.map { id, folder in
            (id, folder.isEmpty || kept.contains(folder) ? nil : folder)
        }
    }

    private func temporaryFolder(_ mailboxId: String) -> String { ".~jmirror-move-" + MaildirNames.escape(mailboxId) }

    /// A run killed between one of a move's two renames and recording it in the catalog left the
    /// catalog naming a folder that is gone: it is at the temporary name (first rename), or at its
    /// new name (second). Done before anything else looks at the folders: the repair would
    /// re-create the gone one, and the move would then fail or leave it behind as a ghost.
    private func recoverInterruptedMoves() throws {
        var desired: [String: String]?
        for (id, folder) in try catalog.renderedFolders(account: account) where !folder.isEmpty && !exists(folder) {
            let temp = temporaryFolder(id)
            if folder != temp {
                if exists(temp) { try catalog.moveFolder(account: account, mailboxId: id, from: folder, to: temp) }
                continue
            }
            if desired == nil { desired = MaildirView.desiredFolders(try catalog.mailboxes(account: account)) }
            if let to = desired?[id], !to.isEmpty, exists(to) { try catalog.moveFolder(account: account, mailboxId: id, from: temp, to: to) }
        }
    }

    private func ensureMaildir(_ folder: String) throws {
        let dir = folder.isEmpty ? root : root + "/" + folder
        for sub in ["cur", "new", "tmp"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: dir + "/maildirfolder") {
            FileManager.default.createFile(atPath: dir + "/maildirfolder", contents: Data(), attributes: [.posixPermissions: 0o600])
        }
    }

    private func renameDirectory(_ from: String, _ to: String) throws {
        guard rename(root + "/" + from, root + "/" + to) == 0 else {
            throw StoreError(path: root + "/" + from, message: "cannot rename to \(to): \(String(cString: strerror(errno)))")
        }
    }

    private func exists(_ folder: String) -> Bool {
        var st = stat()
        return stat(root + "/" + folder, &st) == 0
    }

    /// Removes a destroyed mailbox's folder with whatever readers left in it (Dovecot's index,
    /// uidlist and keywords files, temporary files), so that no reader shows an empty ghost folder.
    /// Our messages are gone by now; a message file someone else put in `cur/` or `new/` is never
    /// deleted: it is moved to `.jmirror/set-aside/<account>/<folder>/` and a warning says so.
    private func removeFolder(_ folder: String) throws {
        let dir = root + "/" + folder
        let fm = FileManager.default
        var setAside: [String] = []
        for sub in ["cur", "new"] {
            for name in (try? fm.contentsOfDirectory(atPath: dir + "/" + sub)) ?? [] where !name.hasPrefix("jmap-") {
                let target = privateDir("set-aside") + "/" + folder + "/" + sub
                try fm.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                guard rename(dir + "/" + sub + "/" + name, target + "/" + name) == 0 else {
                    throw StoreError(path: dir + "/" + sub + "/" + name, message: "cannot set it aside: \(String(cString: strerror(errno)))")
                }
                setAside.append(sub + "/" + name)
            }
        }
        if !setAside.isEmpty {
            logger.warning("\(account): the server destroyed the mailbox of folder \(folder); \(setAside.count) message file(s) that jmirror did not write were in it, kept in \(privateDir("set-aside"))/\(folder)")
        }
        // Moved out of mail/ first, so that a crash never leaves a half-removed folder that a
        // reader would list; the next run finds the mailbox again and finishes here.
        let doomed = privateDir("removing") + "/" + MaildirNames.escape(folder)
        if exists(folder) {
            try? fm.removeItem(atPath: doomed)
            try fm.createDirectory(atPath: privateDir("removing"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard rename(dir, doomed) == 0 else {
                throw StoreError(path: dir, message: "cannot remove the destroyed mailbox's folder: \(String(cString: strerror(errno)))")
            }
        }
        if fm.fileExists(atPath: doomed) { try fm.removeItem(atPath: doomed) }
    }

    // MARK: Messages

    private func renderEmails(_ ids: [String], _ counts: inout Counts) throws {
        let emails = try catalog.emails(account: account, ids: ids)
        let folders = try catalog.renderedFolders(account: account)
        let old = try catalog.renderedPaths(account: account, emailIds: ids)
        var desired: [String: Set<String>] = [:]
        var letters = try catalog.keywordLetters(account: account)
        var newLetters: [(mailboxId: String, keyword: String, index: Int)] = []
        var touched = Set<String>()
        for id in ids {
            guard let e = emails[id], e.sha256 != nil else { continue }
            let other = MaildirNames.otherKeywords(e.keywords)
            for m in e.mailboxIds {
                guard let folder = folders[m] else { continue }
                var map = letters[m] ?? [:]
                for k in other where map[k] == nil && map.count < 26 {
                    map[k] = map.count
                    newLetters.append((m, k, map.count - 1))
                }
                letters[m] = map
                if !other.isEmpty { touched.insert(m) }
                let name = MaildirNames.fileName(emailId: id, keywords: e.keywords, letters: map)
                desired[id, default: []].insert((folder.isEmpty ? "" : folder + "/") + "cur/" + name)
            }
        }
        // Letters are recorded, and each folder's dovecot-keywords file is up to date, before any
        // file name uses them.
        try catalog.addKeywordLetters(account: account, newLetters)
        for m in touched {
            guard let folder = folders[m], let map = letters[m], !map.isEmpty else { continue }
            let path = root + "/" + (folder.isEmpty ? "" : folder + "/") + "dovecot-keywords"
            let text = Data(MaildirNames.dovecotKeywords(map).utf8)
            if FileManager.default.contents(atPath: path) != text { try AtomicFile.write(text, to: path) }
        }
        var adds: [(emailId: String, path: String)] = []
        for (id, paths) in desired {
            for p in paths.subtracting(old[id] ?? []) { adds.append((id, p)) }
        }
        try catalog.addRendered(account: account, paths: adds)

        var removed: [(emailId: String, path: String)] = []
        for id in ids {
            let want = desired[id] ?? []
            var stale = (old[id] ?? []).subtracting(want)
            if let e = emails[id], let sha = e.sha256, !objects.contains(sha), !recover(sha, from: old[id] ?? []) {
                // The object vanished from the store (deleted by hand, or a damaged disk) and no
                // Maildir file still holds its bytes: the message is marked as not fetched, so
                // the blob is fetched again, instead of every later sync failing here.
                try catalog.markObjectDamaged(sha, reason: "object-missing")
                counts.missingObjects += 1
                for path in stale.union(want) where unlink(root + "/" + path) == 0 || errno == ENOENT {
                    removed.append((id, path))
                }
                continue
            }
            if let e = emails[id], let sha = e.sha256 {
                let object = objects.path(sha)
                if let received = e.receivedAt { setModificationTime(object, received) }
                for path in want.sorted() {
                    let full = root + "/" + path
                    if sameFile(full, object) { continue }
                    // A flag change inside one folder is an atomic rename of the old name.
                    let dir = (path as NSString).deletingLastPathComponent
                    if let previous = stale.first(where: { ($0 as NSString).deletingLastPathComponent == dir }),
                       sameFile(root + "/" + previous, object), rename(root + "/" + previous, full) == 0 {
                        stale.remove(previous)
                        removed.append((id, previous))
                        counts.renamed += 1
                        continue
                    }
                    // Linking into a new place is where a damaged object would spread: a size that
                    // differs from the message's is checked by its hash.
                    if !sizeMatches(object, e.size), (try? SHA256Hasher.hex(ofFileAt: object))?.sha256 != sha {
                        try catalog.condemn(sha, in: objects)
                        counts.missingObjects += 1
                        break
                    }
                    unlink(full)  // a stale file at our name (from an interrupted run) is replaced
                    guard link(object, full) == 0 else {
                        throw StoreError(path: full, message: "cannot link \(object): \(String(cString: strerror(errno)))")
                    }
                    counts.linked += 1
                }
            }
            for path in stale {
                if unlink(root + "/" + path) == 0 { counts.unlinked += 1 }
                removed.append((id, path))
            }
        }
        try catalog.finishRendered(account: account, removed: removed, done: ids)
    }

    private func sizeMatches(_ path: String, _ size: Int) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && Int(st.st_size) == size
    }

    /// Puts a missing object back from a Maildir file of ours that still has its exact bytes.
    private func recover(_ sha: String, from paths: Set<String>) -> Bool {
        for p in paths.sorted() {
            let full = root + "/" + p
            guard (try? SHA256Hasher.hex(ofFileAt: full))?.sha256 == sha else { continue }
            let shard = (objects.path(sha) as NSString).deletingLastPathComponent
            mkdir(shard, 0o700)
            if link(full, objects.path(sha)) == 0 || errno == EEXIST { return true }
        }
        return false
    }

    private func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev
    }

    /// A message's mtime is its receivedAt (Dovecot reads it as INTERNALDATE).
    private func setModificationTime(_ path: String, _ date: Date) {
        let seconds = date.timeIntervalSince1970
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
    }
}
