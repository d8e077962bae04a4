import ArgumentParser
import CorralDecode

/// How `decode` and `replay` read a log: one set of flags, one parser.
struct LogReadingOptions: ParsableArguments {
    @Option(
        help:
            "Force one line format instead of detecting it: \(LogFormat.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var format: LogFormat?

    @Flag(
        name: .customLong("in-prose"),
        help: ArgumentHelp(
            "Also find kernel lines pasted inside prose (plain-text pastes from bug reports).",
            discussion: "Off by default: in plain text, prose and text a device controls look alike."))
    var inProse = false

    func parser() -> KernelLogParser { KernelLogParser(format: format, findInProse: inProse) }
}
