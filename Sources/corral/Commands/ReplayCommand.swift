import ArgumentParser
import CorralCore
import CorralDaemon
import CorralDecode
import CorralStore
import Foundation

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

    @OptionGroup var reading: LogReadingOptions

    @Option(help: "Time between lines when the log has no timestamps (e.g. 1ms, 10us).")
    var lineInterval: String = "1ms"

    @Flag(help: "JSON Lines: one object per decision, per device, then a summary.")
    var json = false

    @Option(
        name: .customLong("journal"),
        help:
            "Keep the run in this journal (episodes, decisions); replaying the same file again updates it, never duplicates."
    )
    var journalPath: String?

    @Option(
        help: "Also write an HTML report of the run to this file (keeps a journal beside it if --journal is not given)."
    )
    var report: String?

    func run() throws {
        let policy = try configFile.map { try PolicyLoader.load(path: $0) } ?? Policy()
        let interval: Duration
        do {
            interval = try Duration(parsing: lineInterval)
        } catch {
            throw CommandFailure("--line-interval: \(error)")
        }
        let input = try InputFile(path: file)
        var parser = reading.parallelParser()
        var splitter = LineSplitter()
        var writer = try journalWriter(for: input, path: journalPath ?? report.map { $0 + ".journal.sqlite" })
        // Decisions leave as they are made (journal, JSON lines): a long log does not grow memory.
        let json = self.json
        var replay = LogReplay(policy: policy, lineInterval: interval) { decision in
            writer?.record(decision)
            if json { print(JSONLine.encode(decision)) }
        }
        let emit: (LogEvent) -> Void = { event in
            replay.add(event)
            writer?.observe(event.observation(subject: LogReplay.subject(event), at: replay.lastEventAt))
        }
        try input.parse(with: &splitter, into: &parser, emit: emit)
        replay.finish()
        if var journal = writer {
            journal.record(states: replay.engine.devices, at: replay.now)
            if !journal.flush() {
                throw CommandFailure("journal: \(journal.lastError ?? "write failed"); the replay above was not kept")
            }
            if let report {
                do {
                    try ReportCommand.write(
                        HTMLReport.render(
                            try Journal(path: journalPath ?? report + ".journal.sqlite"),
                            title: "corral replay \(input.name)"), to: report)
                } catch let failure as CommandFailure {
                    throw failure
                } catch {
                    throw CommandFailure("\(error)")
                }
            }
        }
        if json {
            ReplayReport.printJSON(replay, statistics: parser.statistics)
            InputFile.noteConversions(splitter.conversions, of: input.name)
        } else {
            print(
                ReplayReport.text(
                    replay, source: input.name, statistics: parser.statistics, conversions: splitter.conversions,
                    suppressedMessages: policy.suppressedMessages))
        }
    }

    /// A writer for `--journal`: the run is named after the input, so a second replay of the
    /// same file updates its rows instead of adding new ones.
    func journalWriter(for input: InputFile, path: String?) throws -> JournalWriter? {
        guard let journalPath = path else { return nil }
        do {
            let journal = try Journal(path: journalPath)
            let name = input.name == "<stdin>" ? "<stdin>" : URL(fileURLWithPath: input.name).standardizedFileURL.path
            let run = try journal.run(kind: "replay", name: name, startedUTC: utcNow())
            return JournalWriter(journal: journal, run: run)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
