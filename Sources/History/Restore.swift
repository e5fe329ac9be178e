import Formats
import Foundation
import JMAP
import Store

/// Renders a state in exactly the live mirror's layout under a new directory: Maildir++ with
/// message files hard-linked to the store (copied when the directory is on another filesystem),
/// vdir `.vcf`/`.ics` files, `.sieve` files, identities and vacation JSON.
public struct Restorer {
    public struct Result: Codable, Sendable {
        public var account: String
        public var messages = 0
        public var messageFiles = 0
        public var linked = 0
        public var copied = 0
        public var files = 0
        /// Messages whose object is not in the store (never fetched, or damaged).
        public var missing: [String] = []
    }

    let objects: ObjectStore

    public init(objects: ObjectStore) { self.objects = objects }

    /// `dir` must be absent or empty; it is checked before anything is written.
    public static func prepare(_ dir: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw HistoryError("restore: \(dir) exists and is not a directory") }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            guard entries.isEmpty else { throw HistoryError("restore: \(dir) is not empty (restore only into an empty or new directory)") }
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(path: dir, message: "cannot create the directory: \((error as NSError).localizedDescription)")
        }
    }

    public func restore(_ state: AccountState, to dir: String, only: Set<DataKind>) throws -> Result {
        var result = Result(account: state.account)
        let base = dir + "/" + state.account
        if only.contains(.mail) { try restoreMail(state, to: base + "/mail", &result) }
        let layout = state.vdirLayout(objects: objects)
        var files: [String: Data] = [:]
        func add(_ prefix: String, _ f: [String: Data]) { for (k, v) in f { files[prefix + k] = v } }
        if only.contains(.contacts), state.has(DataKind.contacts) { add("contacts/", layout.contacts()) }
        if only.contains(.calendars), state.has(DataKind.calendars) { add("calendars/", layout.calendars()) }
        if only.contains(.sieve), state.has(DataKind.sieve) { add("sieve/", layout.sieve()) }
        if only.contains(.identities), state.has(DataKind.identities) { files["identities.json"] = try layout.identities() }
        if only.contains(.vacation), let v = try layout.vacation() { files["vacation.json"] = v }
        for (rel, data) in files.sorted(by: { $0.key < $1.key }) {
            try AtomicFile.write(data, to: base + "/" + rel, mode: 0o600)
            result.files += 1
        }
        return result
    }

    private func restoreMail(_ state: AccountState, to root: String, _ result: inout Result) throws {
        let nodes = state.mailboxNodes()
        let folders = MaildirLayout.folders(nodes.values.map { .init(id: $0.id, parentId: $0.parentId, name: $0.name, role: $0.role) })
        try makeMaildir(root, folder: "")
        for folder in Set(folders.values) { try makeMaildir(root, folder: folder) }
        // Keyword letters, per mailbox, in a fixed order so that the same snapshot restores the same names.
        var letters: [String: [String: Int]] = [:]
        for e in state.emails.values.sorted(by: { $0.id < $1.id }) {
            for m in e.mailboxIds.sorted() {
                var map = letters[m] ?? [:]
                for k in MaildirNames.otherKeywords(e.keywords) where map[k] == nil && map.count < 26 { map[k] = map.count }
                letters[m] = map
            }
        }
        for (m, map) in letters where !map.isEmpty {
            guard let folder = folders[m] else { continue }
            try AtomicFile.write(Data(MaildirNames.dovecotKeywords(map).utf8), to: path(root, folder, "dovecot-keywords"), mode: 0o600)
        }
        for e in state.emails.values.sorted(by: { $0.id < $1.id }) {
            result.messages += 1
            guard let sha = e.sha256, objects.contains(sha) else {
                result.missing.append(e.id)
                continue
            }
            for m in e.mailboxIds.sorted() {
                guard let folder = folders[m] else { continue }
                let name = MaildirNames.fileName(emailId: e.id, keywords: e.keywords, letters: letters[m] ?? [:])
                let target = path(root, folder, "cur/" + name)
                try place(objects.path(sha), at: target, receivedAt: e.receivedAt, &result)
                result.messageFiles += 1
            }
        }
        if let fd = Optional(open(root, O_RDONLY | O_DIRECTORY)), fd >= 0 {
            defer { close(fd) }
            _ = jm_syncfs(fd)
        }
    }

    private func place(_ object: String, at target: String, receivedAt: Date?, _ result: inout Result) throws {
        if link(object, target) == 0 {
            result.linked += 1
            return
        }
        guard errno == EXDEV || errno == EPERM || errno == EMLINK else {
            throw StoreError(path: target, message: "cannot link \(object): \(String(cString: strerror(errno)))")
        }
        do {
            try FileManager.default.copyItem(atPath: object, toPath: target)
            chmod(target, 0o400)
        } catch {
            throw StoreError(path: target, message: "cannot copy \(object): \((error as NSError).localizedDescription)")
        }
        if let receivedAt {
            let s = Int(receivedAt.timeIntervalSince1970)
            var times = [timespec(tv_sec: s, tv_nsec: 0), timespec(tv_sec: s, tv_nsec: 0)]
            utimensat(AT_FDCWD, target, &times, 0)
        }
        result.copied += 1
    }

    private func path(_ root: String, _ folder: String, _ rest: String) -> String {
        root + "/" + (folder.isEmpty ? "" : folder + "/") + rest
    }

    private func makeMaildir(_ root: String, folder: String) throws {
        let dir = folder.isEmpty ? root : root + "/" + folder
        for sub in ["cur", "new", "tmp"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        if !folder.isEmpty { FileManager.default.createFile(atPath: dir + "/maildirfolder", contents: Data()) }
    }
}

extension AccountState {
    /// Whether the state holds any object of this kind's types (a kind the server never offered
    /// gets no files, as in the live mirror).
    public func has(_ kind: DataKind) -> Bool { kind.types.contains { items[$0] != nil } }
}

@_silgen_name("syncfs")
func jm_syncfs(_ fd: Int32) -> Int32
