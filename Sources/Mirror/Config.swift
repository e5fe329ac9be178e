import Daemon
import Foundation
import History
import Store
import TOMLKit

/// A configuration problem, always with the file and key so a user can fix it.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var key: String?
    public var message: String

    public init(file: String, key: String?, message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        key.map { "\(file): \($0): \(message)" } ?? "\(file): \(message)"
    }
}

public enum AuthKind: String, Sendable, Codable { case basic, bearer }

/// Where an account's password or token comes from. The secret itself is read only when needed
/// and never stored in a value that gets printed.
public enum SecretSource: Sendable, Equatable {
    case command(String)
    case file(String)
    case environment(String)
}

public struct AccountConfig: Sendable {
    public var name: String
    public var url: String
    public var username: String
    public var auth: AuthKind
    public var secret: SecretSource
    public var profile: Profile?
    public var allowInsecureHTTP: Bool
    /// `[mirror] timeout`: seconds to connect, and seconds below 1 KB/s before a transfer is abandoned.
    public var timeout: Double = 30
    /// `poll_interval` and `push` for this account in the daemon (nil: `[daemon]`'s).
    public var pollInterval: Double?
    public var push: Bool?

    /// Everything configured about the account, for telling whether a reload changed it. The
    /// secret's source is part of it, never the secret.
    public var fingerprint: String {
        "\(url)\n\(username)\n\(auth)\n\(secret)\n\(profile?.name ?? "")\n\(allowInsecureHTTP)\n\(timeout)\n\(pollInterval ?? -1)\n\(push.map { "\($0)" } ?? "")"
    }

    public init(name: String, url: String, username: String, auth: AuthKind, secret: SecretSource, profile: Profile?,
                allowInsecureHTTP: Bool) {
        self.name = name
        self.url = url
        self.username = username
        self.auth = auth
        self.secret = secret
        self.profile = profile
        self.allowInsecureHTTP = allowInsecureHTTP
    }
}

public struct MirrorConfig: Sendable {
    public var file: String
    public var mirrorPath: String
    public var accounts: [AccountConfig]
    /// `[mirror] max_deleted_share`: the safety guard's limit (see `SyncOptions`).
    public var maxDeletedShare: Double = 0.9
    /// `[retention]`: what `jmirror forget` with no flags applies (empty: nothing is forgotten).
    public var retention = RetentionPolicy()
    /// `[daemon]`.
    public var daemon = DaemonSettings()
    /// Things worth saying but not fatal (permissions).
    public var warnings: [String]

    public func accounts(named names: [String]) throws -> [AccountConfig] {
        if names.isEmpty { return accounts }
        return try names.map { name in
            guard let a = accounts.first(where: { $0.name == name }) else {
                throw ConfigError(file: file, key: nil, message: "no account named \"\(name)\" (configured: \(accounts.map(\.name).joined(separator: ", ")))")
            }
            return a
        }
    }
}

public enum ConfigLoader {
    /// `--config` wins, then `$JMIRROR_CONFIG`, then `$XDG_CONFIG_HOME/jmirror/config.toml`,
    /// then `~/.config/jmirror/config.toml`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let p = environment["JMIRROR_CONFIG"], !p.isEmpty { return p }
        if let x = environment["XDG_CONFIG_HOME"], !x.isEmpty { return x + "/jmirror/config.toml" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.config/jmirror/config.toml"
    }

    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            profiles: ProfileCatalog = ProfileCatalog()) throws -> MirrorConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, key: nil, message: FileManager.default.fileExists(atPath: path)
                ? "cannot be read" : "does not exist (create it, or name another with --config or JMIRROR_CONFIG)")
        }
        var warnings: [String] = []
        if let w = FilePermissions.warnIfShared(path, what: "config file") { warnings.append(w) }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: String(decoding: data, as: UTF8.self))
        } catch let e as TOMLParseError {
            throw ConfigError(file: path, key: nil, message: "line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
        for key in table.keys where !["mirror", "account", "retention", "daemon"].contains(key) {
            throw ConfigError(file: path, key: key, message: "unknown section (expected [mirror], [retention], [daemon] and [account.NAME])")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        guard let mirror = table["mirror"]?.table else {
            throw ConfigError(file: path, key: "mirror", message: "missing [mirror] section with path = \"…\"")
        }
        try checkKeys(mirror, allowed: ["path", "max_deleted_share", "timeout"], file: path, section: "mirror")
        var timeout = 30.0
        if let v = mirror["timeout"] {
            guard let d = v.double ?? v.int.map(Double.init), d >= 1, d <= 3600 else {
                throw ConfigError(file: path, key: "mirror.timeout", message: "must be a number of seconds from 1 to 3600")
            }
            timeout = d
        }
        var share = 0.9
        if let v = mirror["max_deleted_share"] {
            guard let d = v.double ?? v.int.map(Double.init), d > 0, d <= 1 else {
                throw ConfigError(file: path, key: "mirror.max_deleted_share", message: "must be a number above 0 and at most 1")
            }
            share = d
        }
        guard let rawPath = mirror["path"]?.string, !rawPath.isEmpty else {
            throw ConfigError(file: path, key: "mirror.path", message: "must be a non-empty string")
        }
        var accounts: [AccountConfig] = []
        let accountTable = table["account"]?.table
        for name in (accountTable?.keys ?? []).sorted() {
            guard let t = accountTable?[name]?.table else {
                throw ConfigError(file: path, key: "account.\(name)", message: "must be a table: [account.\(name)]")
            }
            var a = try account(name: name, table: t, file: path, profiles: profiles, home: home)
            a.timeout = timeout
            accounts.append(a)
        }
        if accounts.isEmpty {
            throw ConfigError(file: path, key: "account", message: "no accounts: add an [account.NAME] section")
        }
        var config = MirrorConfig(file: path, mirrorPath: resolve(rawPath, home: home, configFile: path), accounts: accounts,
                                  warnings: warnings)
        config.maxDeletedShare = share
        if let r = table["retention"]?.table { config.retention = try retention(r, file: path) }
        if let d = table["daemon"]?.table { config.daemon = try daemon(d, file: path, home: home) }
        return config
    }

    static func retention(_ t: TOMLTable, file: String) throws -> RetentionPolicy {
        let counts: [(String, WritableKeyPath<RetentionPolicy, Int>)] = [
            ("keep_last", \.last), ("keep_hourly", \.hourly), ("keep_daily", \.daily), ("keep_weekly", \.weekly),
            ("keep_monthly", \.monthly), ("keep_yearly", \.yearly),
        ]
        try checkKeys(t, allowed: Set(counts.map(\.0) + ["keep_within", "keep_tag"]), file: file, section: "retention")
        var p = RetentionPolicy()
        for (key, path) in counts {
            guard let v = t[key] else { continue }
            guard let n = v.int, n >= 0 else { throw ConfigError(file: file, key: "retention.\(key)", message: "must be a whole number, 0 or more") }
            p[keyPath: path] = n
        }
        if let v = t["keep_within"] {
            guard let text = v.string else { throw ConfigError(file: file, key: "retention.keep_within", message: "must be a string like \"30d\"") }
            do { p.within = try RetentionPolicy.duration(text) } catch {
                throw ConfigError(file: file, key: "retention.keep_within", message: "\(error)")
            }
        }
        if let v = t["keep_tag"] {
            guard let tags = v.array?.compactMap(\.string), tags.count == v.array?.count else {
                throw ConfigError(file: file, key: "retention.keep_tag", message: "must be a list of strings")
            }
            p.tags = tags
        }
        return p
    }

    static let accountKeys: Set<String> = ["url", "username", "auth", "password_command", "password_file", "password_env",
                                           "profile", "allow_insecure_http", "poll_interval", "push"]

    static func account(name: String, table t: TOMLTable, file: String, profiles: ProfileCatalog, home: String) throws -> AccountConfig {
        let prefix = "account.\(name)"
        guard AccountName.isValid(name) else {
            throw ConfigError(file: file, key: prefix, message: "account names may use letters, digits, '.', '_' and '-' (it names a folder)")
        }
        try checkKeys(t, allowed: accountKeys, file: file, section: prefix)
        func string(_ key: String) throws -> String? {
            guard let v = t[key] else { return nil }
            guard let s = v.string else { throw ConfigError(file: file, key: "\(prefix).\(key)", message: "must be a string") }
            return s
        }
        var profile: Profile?
        if let p = try string("profile") {
            do {
                profile = try profiles.load(p)
            } catch let e as ConfigError {
                throw ConfigError(file: file, key: "\(prefix).profile", message: e.description)
            }
        }
        guard let url = try string("url") ?? profile?.sessionURL else {
            throw ConfigError(file: file, key: "\(prefix).url", message: "missing: a session URL, or a host or e-mail address to discover from")
        }
        guard let username = try string("username"), !username.isEmpty else {
            throw ConfigError(file: file, key: "\(prefix).username", message: "missing")
        }
        let authText = try string("auth") ?? profile?.auth?.rawValue ?? "basic"
        guard let auth = AuthKind(rawValue: authText) else {
            throw ConfigError(file: file, key: "\(prefix).auth", message: "must be \"basic\" or \"bearer\", not \"\(authText)\"")
        }
        var sources: [SecretSource] = []
        if let c = try string("password_command") { sources.append(.command(c)) }
        if let f = try string("password_file") { sources.append(.file(resolve(f, home: home, configFile: file))) }
        if let e = try string("password_env") { sources.append(.environment(e)) }
        guard sources.count == 1, let secret = sources.first else {
            throw ConfigError(file: file, key: prefix, message: sources.isEmpty
                ? "no secret: set one of password_command, password_file or password_env"
                : "set only one of password_command, password_file and password_env")
        }
        var insecure = false
        if let v = t["allow_insecure_http"] {
            guard let b = v.bool else { throw ConfigError(file: file, key: "\(prefix).allow_insecure_http", message: "must be true or false") }
            insecure = b
        }
        var account = AccountConfig(name: name, url: url, username: username, auth: auth, secret: secret,
                                    profile: profile, allowInsecureHTTP: insecure)
        if let v = t["poll_interval"] { account.pollInterval = try duration(v, key: "\(prefix).poll_interval", file: file, minimum: 1) }
        if let v = t["push"] {
            guard let b = v.bool else { throw ConfigError(file: file, key: "\(prefix).push", message: "must be true or false") }
            account.push = b
        }
        return account
    }

    static func checkKeys(_ t: TOMLTable, allowed: Set<String>, file: String, section: String) throws {
        for key in t.keys where !allowed.contains(key) {
            throw ConfigError(file: file, key: "\(section).\(key)",
                              message: "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// `~`, `~/…`, `$HOME` and `${HOME}` expanded; a relative path is taken from the config file's
    /// directory (not the current one, which differs between a shell, cron and systemd).
    public static func resolve(_ path: String, home: String, configFile: String) -> String {
        var p = expandHome(path, home: home)
        for v in ["${HOME}", "$HOME"] where p == v || p.hasPrefix(v + "/") { p = home + p.dropFirst(v.count) }
        if !p.hasPrefix("/") {
            let dir = (configFile as NSString).deletingLastPathComponent
            let base = dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + (dir.isEmpty ? "" : "/" + dir)
            p = base + "/" + p
        }
        return (p as NSString).standardizingPath
    }

    public static func expandHome(_ path: String, home: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst(1) }
        return path
    }
}

enum FilePermissions {
    /// A warning when group or others may read the file.
    static func warnIfShared(_ path: String, what: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & 0o044 != 0 else { return nil }
        return "warning: \(what) \(path) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 \(path)"
    }
}
