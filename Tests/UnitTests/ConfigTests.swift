import Foundation
import GRDB
import Daemon
@testable import Mirror
import Store
import Testing

/// A temporary directory with files, removed at the end of the test.
final class Scratch {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("jmirror-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o600) -> String {
        let p = path + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        return p
    }
}

let profilesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../profiles").standardized.path

@Suite("Configuration")
struct ConfigTests {
    let catalog = ProfileCatalog(directories: [profilesDir])

    @Test("the documented example parses, with ~ expanded and profile defaults applied")
    func documentedShape() throws {
        let s = try Scratch()
        let file = s.write("config.toml", """
            [mirror]
            path = "~/Backups/jmirror"                 # mirror root

            [account.work]                             # "work" names the account everywhere
            url = "https://api.fastmail.com/jmap/session"
            username = "me@example.com"
            auth = "basic"
            password_command = "pass show jmap/work"
            profile = "fastmail"
            allow_insecure_http = false

            [account.home]
            username = "me@example.org"
            password_env = "HOME_JMAP"
            profile = "fastmail"
            """)
        let c = try ConfigLoader.load(path: file, environment: ["HOME": "/home/me"], profiles: catalog)
        #expect(c.mirrorPath == "/home/me/Backups/jmirror")
        #expect(c.accounts.map(\.name) == ["home", "work"])
        let work = try #require(c.accounts.first { $0.name == "work" })
        #expect(work.auth == .basic)  // explicit beats the profile's bearer
        #expect(work.secret == .command("pass show jmap/work"))
        #expect(work.profile?.name == "Fastmail")
        let home = try #require(c.accounts.first { $0.name == "home" })
        #expect(home.url == "https://api.fastmail.com/jmap/session")  // from the profile
        #expect(home.auth == .bearer)
        #expect(c.warnings.isEmpty)
    }

    @Test("mistakes name the file, the key and what is wrong", arguments: [
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\npassword_env = \"V\"\n", "account.a.username", "missing"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\n", "account.a", "no secret"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\npassword_file = \"f\"\n", "account.a", "only one"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\nauth = \"digest\"\n", "account.a.auth", "basic"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\npasword = \"typo\"\n", "account.a.pasword", "unknown key"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = 3\nusername = \"u\"\npassword_env = \"V\"\n", "account.a.url", "string"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\nallow_insecure_http = \"yes\"\n", "account.a.allow_insecure_http", "true or false"),
        ("[mirror]\npath = \"/m\"\n[account.a]\nusername = \"u\"\npassword_env = \"V\"\nprofile = \"nope\"\n", "account.a.profile", "no profile"),
        ("[account.a]\nurl = \"x\"\n", "mirror", "missing"),
        ("[mirror]\npath = \"/m\"\n", "account", "no accounts"),
        ("[mirror]\npath = \"/m\"\n[account.\"../x\"]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\n", "account.../x", "names"),
        ("[mirror]\npath = \"/m\"\n[retention]\nkeep_dayly = 3\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\n", "retention.keep_dayly", "unknown key"),
        ("[mirror]\npath = \"/m\"\n[retention]\nkeep_daily = -1\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\n", "retention.keep_daily", "whole number"),
        ("[mirror]\npath = \"/m\"\n[retention]\nkeep_within = \"7q\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\n", "retention.keep_within", "unit"),
    ])
    func errors(toml: String, key: String, message: String) throws {
        let s = try Scratch()
        let file = s.write("c.toml", toml)
        #expect {
            try ConfigLoader.load(path: file, profiles: catalog)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.file == file && e.key == key && e.message.contains(message) && "\(e)".contains(file)
        }
    }

    @Test("account names: letters, digits, '.', '_', '-', not leading punctuation, ASCII only")
    func accountNames() {
        for good in ["a", "home", "Work-2", "fastmail.old", "x_y", "0"] { #expect(AccountName.isValid(good), "\(good)") }
        for bad in ["", ".hidden", "-x", "_x", "../x", "a/b", "a b", "é", "a\u{0}", "ü-mail"] { #expect(!AccountName.isValid(bad), "\(bad)") }
    }

    @Test("[retention] sets the policy forget applies with no flags")
    func retention() throws {
        let s = try Scratch()
        let file = s.write("c.toml", """
            [mirror]
            path = "/m"
            [retention]
            keep_last = 3
            keep_daily = 7
            keep_weekly = 5
            keep_monthly = 12
            keep_yearly = 2
            keep_hourly = 24
            keep_within = "2d"
            keep_tag = ["keep", "yearly"]
            [account.a]
            url = "x"
            username = "u"
            password_env = "V"
            """)
        let p = try ConfigLoader.load(path: file, profiles: catalog).retention
        #expect(p.last == 3 && p.daily == 7 && p.weekly == 5 && p.monthly == 12 && p.yearly == 2 && p.hourly == 24)
        #expect(p.within == 2 * 86400 && p.tags == ["keep", "yearly"])
        #expect(try ConfigLoader.load(path: s.write("d.toml", "[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\n"),
                                      profiles: catalog).retention.isEmpty)
    }

    @Test("profiles come from the binary (or $JMIRROR_PROFILES), never from the working directory; the built-in ones are profiles/*.toml")
    func builtinProfiles() throws {
        let plain = ProfileCatalog(environment: [:])
        #expect(plain.directories.isEmpty)
        for id in ["cyrus", "fastmail", "stalwart"] {
            let file = try String(contentsOfFile: profilesDir + "/\(id).toml", encoding: .utf8)
            #expect(ProfileCatalog.builtin[id].map { $0 + "\n" } == file, "profiles/\(id).toml and BuiltinProfiles.swift differ")
            #expect(try plain.load(id) == (try catalog.load(id)))
        }
        let s = try Scratch()
        s.write("fastmail.toml", "name = \"planted\"\nsession_url = \"https://attacker.example/jmap\"\n")
        #expect(try ProfileCatalog(environment: ["JMIRROR_PROFILES": s.path]).load("fastmail").sessionURL == "https://attacker.example/jmap")
        #expect(try plain.load("fastmail").sessionURL != "https://attacker.example/jmap")
    }

    @Test("paths: ~ and $HOME expanded, relative ones taken from the config file's directory")
    func paths() throws {
        let s = try Scratch()
        for (raw, expected) in [("~/m", "/home/u/m"), ("$HOME/m", "/home/u/m"), ("${HOME}/a/../m", "/home/u/m"), ("/abs/m", "/abs/m"),
                                ("mirror", s.path + "/mirror"), ("./x/../mirror", s.path + "/mirror")] {
            let file = s.write("c.toml", "[mirror]\npath = \"\(raw)\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_file = \"pw\"\n")
            let c = try ConfigLoader.load(path: file, environment: ["HOME": "/home/u"], profiles: catalog)
            #expect(c.mirrorPath == expected, "\(raw)")
            #expect(c.accounts[0].secret == .file(s.path + "/pw"))
        }
    }

    @Test("contrib/config.example.toml is a valid configuration")
    func example() throws {
        let file = profilesDir + "/../contrib/config.example.toml"
        let c = try ConfigLoader.load(path: (file as NSString).standardizingPath, environment: ["HOME": "/home/u"], profiles: catalog)
        #expect(c.mirrorPath == "/home/u/Backups/jmirror" && c.accounts.map(\.name) == ["work"] && c.accounts[0].auth == .bearer)
    }

    @Test("local failures are exit 74 with one plain line: the path and the cause, no NSError dump")
    func localErrors() {
        let full = DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")
        #expect(ErrorClassifier.status(for: full) == .localIO && ErrorClassifier.message(for: full) == "the catalog: database or disk is full")
        let denied = CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: "/m/x",
                                                                   NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))])
        #expect(ErrorClassifier.status(for: denied) == .localIO && ErrorClassifier.message(for: denied) == "/m/x: Permission denied")
        #expect(ErrorClassifier.status(for: POSIXError(.ENOSPC)) == .localIO)
        #expect(!ErrorClassifier.message(for: denied).contains("Domain="))
    }

    @Test("a TOML syntax error says where")
    func syntaxError() throws {
        let s = try Scratch()
        let file = s.write("c.toml", "[mirror]\npath = \"/m\n")
        #expect {
            try ConfigLoader.load(path: file, profiles: catalog)
        } throws: { error in
            "\(error)".contains(file) && "\(error)".contains("line 2")
        }
    }

    @Test("a config file readable by others is loaded with a warning")
    func permissionsWarning() throws {
        let s = try Scratch()
        let file = s.write("c.toml", "[mirror]\npath = \"/m\"\n[account.a]\nurl = \"x\"\nusername = \"u\"\npassword_env = \"V\"\n", mode: 0o644)
        let c = try ConfigLoader.load(path: file, profiles: catalog)
        #expect(c.warnings.count == 1)
        #expect(c.warnings[0].contains("readable by other users"))
    }

    @Test("default config path: JMIRROR_CONFIG, then XDG_CONFIG_HOME, then ~/.config")
    func defaultPath() {
        #expect(ConfigLoader.defaultPath(environment: ["JMIRROR_CONFIG": "/a.toml", "XDG_CONFIG_HOME": "/x"]) == "/a.toml")
        #expect(ConfigLoader.defaultPath(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/jmirror/config.toml")
        #expect(ConfigLoader.defaultPath(environment: ["HOME": "/h"]) == "/h/.config/jmirror/config.toml")
    }

    @Test("every shipped profile parses and cites its sources", arguments: ["cyrus", "fastmail", "stalwart"])
    func profiles(id: String) throws {
        let p = try catalog.load(id)
        #expect(!p.quirks.isEmpty)
        #expect(!p.sources.isEmpty)
        #expect(p.auth != nil)
    }
}

@Suite("Secrets")
struct SecretTests {
    func account(_ secret: SecretSource) -> AccountConfig {
        AccountConfig(name: "a", url: "x", username: "u", auth: .basic, secret: secret, profile: nil, allowInsecureHTTP: false)
    }

    @Test("a password command's first line is the secret")
    func command() throws {
        #expect(try SecretReader.read(account(.command("printf 'hunter2\\nsecond line\\n'"))) == "hunter2")
    }

    @Test("a failing command's error does not repeat its output")
    func failingCommand() {
        #expect {
            try SecretReader.read(account(.command("echo leaked-secret; exit 3")))
        } throws: { error in
            "\(error)".contains("status 3") && !"\(error)".contains("leaked-secret") && "\(error)".contains("password_command")
        }
    }

    @Test("a password file is read, and a shared one warns")
    func file() throws {
        let s = try Scratch()
        let f = s.write("pw", "s3cret\n", mode: 0o644)
        var warnings: [String] = []
        #expect(try SecretReader.read(account(.file(f)), warn: { warnings.append($0) }) == "s3cret")
        #expect(warnings.count == 1 && !warnings[0].contains("s3cret"))
        // CRLF line ends, as Windows editors write them: the CR is not part of the secret.
        for text in ["s3cret\r\n", "s3cret\r\nsecond line\r\n", "s3cret\r"] {
            #expect(try SecretReader.read(account(.file(s.write("crlf", text))), warn: { _ in }) == "s3cret")
        }
    }

    @Test("a missing environment variable names itself")
    func environment() throws {
        #expect(try SecretReader.read(account(.environment("V")), environment: ["V": "tok"]) == "tok")
        #expect { try SecretReader.read(account(.environment("NOPE")), environment: [:]) } throws: { "\($0)".contains("NOPE") }
    }
}

@Suite("Configuration: [daemon]")
struct DaemonConfigTests {
    func load(_ daemon: String, account extra: String = "") throws -> MirrorConfig {
        let s = try Scratch()
        let file = s.write("config.toml", """
            [mirror]
            path = "/tmp/m"
            [daemon]
            \(daemon)
            [account.a]
            url = "https://example.com/jmap"
            username = "me"
            password_env = "PW"
            \(extra)
            """)
        return try ConfigLoader.load(path: file, environment: ["HOME": "/home/me"])
    }

    @Test("defaults, durations, schedules, metrics and per-account overrides")
    func parses() throws {
        let plain = try load("")
        #expect(plain.daemon.pollInterval == 300 && plain.daemon.fullInterval == 3600 && plain.daemon.push)
        #expect(plain.daemon.snapshot == nil && plain.daemon.metricsListen == nil)
        let c = try load("""
            poll_interval = "2m"
            full_interval = "30m"
            snapshot = "03:00"
            metrics_listen = "127.0.0.1:9187"
            metrics_file = "~/metrics/jmirror.prom"
            ping_interval = 20
            max_parallel = 2
            """, account: "poll_interval = \"45s\"\npush = false")
        #expect(c.daemon.pollInterval == 120 && c.daemon.fullInterval == 1800 && c.daemon.pingInterval == 20)
        #expect(c.daemon.snapshot == .daily(hour: 3, minute: 0) && c.daemon.maxParallel == 2)
        #expect(c.daemon.metricsListen == "127.0.0.1:9187" && c.daemon.metricsFile == "/home/me/metrics/jmirror.prom")
        let agent = c.daemon.agent(for: c.accounts[0])
        #expect(agent.pollInterval == 45 && !agent.push && agent.snapshot == .daily(hour: 3, minute: 0))
    }

    @Test("mistakes name the key")
    func errors() throws {
        for (text, key) in [("poll_interval = \"soon\"", "daemon.poll_interval"), ("snapshot = \"weekly\"", "daemon.snapshot"),
                            ("max_parallel = 0", "daemon.max_parallel"), ("metrics_listen = \"9187\"", "daemon.metrics_listen"),
                            ("pol_interval = \"5m\"", "daemon.pol_interval"), ("poll_interval = \"0s\"", "daemon.poll_interval")] {
            #expect(throws: ConfigError.self, "\(text)") { try load(text) }
            do { _ = try load(text) } catch let e as ConfigError { #expect(e.key == key, "\(text)") }
        }
    }

    @Test("an account's fingerprint changes with what is configured about it, never with its secret's value")
    func fingerprint() throws {
        let a = try load("").accounts[0]
        var b = a
        #expect(a.fingerprint == b.fingerprint)
        b.pollInterval = 10
        #expect(a.fingerprint != b.fingerprint)
        b = a
        b.secret = .environment("OTHER")
        #expect(a.fingerprint != b.fingerprint)
    }
}

@Suite("The daemon's STATUS line")
struct StatusLineTests {
    @Test("counts, pushing and polling, who needs attention, how long since the last sync")
    func line() {
        var a = AccountStatus(account: "home")
        a.push = "connected"
        a.lastSuccess = Date(timeIntervalSince1970: 1000)
        var b = AccountStatus(account: "work")
        b.push = "unavailable"
        var c = AccountStatus(account: "old")
        c.state = "needs-attention"
        c.push = "off"
        #expect(Reporter.statusLine([a, b, c], now: Date(timeIntervalSince1970: 1012))
            == "3 accounts, 1 pushing, 1 polling, needs attention: old, last sync 12 s ago")
        #expect(Reporter.statusLine([]) == "0 accounts")
    }
}
