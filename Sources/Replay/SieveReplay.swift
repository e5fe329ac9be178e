import Foundation
import History
import JMAP
import Store

/// Sieve scripts by name and content: each uploaded where the target lacks it or holds other
/// bytes under that name, and the source's active script activated.
struct SieveReplay {
    let items: ReplayRun
    let support: DataTypeSupport

    /// Cyrus keeps the vacation response as a generated script under this name (and makes it the
    /// active one while the response is enabled). It is replayed as the VacationResponse, never
    /// as a script: writing it would switch the target's vacation response on.
    static let vacationScript = "urn:ietf:params:jmap:vacationresponse"

    func run(_ report: inout KindReport) async throws {
        let target = items.target
        let source = items.source("SieveScript").compactMap { s -> (name: String, sha: String, active: Bool)? in
            if s.json["name"]?.stringValue == Self.vacationScript { return nil }
            guard let name = s.json["name"]?.stringValue, let blob = s.json["blobId"]?.stringValue, let sha = s.row.blobs[blob] else {
                report.refused.append(Refusal(kind: "sieve", item: s.json["name"]?.stringValue ?? s.row.id,
                                              reason: "its content is not in the store"))
                return nil
            }
            return (name, sha, s.json["isActive"]?.boolValue == true)
        }
        report.planned = source.count + report.refused.count
        var (byName, shas) = try await inventory()
        var changes: [(name: String, sha: String, existing: String?)] = []
        for s in source {
            if let t = byName[s.name], shas[t.blobId] == s.sha { report.present += 1; continue }
            changes.append((s.name, s.sha, byName[s.name]?.id))
        }
        report.toCreate = changes.filter { $0.existing == nil }.count
        report.toUpdate = changes.count - report.toCreate
        report.bytesToUpload = changes.reduce(0) { $0 + Int64((try? FileManager.default.attributesOfItem(atPath: items.objects.path($1.sha))[.size] as? Int) ?? 0) }
        let active = source.first(where: \.active)?.name
        if items.options.dryRun {
            for c in changes {
                if let why = try await validate(c.sha) {
                    report.refused.append(Refusal(kind: "sieve", item: c.name, reason: "the target would refuse the script: " + why))
                }
            }
            return
        }

        var create: [String: JSONValue] = [:], update: [String: JSONValue] = [:]
        var names: [String: String] = [:]
        for (n, c) in changes.enumerated() {
            let blob = try await target.client.upload(accountId: target.accountId, file: items.objects.path(c.sha), type: "application/sieve")
            if let id = c.existing {
                update[id] = ["blobId": .string(blob.blobId)]
                names[id] = c.name
            } else {
                create["s\(n)"] = ["name": .string(c.name), "blobId": .string(blob.blobId)]
                names["s\(n)"] = c.name
            }
        }
        var args: [String: JSONValue] = [:]
        if !create.isEmpty { args["create"] = .object(create) }
        if !update.isEmpty { args["update"] = .object(update) }
        if let active {
            if let key = names.first(where: { $0.value == active })?.key {
                args["onSuccessActivateScript"] = .string(update[key] != nil ? key : "#" + key)
            } else if let t = byName[active], !t.isActive {
                args["onSuccessActivateScript"] = .string(t.id)
            }
        }
        if !args.isEmpty {
            let r = try await target.call("SieveScript/set", args, using: [support.capability])
            report.created = r["created"]?.objectValue?.count ?? 0
            report.updated = r["updated"]?.objectValue?.count ?? 0
            for (k, err) in (r["notCreated"]?.objectValue ?? [:]).merging(r["notUpdated"]?.objectValue ?? [:], uniquingKeysWith: { a, _ in a }) {
                report.refused.append(Refusal(kind: "sieve", item: names[k] ?? k, reason: "the target refused the script: " + setErrorText(err)))
            }
        }
        (byName, shas) = try await inventory()
        var verified = 0
        for s in source {
            guard let t = byName[s.name], shas[t.blobId] == s.sha else {
                report.verifyFailures.append(Refusal(kind: "sieve", item: s.name, reason: "not on the target with the same content"))
                continue
            }
            if s.active != t.isActive, s.active {
                report.verifyFailures.append(Refusal(kind: "sieve", item: s.name, reason: "not the active script on the target"))
                continue
            }
            verified += 1
        }
        report.verified = verified
    }

    /// What the target says of a script without storing it (RFC 9661 §2.4 `SieveScript/validate`;
    /// the upload is a blob, not a change to the account). Nil when it is valid, or when the server
    /// cannot tell.
    private func validate(_ sha: String) async throws -> String? {
        let target = items.target
        let blob = try await target.client.upload(accountId: target.accountId, file: items.objects.path(sha), type: "application/sieve")
        do {
            let r = try await target.call("SieveScript/validate", ["blobId": .string(blob.blobId)], using: [support.capability])
            return r["error"].flatMap { $0.isNull ? nil : setErrorText($0) }
        } catch let JMAPError.method(e) where e.type == "unknownMethod" {
            return nil
        }
    }

    private func inventory() async throws -> ([String: (id: String, blobId: String, isActive: Bool)], [String: String]) {
        var byName: [String: (id: String, blobId: String, isActive: Bool)] = [:]
        for j in try await items.list("SieveScript", support) {
            guard let id = j["id"]?.stringValue, let name = j["name"]?.stringValue, name != Self.vacationScript,
                  let blob = j["blobId"]?.stringValue else { continue }
            byName[name] = (id, blob, j["isActive"]?.boolValue == true)
        }
        let shas = try await items.target.digests(of: byName.values.map(\.blobId), catalog: items.catalog,
                                                  scratch: items.objects.temporaryDirectory)
        return (byName, shas)
    }
}
