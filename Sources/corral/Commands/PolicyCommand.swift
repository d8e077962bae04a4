import ArgumentParser
import CorralConfig
import CorralCore

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Show the default policy, or check a policy file.",
        subcommands: [Defaults.self, Check.self])

    struct Defaults: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the complete default policy as a commented YAML file.",
            discussion:
                "Every key with its default and where the default comes from. Redirect it to start a config: corral policy defaults > /etc/corral/corral.yaml"
        )

        @Flag(help: "The policy as one JSON document, with the file's keys (itself a valid policy file).")
        var json = false

        func run() throws {
            if json {
                print(try PolicyFile.json(Policy()))
            } else {
                print(PolicyFile.render(Policy()), terminator: "")
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a policy file; print the effective policy, or the first error with its file:line:column and key."
        )

        @Argument(help: "The YAML policy file.")
        var file: String

        @Flag(help: "The effective policy as one JSON document (exit 0: the file is valid).")
        var json = false

        func run() throws {
            let policy = try PolicyLoader.load(path: file)
            if json {
                print(try PolicyFile.json(policy))
                return
            }
            print("\(file): ok\n")
            print(PolicyFile.render(policy), terminator: "")
        }
    }
}
