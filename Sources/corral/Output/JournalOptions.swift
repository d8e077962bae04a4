import ArgumentParser
import CorralCore
import CorralDaemon
import CorralDecode
import CorralStore
import Foundation

/// `--journal PATH` for the commands that read or write the journal.
struct JournalOption: ParsableArguments {
    @Option(name: .customLong("journal"), help: "The journal (SQLite) to use.")
    var path: String = Journal.defaultPath

    /// Opens an existing journal to read it: never created, migrated or written, so it works on a
    /// read-only file system and on a full disk.
    func open() throws -> Journal {
        do {
            return try Journal.readOnly(path: path)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// Opens an existing journal to write to it (an operator's release).
    func openForWriting() throws -> Journal {
        do {
            return try Journal(path: path, create: false)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// Nanoseconds since the Unix epoch, now (the journal's UTC timestamps).
func utcNow() -> Int64 { SystemClock.utc() }

/// `--since` and `--utc` for the commands that show journaled times (issue 17): times are
/// RFC 3339 in local time unless `--utc`; `--since` counts from now.
struct TimeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Only what happened since TIME.",
            discussion:
                "A duration back from now (30m, 1h, 2d), today, yesterday, a local date and time "
                + "(2026-11-30, '2026-11-30 14:00') or RFC 3339 (2026-11-30T14:00:00Z). A simulated or replayed run "
                + "has no wall clock: it counts from when it was journaled.",
            valueName: "TIME"))
    var since: String?

    @Flag(help: "Show times in UTC (RFC 3339 with Z) instead of local time.")
    var utc = false

    var display: TimeDisplay { TimeDisplay.choose(utc: utc) }

    /// `--since` as UTC nanoseconds, counted from `now`.
    func sinceUTC(now: Int64 = utcNow()) throws -> Int64? {
        guard let since else { return nil }
        do {
            return try SinceExpression.parse(since, now: now, timeZone: display.timeZone)
        } catch {
            throw CommandFailure("--since: \(error)")
        }
    }
}

/// `--pci-ids FILE`: where vendor and device names come from (`lspci -i`).
struct NamesOption: ParsableArguments {
    @Option(
        name: .customLong("pci-ids"),
        help: ArgumentHelp(
            "Read vendor and device names from FILE.",
            discussion:
                "By default the system's, as lspci finds it: \(DeviceNames.pciIDsPaths.joined(separator: ", ")) "
                + "(Debian's pci.ids package). Without one, devices are shown by their IDs.",
            valueName: "FILE"))
    var pciIDs: String?

    func load(_ journal: Journal) throws -> DeviceNames {
        if let pciIDs, !FileManager.default.isReadableFile(atPath: pciIDs) {
            throw CommandFailure("--pci-ids: \(pciIDs): cannot read it")
        }
        do {
            return try DeviceNames.load(journal, pciIDsPaths: pciIDs.map { [$0] } ?? DeviceNames.pciIDsPaths)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
