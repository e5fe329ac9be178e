import ArgumentParser
import Foundation
import Mirror

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Connect to accounts and show what the server offers and what jmirror can back up.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Accounts to check (default: all configured).")
    var accounts: [String] = []

    @Flag(help: "Print JSON instead of text.")
    var json = false

    struct Failure: Encodable {
        var name: String
        var error: String
        var kind: String
        var exitCode: Int32
    }

    struct Output: Encodable {
        var accounts: [DoctorReport]
        var failures: [Failure]
    }

    func run() async throws {
        let logger = global.start()
        Interruption.json = json
        let selected: [AccountConfig]
        do {
            selected = try global.loadConfig().accounts(named: accounts)
        } catch {
            throw Console.fail(error, json: json)
        }
        var output = Output(accounts: [], failures: [])
        var worst = ExitStatus.success
        for account in selected {
            do {
                let client = try await Connector.connect(account, logger: logger, warn: Console.error)
                let report = DoctorReport(name: account.name, session: await client.session, profile: account.profile)
                output.accounts.append(report)
                if !json { Console.out(report.renderText()) }
            } catch {
                let status = ErrorClassifier.status(for: error)
                if worst == .success { worst = status }
                output.failures.append(Failure(name: account.name, error: "\(error)", kind: ErrorClassifier.kind(for: error),
                                               exitCode: status.rawValue))
                Console.error("jmirror: \(account.name): \(error)")
            }
        }
        if json { Console.json(output) }
        if worst != .success { throw ExitCode(worst.rawValue) }
    }
}
