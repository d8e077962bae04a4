import ArgumentParser
import CorralCore
import CorralDecode

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run a real kernel log through the containment engine and say what Corral would have done.",
        discussion: """
            Time is virtual, taken from the log's own timestamps (boot clock from dmesg or \
            /dev/kmsg; wall clock from syslog, journald or dmesg -T). A log without timestamps \
            is replayed at one line per --line-interval, and the output says so.

            Per device: events by class, the peak rate (events in one second of log time), \
            the storms found, and every action Corral would have taken and when. The engine \
            runs in recommend mode: a log shows what the kernel saw, not what an action would \
            have changed. What the kernel's rate limiting dropped (`callbacks suppressed`) is \
            reported: counts from a log are lower bounds.
            """)

    @Argument(help: "The log file ('-' or nothing: standard input).")
    var file: String?

    @Option(name: .customLong("config"), help: "A policy YAML file for thresholds (see `corral policy defaults`).")
    var configFile: String?

    @Option(help: "Force one line format instead of detecting it.")
    var format: LogFormat?

    @Option(help: "Time between lines when the log has no timestamps (e.g. 1ms, 10us).")
    var lineInterval: String = "1ms"

    @Flag(help: "JSON Lines: one object per decision, per device, then a summary.")
    var json = false

    func run() throws {
        let policy = try configFile.map { try PolicyLoader.load(path: $0) } ?? Policy()
        let interval: Duration
        do {
            interval = try Duration(parsing: lineInterval)
        } catch {
            throw CommandFailure("--line-interval: \(error)")
        }
        let input = try InputFile(path: file)
        var parser = KernelLogParser(format: format)
        var splitter = LineSplitter()
        var replay = LogReplay(policy: policy, lineInterval: interval)
        var progress = Progress(total: input.size, label: "replay")
        var bytes = 0
        try input.forEachChunk { chunk in
            bytes += chunk.count
            splitter.feed(chunk) { line in parser.add(line: line) { replay.add($0) } }
            progress.update(bytes: bytes, lines: parser.statistics.lines)
        }
        splitter.finish { line in parser.add(line: line) { replay.add($0) } }
        parser.finish { replay.add($0) }
        replay.finish()
        progress.finish()
        if json {
            ReplayReport.printJSON(replay, statistics: parser.statistics)
        } else {
            print(ReplayReport.text(replay, source: input.name, statistics: parser.statistics))
        }
    }
}
