import CorralCore
import Foundation

/// `corral status` as text: one row per device the journal knows, columns as wide as their
/// widest cell (names of any length never run into the next column), pending releases marked
/// in the state and listed with who asked and when, then the protected devices.
public enum StatusTable {
    /// A release journaled and not yet applied by the daemon (`Journal.pendingReleases()`).
    public struct PendingRelease: Hashable, Sendable {
        public var id: Int64
        public var device: Subject
        public var by: String
        public var atUTC: Int64

        public init(id: Int64, device: Subject, by: String, atUTC: Int64) {
            self.id = id
            self.device = device
            self.by = by
            self.atUTC = atUTC
        }
    }

    public static func render(
        _ summaries: [Journal.DeviceSummary], pending: [PendingRelease], protected: [String: [String]], path: String
    ) -> String {
        var lines: [String] = []
        // Pseudo-subjects (the kernel's rate limiting, faults with no device named) are not
        // devices: listed apart, after the table (issue 17).
        let unattributed = summaries.filter { $0.device.isUnattributed }
        let summaries = summaries.filter { !$0.device.isUnattributed }
        if summaries.isEmpty {
            lines.append("\(path): no devices yet.")
        } else {
            var rows = [["device", "state", "events", "last episode", "budget"]]
            for summary in summaries {
                let last =
                    summary.lastEpisode.map {
                        "\(Count.grouped($0.count))\($0.lowerBound ? "+" : "") \($0.eventClass) at \(Instant(nanoseconds: $0.last))"
                    } ?? "-"
                var state = summary.state ?? "-"
                if let release = pending.first(where: { $0.device == summary.device }) {
                    state += " (release #\(release.id) pending)"
                }
                rows.append([
                    summary.device.description, state, Count.grouped(summary.events), last,
                    summary.budgetLeft.map(String.init) ?? "-",
                ])
            }
            lines += TextTable.lines(rows)
            lines.append("")
            lines.append("`+`: a lower bound (the kernel or a full queue dropped some). Times are the run's own clock.")
        }
        if !unattributed.isEmpty {
            lines.append("")
            lines.append("Not attributable to a device (counted, never acted on):")
            lines += TextTable.lines(
                unattributed.map { summary in
                    let last = summary.lastEpisode.map {
                        "\(Count.grouped($0.count))\($0.lowerBound ? "+" : "") \($0.eventClass), last at \(Instant(nanoseconds: $0.last))"
                    }
                    return ["  \(summary.device)", last ?? "\(Count.grouped(summary.events)) events"]
                })
        }
        if !pending.isEmpty {
            lines.append("")
            lines.append("Pending releases (the daemon applies them at its next step):")
            lines += TextTable.lines(
                pending.map { ["  #\($0.id)", $0.device.description, "by \($0.by)", "at \(utc($0.atUTC))"] })
        }
        if !protected.isEmpty {
            lines.append("")
            lines.append("Protected (never written to, nor any port above them; recommendations only):")
            lines += TextTable.lines(
                protected.sorted { $0.key < $1.key }.map { ["  \($0.key)", $0.value.joined(separator: ", ")] })
        }
        return lines.joined(separator: "\n")
    }

    /// RFC 3339 in UTC, to the second.
    static func utc(_ nanoseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }
}
