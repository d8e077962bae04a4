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
