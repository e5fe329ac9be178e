import Foundation
import TOMLKit

/// Known facts about a provider: defaults for an account (session URL, auth kind) and the limits
/// and quirks to expect, each with where it was learnt.
public struct Profile: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var sessionURL: String?
    public var auth: AuthKind?
    public var limits: [String: Int]
    public var quirks: [String]
    public var sources: [String]
}

public struct ProfileCatalog: Sendable {
    public var directories: [String]
    /// Whether the compiled-in profiles are used after `directories`.
    public var useBuiltin = false

    /// The profiles compiled into the binary, and where `$JMIRROR_PROFILES` names a directory,
    /// its files first. Never the working directory or a path beside the binary: a planted
    /// `profiles/fastmail.toml` there would redirect the session URL, and the token with it.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        directories = [environment["JMIRROR_PROFILES"]].compactMap { $0 }.filter { !$0.isEmpty }
        useBuiltin = true
    }

    public init(directories: [String]) { self.directories = directories }

    public func load(_ id: String) throws -> Profile {
        guard !id.isEmpty, id.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f || $0 == 0x2d }) else {
            throw ConfigError(file: id, key: nil, message: "profile names are lowercase letters, digits, '-' and '_'")
        }
        for dir in directories {
            let path = dir + "/" + id + ".toml"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            return try Profile.parse(id: id, toml: String(decoding: data, as: UTF8.self), file: path)
        }
        if useBuiltin, let text = ProfileCatalog.builtin[id] {
            return try Profile.parse(id: id, toml: text, file: "built-in profile \(id)")
        }
        let known = useBuiltin ? ProfileCatalog.builtin.keys.sorted().joined(separator: ", ") : directories.joined(separator: ", ")
        throw ConfigError(file: id, key: nil, message: "no profile \"\(id)\" (known: \(known))")
    }
}

extension Profile {
    static func parse(id: String, toml: String, file: String) throws -> Profile {
        let t: TOMLTable
        do { t = try TOMLTable(string: toml) } catch {
            throw ConfigError(file: file, key: nil, message: "not valid TOML: \(error)")
        }
        var limits: [String: Int] = [:]
        for (k, v) in t["limits"]?.table ?? TOMLTable() {
            if let n = v.int { limits[k] = n }
        }
        let auth = t["auth"]?.string.flatMap(AuthKind.init(rawValue:))
        return Profile(id: id, name: t["name"]?.string ?? id, sessionURL: t["session_url"]?.string, auth: auth,
                       limits: limits,
                       quirks: (t["quirks"]?.array).map { $0.compactMap { $0.string } } ?? [],
                       sources: (t["sources"]?.array).map { $0.compactMap { $0.string } } ?? [])
    }
}
