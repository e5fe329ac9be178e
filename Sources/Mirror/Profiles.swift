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

    /// `$JMIRROR_PROFILES`, then `share/jmirror/profiles` beside an installed binary, then a
    /// `profiles/` folder found upward from the binary (a source checkout) or the current folder.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        var dirs: [String] = []
        if let d = environment["JMIRROR_PROFILES"], !d.isEmpty { dirs.append(d) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        dirs.append(exe.appendingPathComponent("../share/jmirror/profiles").standardized.path)
        var up = exe
        for _ in 0..<5 {
            dirs.append(up.appendingPathComponent("profiles").path)
            up = up.deletingLastPathComponent()
        }
        dirs.append(FileManager.default.currentDirectoryPath + "/profiles")
        directories = dirs
    }

    public init(directories: [String]) { self.directories = directories }

    public func load(_ id: String) throws -> Profile {
        guard id.range(of: "^[a-z0-9_-]+$", options: .regularExpression) != nil else {
            throw ConfigError(file: id, key: nil, message: "profile names are lowercase letters, digits, '-' and '_'")
        }
        for dir in directories {
            let path = dir + "/" + id + ".toml"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            return try Profile.parse(id: id, toml: String(decoding: data, as: UTF8.self), file: path)
        }
        throw ConfigError(file: id, key: nil, message: "no profile \"\(id)\" (looked in \(directories.joined(separator: ", ")))")
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
