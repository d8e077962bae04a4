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
        _ summaries: [Journal.DeviceSummary], pending: [PendingRelease], protected: [String: [String]], path: String,
        display: TimeDisplay = .utc, names: DeviceNames = DeviceNames(identities: [:])
    ) -> String {
        var lines: [String] = []
        // Pseudo-subjects (the kernel's rate limiting, faults with no device named) are not
        // devices: listed apart, after the table (issue 17).
        let unattributed = summaries.filter { $0.device.isUnattributed }
        let summaries = summaries.filter { !$0.device.isUnattributed }
        if summaries.isEmpty {
            lines.append("\(path): no devices yet.")
        } else {
            // What each device is (issue 17), last: a long model name cannot push the numbers apart.
            let described = summaries.contains { names.describe($0.device) != nil }
            var rows = [
                ["device", "state", "events", "last episode", "next step at", "budget"]
                    + (described ? ["what it is"] : [])
            ]
            for summary in summaries {
                let last =
                    summary.lastEpisode.map {
                        "\(Count.grouped($0.count))\($0.lowerBound ? "+" : "") \($0.eventClass) at \(display.text(utc: $0.lastUTC, at: $0.last, clock: $0.clock))"
                    } ?? "-"
                var state = summary.state ?? "-"
                if let release = pending.first(where: { $0.device == summary.device }) {
                    state += " (release #\(release.id) pending)"
                }
                // When the engine acts on it next (a hold ends, probation ends, a quiescence
                // deadline): the moment an operator asks "when does it come back?".
                let next =
                    summary.nextDeadline.flatMap { deadline in
                        deadline == Int64.max
                            ? nil
                            : display.text(utc: summary.nextDeadlineUTC, at: deadline, clock: summary.stateClock)
                    } ?? "-"
                rows.append(
                    [
                        summary.device.description, state, Count.grouped(summary.events), last, next,
                        summary.budgetLeft.map(String.init) ?? "-",
                    ] + (described ? [names.describe(summary.device) ?? "-"] : []))
            }
            lines += TextTable.lines(rows)
            lines.append("")
            lines.append(
                "`+`: a lower bound (the kernel or a full queue dropped some). Times: RFC 3339 "
                    + (display.timeZone == TimeDisplay.utc.timeZone ? "in UTC" : "in local time (--utc for UTC)")
                    + "; `virtual`: a simulated or replayed run's own clock.")
        }
        if !unattributed.isEmpty {
            lines.append("")
            lines.append("Not attributable to a device (counted, never acted on):")
            lines += TextTable.lines(
                unattributed.map { summary in
                    let last = summary.lastEpisode.map {
                        "\(Count.grouped($0.count))\($0.lowerBound ? "+" : "") \($0.eventClass), last at \(display.text(utc: $0.lastUTC, at: $0.last, clock: $0.clock))"
                    }
                    return ["  \(summary.device)", last ?? "\(Count.grouped(summary.events)) events"]
                })
        }
        if !pending.isEmpty {
            lines.append("")
            lines.append("Pending releases (the daemon applies them at its next step):")
            lines += TextTable.lines(
                pending.map {
                    [
                        "  #\($0.id)", $0.device.description, "by \($0.by)",
                        "at \(display.rfc3339($0.atUTC, fractionDigits: 0))",
                    ]
                })
        }
        if !protected.isEmpty {
            lines.append("")
            lines.append("Protected (never written to, nor any port above them; recommendations only):")
            lines += TextTable.lines(
                protected.sorted { $0.key < $1.key }.map { ["  \($0.key)", $0.value.joined(separator: ", ")] })
        }
        return lines.joined(separator: "\n")
    }
}
