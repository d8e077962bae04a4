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
        help: ArgumentHelp(
            "Read the log as pasted into a bug report: split dmesg lines joined into one, find kernel lines inside prose.",
            discussion:
                "Off by default: what it looks for is also what a device could put in its own strings (a USB product string holding a dmesg stamp and a DMAR line)."
        ))
    var pasted = false

    func parser() -> KernelLogParser { KernelLogParser(format: format, pasted: pasted) }

    /// The same parser over every core, for a file (blocks of lines from `LineSplitter`).
    func parallelParser() -> ParallelLogParser { ParallelLogParser(format: format, pasted: pasted) }
}
