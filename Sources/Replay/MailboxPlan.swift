import Foundation
import History
import JMAP

/// Where each source folder goes on the target: to the target's folder of the same role, else the
/// same path, else a new folder (parents first). `--map` overrides a subtree; `--into` puts the
/// whole tree under one new top-level folder. Children follow their parent: a child of the source
/// inbox lands under the target's inbox, whatever it is called there.
struct MailboxPlan {
    var mappings: [MailboxMapping] = []
    /// Source mailbox id → target path.
    var targetPath: [String: String] = [:]
    /// Target path → target mailbox id, for paths that exist (or were created).
    var idByPath: [String: String] = [:]
    /// Paths to create, parents first, with the role to give them.
    var toCreate: [(path: String, role: String?)] = []
    /// Source mailboxes in the selection.
    var selected: Set<String> = []

    init(state: AccountState, target: [TargetMailbox], options: ReplayOptions) throws {
        let nodes = state.mailboxNodes()
        let sourcePaths = nodes.keys.reduce(into: [String: String]()) { $0[$1] = state.mailboxPath($1, nodes) }
        func under(_ path: String, _ prefix: String) -> Bool { path == prefix || path.hasPrefix(prefix + "/") }

        if options.mailboxes.isEmpty {
            selected = Set(nodes.keys)
        } else {
            for raw in options.mailboxes {
                let p = ReplayOptions.trimPath(raw)
                let hit = sourcePaths.filter { under($0.value, p) }.map(\.key)
                guard !hit.isEmpty else {
                    throw ReplayError("--mailbox \(raw): no such folder in the snapshot (folders: "
                                      + sourcePaths.values.sorted().joined(separator: ", ") + ")")
                }
                selected.formUnion(hit)
            }
        }
        for m in options.maps where !sourcePaths.values.contains(where: { under($0, m.source) }) {
            throw ReplayError("--map \(m.source)=\(m.target): no folder \(m.source) in the snapshot (folders: "
                              + sourcePaths.values.sorted().joined(separator: ", ") + ")")
        }

        let targetNodes = Dictionary(target.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func targetPathOf(_ id: String) -> String {
            var names: [String] = []
            var cursor = targetNodes[id]
            var seen = Set<String>()
            while let c = cursor, seen.insert(c.id).inserted {
                names.insert(c.name, at: 0)
                cursor = c.parentId.flatMap { targetNodes[$0] }
            }
            return names.joined(separator: "/")
        }
        for t in target { idByPath[targetPathOf(t.id)] = t.id }
        let byRole = Dictionary(target.compactMap { t in t.role.map { ($0, t.id) } }, uniquingKeysWith: { a, _ in a })
        let usedRoles = Set(byRole.keys)

        // Parents before children, so that a child's path can follow its parent's.
        let order = nodes.keys.sorted { (state.lineage($0, nodes).count, sourcePaths[$0]!) < (state.lineage($1, nodes).count, sourcePaths[$1]!) }
        var reasons: [String: String] = [:]
        var wantRole: [String: String] = [:]
        for id in order {
            let node = nodes[id]!
            let path = sourcePaths[id]!
            if let m = options.maps.filter({ under(path, $0.source) }).max(by: { $0.source.count < $1.source.count }) {
                targetPath[id] = m.target + path.dropFirst(m.source.count)
                reasons[id] = "map"
            } else if let into = options.into.map(ReplayOptions.trimPath) {
                targetPath[id] = into + "/" + path
                reasons[id] = "into"
            } else if let role = node.role, let t = byRole[role] {
                targetPath[id] = targetPathOf(t)
                reasons[id] = "role"
            } else {
                let parent = node.parentId.flatMap { targetPath[$0] }
                targetPath[id] = parent.map { $0 + "/" + node.name } ?? node.name
                reasons[id] = "same path"
                if let role = node.role, !usedRoles.contains(role) { wantRole[targetPath[id]!] = role }
            }
        }
        var creating = Set<String>()
        for id in order where selected.contains(id) {
            let path = targetPath[id]!
            let exists = idByPath[path] != nil
            if !exists {
                // Missing ancestors too (a --map or --into target deeper than what exists).
                let parts = path.split(separator: "/").map(String.init)
                for depth in 1...parts.count {
                    let p = parts[0..<depth].joined(separator: "/")
                    if idByPath[p] == nil, creating.insert(p).inserted { toCreate.append((p, wantRole[p])) }
                }
            }
            mappings.append(MailboxMapping(source: sourcePaths[id]!, target: path,
                                           reason: exists || reasons[id] != "same path" ? reasons[id]! : "create",
                                           created: !exists))
        }
        toCreate.sort { ($0.path.split(separator: "/").count, $0.path) < ($1.path.split(separator: "/").count, $1.path) }
    }

    /// Creates the missing folders, a depth at a time; refusals are reported and leave the path
    /// without an id (its messages go to their other folders, or are reported).
    mutating func create(on target: ReplayTarget) async throws -> [Refusal] {
        var refused: [Refusal] = []
        let depths = Dictionary(grouping: toCreate) { $0.path.split(separator: "/").count }
        for depth in depths.keys.sorted() {
            var create: [String: JSONValue] = [:]
            var byKey: [String: (path: String, role: String?)] = [:]
            for (n, c) in depths[depth]!.enumerated() {
                let parts = c.path.split(separator: "/").map(String.init)
                let parentPath = parts.dropLast().joined(separator: "/")
                if depth > 1, idByPath[parentPath] == nil {
                    refused.append(Refusal(kind: "mail", item: c.path, reason: "its parent folder \(parentPath) could not be created"))
                    continue
                }
                var obj: [String: JSONValue] = ["name": .string(parts.last!)]
                obj["parentId"] = depth > 1 ? .string(idByPath[parentPath]!) : .null
                if let role = c.role { obj["role"] = .string(role) }
                create["m\(n)"] = .object(obj)
                byKey["m\(n)"] = c
            }
            guard !create.isEmpty else { continue }
            var r = try await target.call("Mailbox/set", ["create": .object(create)], using: target.using(Capability.mail))
            // A role the target will not take is not worth losing the folder over: retry without it.
            let roleRefused = (r["notCreated"]?.objectValue ?? [:]).filter { byKey[$0.key]?.role != nil }
            if !roleRefused.isEmpty {
                var again: [String: JSONValue] = [:]
                for key in roleRefused.keys {
                    var obj = create[key]!.objectValue!
                    obj["role"] = nil
                    again[key] = .object(obj)
                }
                let r2 = try await target.call("Mailbox/set", ["create": .object(again)], using: target.using(Capability.mail))
                var created = r["created"]?.objectValue ?? [:]
                for (k, v) in r2["created"]?.objectValue ?? [:] { created[k] = v }
                var notCreated = r["notCreated"]?.objectValue ?? [:]
                for k in roleRefused.keys { notCreated[k] = r2["notCreated"]?[k] }
                r["created"] = .object(created)
                r["notCreated"] = .object(notCreated.compactMapValues { $0 })
            }
            for (key, value) in r["created"]?.objectValue ?? [:] {
                if let c = byKey[key], let id = value["id"]?.stringValue { idByPath[c.path] = id }
            }
            for (key, err) in r["notCreated"]?.objectValue ?? [:] {
                guard let c = byKey[key] else { continue }
                refused.append(Refusal(kind: "mail", item: c.path, reason: "the target refused to create the folder: " + setErrorText(err)))
            }
        }
        return refused
    }
}

/// A SetError as one line: its type, its description, and the properties it names.
func setErrorText(_ err: JSONValue) -> String {
    var s = err["type"]?.stringValue ?? "refused"
    if let d = err["description"]?.stringValue, !d.isEmpty { s += ": " + d }
    let props = (err["properties"]?.arrayValue ?? []).compactMap(\.stringValue)
    if !props.isEmpty { s += " (" + props.joined(separator: ", ") + ")" }
    return s
}
