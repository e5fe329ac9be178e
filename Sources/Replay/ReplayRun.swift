import Foundation
import History
import JMAP
import Store

/// One replay of one snapshot into one target: what every part of it reads. Mail is in
/// MailReplay.swift; here are contacts, calendars, Sieve scripts, identities and the vacation
/// response, matched on the target by what survives a copy (a UID, a collection's or script's
/// name, an identity's address and name), so that a rerun updates instead of adding.
struct ReplayRun {
    let state: AccountState
    let objects: ObjectStore
    let catalog: Catalog
    let target: ReplayTarget
    let options: ReplayOptions
    let progress: @Sendable (String) -> Void

    func items(_ kind: History.DataKind) async throws -> KindReport? {
        guard state.has(kind) else { return nil }
        var report = KindReport(kind: kind.rawValue)
        let jmapKind: JMAP.DataKind = switch kind {
        case .contacts: .contacts
        case .calendars: .calendars
        case .sieve: .sieve
        case .identities: .identities
        case .vacation: .vacation
        case .mail: .mail
        }
        let count = kind.types.reduce(0) { $0 + (state.items[$1]?.count ?? 0) }
        guard let support = target.support[jmapKind] else {
            report.planned = count
            report.refused.append(Refusal(kind: kind.rawValue, item: "\(count) objects", reason: "the target offers no JMAP \(kind.rawValue)"))
            return report
        }
        progress("\(kind.rawValue): planning")
        switch kind {
        case .sieve: try await SieveReplay(items: self, support: support).run(&report)
        case .identities: try await identities(support, &report)
        case .vacation: try await vacation(support, &report)
        case .contacts, .calendars: try await CollectionReplay(items: self, kind: kind, support: support).run(&report)
        case .mail: break
        }
        return report
    }

    /// The state's objects of one type, decoded.
    func source(_ type: String) -> [(row: VersionRow, json: [String: JSONValue])] {
        (state.items[type] ?? [:]).values.sorted { $0.id < $1.id }.compactMap { v in
            (try? JSONValue.decode(v.json))?.objectValue.map { (v, $0) }
        }
    }

    func list(_ type: String, _ support: DataTypeSupport) async throws -> [[String: JSONValue]] {
        try await target.client.get(type, accountId: target.accountId, ids: nil, using: Set([support.capability] + support.alsoAdvertised))
            .list.compactMap(\.objectValue)
    }

    // MARK: Identities

    static let identityProperties = ["name", "email", "replyTo", "bcc", "textSignature", "htmlSignature"]

    private func identities(_ support: DataTypeSupport, _ report: inout KindReport) async throws {
        let source = self.source("Identity")
        report.planned = source.count
        func key(_ j: [String: JSONValue]) -> String {
            (j["email"]?.stringValue ?? "").lowercased() + "\n" + (j["name"]?.stringValue ?? "")
        }
        let existing = Set(try await list("Identity", support).map(key))
        let missing = source.filter { !existing.contains(key($0.json)) }
        report.present = source.count - missing.count
        report.toCreate = missing.count
        if options.dryRun, !missing.isEmpty {
            // An empty /set changes nothing and says whether the server creates identities at all.
            do {
                _ = try await target.call("Identity/set", [:], using: [support.capability])
            } catch let JMAPError.method(e) {
                for m in missing {
                    report.refused.append(Refusal(kind: "identities", item: Self.describeIdentity(m.json),
                                                  reason: "the target does not create identities (Identity/set: \(e.type))"))
                }
            }
        }
        if options.dryRun || missing.isEmpty {
            report.verified = options.dryRun ? nil : report.present
            return
        }
        var create: [String: JSONValue] = [:]
        for (n, s) in missing.enumerated() {
            create["i\(n)"] = .object(s.json.filter { Self.identityProperties.contains($0.key) })
        }
        do {
            let r = try await target.call("Identity/set", ["create": .object(create)], using: [support.capability])
            report.created = r["created"]?.objectValue?.count ?? 0
            for (k, err) in r["notCreated"]?.objectValue ?? [:] {
                guard let n = Int(k.dropFirst()), n < missing.count else { continue }
                report.refused.append(Refusal(kind: "identities", item: Self.describeIdentity(missing[n].json), reason: setErrorText(err)))
            }
        } catch let JMAPError.method(e) {
            for m in missing {
                report.refused.append(Refusal(kind: "identities", item: Self.describeIdentity(m.json),
                                              reason: "the target does not create identities (Identity/set: \(e.type)"
                                                + (e.description.map { ": \($0)" } ?? "") + ")"))
            }
        }
        let after = Set(try await list("Identity", support).map(key))
        report.verified = source.filter { after.contains(key($0.json)) }.count
    }

    static func describeIdentity(_ j: [String: JSONValue]) -> String {
        let name = j["name"]?.stringValue ?? "", email = j["email"]?.stringValue ?? ""
        return name.isEmpty ? "<\(email)>" : "\(name) <\(email)>"
    }

    // MARK: Vacation

    static let vacationProperties = ["fromDate", "toDate", "subject", "textBody", "htmlBody"]

    private func vacation(_ support: DataTypeSupport, _ report: inout KindReport) async throws {
        guard let source = self.source("VacationResponse").first?.json else { return }
        report.planned = 1
        var want = source.filter { Self.vacationProperties.contains($0.key) }
        // A restore must not start answering mail on the user's behalf unless asked to.
        want["isEnabled"] = .bool(options.enableVacation && source["isEnabled"]?.boolValue == true)
        let now = try await list("VacationResponse", support).first ?? [:]
        let same = want.allSatisfy { now[$0.key] ?? .null == $0.value }
        if same { report.present = 1 } else { report.toUpdate = 1 }
        if options.dryRun { return }
        if !same {
            let r = try await target.call("VacationResponse/set", ["update": ["singleton": .object(want)]], using: [support.capability])
            if let err = r["notUpdated"]?["singleton"] {
                report.refused.append(Refusal(kind: "vacation", item: "singleton", reason: setErrorText(err)))
            } else {
                report.updated = 1
            }
        }
        let after = try await list("VacationResponse", support).first ?? [:]
        let ok = want.allSatisfy { after[$0.key] ?? .null == $0.value }
        report.verified = ok ? 1 : 0
        if !ok { report.verifyFailures.append(Refusal(kind: "vacation", item: "singleton", reason: "the target's vacation response differs")) }
    }
}
