import Foundation

public struct SecretError: Error, CustomStringConvertible, Sendable {
    public var account: String
    public var key: String
    public var message: String
    public var description: String { "account \(account): \(key): \(message)" }
}

/// Reads an account's secret. Only the first line counts (as `pass` prints it); the value is
/// never logged, and a failing command's output is not repeated in the error since it may hold
/// the secret.
public enum SecretReader {
    public static func read(_ account: AccountConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
                            home: String = NSHomeDirectory(), warn: (String) -> Void = { _ in }) throws -> String {
        switch account.secret {
        case let .environment(name):
            guard let v = environment[name], !v.isEmpty else {
                throw SecretError(account: account.name, key: "password_env", message: "environment variable \(name) is not set")
            }
            return firstLine(v)
        case let .file(raw):
            let path = ConfigLoader.expandHome(raw, home: home)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SecretError(account: account.name, key: "password_file", message: "\(path) cannot be read")
            }
            if let w = FilePermissions.warnIfShared(path, what: "password file") { warn(w) }
            let s = firstLine(String(decoding: data, as: UTF8.self))
            guard !s.isEmpty else { throw SecretError(account: account.name, key: "password_file", message: "\(path) is empty") }
            return s
        case let .command(command):
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            let out = Pipe()
            p.standardOutput = out
            p.standardInput = FileHandle.nullDevice
            do {
                try p.run()
            } catch {
                throw SecretError(account: account.name, key: "password_command", message: "cannot run /bin/sh: \(error)")
            }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw SecretError(account: account.name, key: "password_command",
                                  message: "command exited with status \(p.terminationStatus)")
            }
            let s = firstLine(String(decoding: data, as: UTF8.self))
            guard !s.isEmpty else {
                throw SecretError(account: account.name, key: "password_command", message: "command printed nothing")
            }
            return s
        }
    }

    /// Up to the first line feed, without a CR before it: Swift's "\r\n" is one Character, so
    /// splitting on "\n" missed CRLF files and kept the "\r" in the password.
    static func firstLine(_ s: String) -> String {
        var line = String.UnicodeScalarView(s.unicodeScalars.prefix { $0 != "\n" })
        if line.last == "\r" { line.removeLast() }
        return String(line)
    }
}
