import ArgumentParser
import CorralStore
import Foundation

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "One health verdict from the journal, for node-problem-detector and other pollers.",
        discussion: """
            Prints one line and exits as node-problem-detector's custom plugins do: 0 no device is \
            held, 1 Corral holds (or has retired) a device — the line names them —, 2 unknown (the \
            journal cannot be read). It reads Corral's journal, as `corral status` does, never the \
            kernel log. contrib/kubernetes/ has the plugin monitor's configuration (docs/fleet.md).
            """)

    @OptionGroup var journal: JournalOption

    @Option(help: "What is a problem: contained (any device Corral holds, retired ones included) or retired.")
    var condition: NodeCheck.Condition = .contained

    @Option(help: "Longest line printed, in bytes (node-problem-detector's max_output_length).")
    var maxLength: Int = 80

    func validate() throws {
        guard maxLength >= 8 else { throw ValidationError("--max-length: at least 8 bytes") }
    }

    func run() throws {
        // An unreadable journal is the protocol's "unknown" (2), not a command failure (1): 1
        // would tell node-problem-detector a device is held.
        let check: NodeCheck
        do {
            check = NodeCheck.evaluate(try journal.open(), condition: condition, maximumLength: maxLength)
        } catch {
            check = NodeCheck(verdict: .unknown, message: NodeCheck.fit("unknown: \(error)", maxLength))
        }
        print(check.message)
        throw ExitCode(check.verdict.rawValue)
    }
}

extension NodeCheck.Condition: ExpressibleByArgument {}
