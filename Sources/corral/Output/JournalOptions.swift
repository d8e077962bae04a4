import ArgumentParser
import CorralCore
import CorralDecode
import CorralStore
import Foundation

/// `--journal PATH` for the commands that read or write the journal.
struct JournalOption: ParsableArguments {
    @Option(name: .customLong("journal"), help: "The journal (SQLite) to use (default: \(Journal.defaultPath)).")
    var path: String = Journal.defaultPath

    /// Opens an existing journal (reading commands never create one).
    func open() throws -> Journal {
        do {
            return try Journal(path: path, create: false)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

extension LogEvent {
    /// The journal's view of a log event: who, which class (AER by severity), when, what.
    func observation(subject: String, at: Instant) -> Observation {
        let eventClass: String
        switch kind {
        case .aer: eventClass = "aer-\(severity?.rawValue ?? "unknown")"
        default: eventClass = kind.rawValue
        }
        return Observation(
            subject: subject, eventClass: eventClass, at: at.nanoseconds, count: kind == .suppressed ? (count ?? 1) : 1,
            address: address?.rawValue, status: status, lowerBound: kind == .suppressed)
    }
}

/// Nanoseconds since the Unix epoch, now (the journal's UTC timestamps).
func utcNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
