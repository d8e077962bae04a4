import CorralCore
import CorralDecode

/// Output of `corral replay`.
enum ReplayReport {
    static func timeline(_ replay: LogReplay) -> String {
        switch replay.clock {
        case .sinceBoot: "virtual time from the log's boot-clock timestamps"
        case .wallClock: "virtual time from the log's wall-clock timestamps (1 s resolution in syslog)"
        case nil: "no timestamps in the log: one line every \(replay.lineInterval.compact), virtual time"
        }
    }

    static func text(
        _ replay: LogReplay, source: String, statistics: LogStatistics, conversions: [String] = [],
        suppressedMessages: Policy.SuppressedMessagesPolicy = .count
    ) -> String {
        var out: [String] = []
        out.append("corral replay \(source) — \(timeline(replay)); recommend mode (what Corral would have done)")
        if !conversions.isEmpty { out.append("Read as: " + conversions.joined(separator: "; ") + ".") }
        out.append(
            "\(Count.grouped(statistics.lines)) lines, \(Count.grouped(statistics.eventCount)) device events over "
                + "\(Duration.nanoseconds(replay.lastEventAt.nanoseconds).readable) of log time.")
        if replay.timeWentBackwards > 0 {
            out.append(
                "Timestamps went backwards \(replay.timeWentBackwards) time(s); those events were kept at the last time."
            )
        }
        for name in replay.order {
            // Events no device can be held to are not a device's section: the lines at the end
            // say what they are (kernel rate limiting, faults with no device named).
            guard let subject = replay.subjects[name], !Subject(name: name).isUnattributed else { continue }
            out.append("")
            out.append(subject.firstLine > 0 ? "\(name)  (first at line \(subject.firstLine))" : name)
            let counts = LogEvent.Kind.allCases.compactMap { kind in
                subject.events[kind].map { "\(Count.grouped($0)) \(kind)" }
            }
            if !counts.isEmpty {
                out.append(
                    "  events: " + counts.joined(separator: ", ") + "; peak \(Count.grouped(subject.peakPerSecond))/s")
            }
            // Storms are counted only when there were some: "storms found: 0" above a line of
            // reports or recommendations read as a contradiction (issue 17).
            if subject.storms > 0 { out.append("  storms found: \(Count.grouped(UInt64(subject.storms)))") }
            if subject.decisionCount == 0 {
                if replay.suppressed > 0 {
                    // The log is a lower bound: what it shows is below every threshold, what
                    // happened may not have been.
                    out.append(
                        "  Below every threshold in what the log shows; the kernel dropped "
                            + "\(Count.grouped(replay.suppressed)) messages (see below), so the real count may be higher."
                    )
                } else {
                    out.append("  Corral would have done nothing: below every threshold.")
                }
            } else {
                out.append("  Corral would have:")
                for decision in subject.decisions {
                    out.append("    " + TextReport.decision(decision))
                }
                if subject.decisionsNotKept > 0 {
                    out.append(
                        "    … \(Count.grouped(subject.decisionsNotKept)) more decisions not shown "
                            + "(all of them: --json or --journal) …")
                }
                for decision in subject.laterDecisions {
                    out.append("    " + TextReport.decision(decision))
                }
            }
        }
        out.append("")
        if replay.subjects.values.contains(where: { $0.decisionCount > 0 }) {
            out.append(
                "Marks: ? recommended (replay runs in recommend mode: nothing is done); ! an action; "
                    + "~ a coalesced storm report (one per report interval); none: a state change.")
        }
        if replay.suppressed > 0 {
            out.append(
                "Lost to kernel rate limiting: \(Count.grouped(replay.suppressed)) messages (`callbacks suppressed`): "
                    + "every count above is a lower bound. "
                    + (suppressedMessages == .attribute
                        ? "They were held against the noisiest device on their IOMMU, rate included "
                            + "(suppressed-messages: attribute)."
                        : "`suppressed-messages: attribute` in a policy (--config) holds them against the noisiest "
                            + "device on their IOMMU, so they can reach its storm threshold."))
        }
        if replay.overflows > 0 {
            out.append("Hardware queue overflows reported: \(replay.overflows) (faults the IOMMU itself dropped).")
        }
        if !replay.unattributed.isEmpty {
            let parts = replay.unattributed.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key)" }
            out.append(
                "Events without a device named in the log (counted, not attributed): " + parts.joined(separator: ", ")
                    + ".")
        }
        if statistics.malformed > 0 {
            out.append("Malformed records skipped: \(statistics.malformed) (see `corral decode` for lines).")
        }
        if statistics.unrecognized > 0 {
            out.append(
                "Not understood: \(statistics.unrecognized) record(s) from an IOMMU driver, AER or DPC in a format "
                    + "Corral does not know (see `corral decode` for lines).")
        }
        return out.joined(separator: "\n")
    }

    /// The subjects and the summary; the decisions were printed as they were made.
    static func printJSON(_ replay: LogReplay, statistics: LogStatistics) {
        for line in replay.subjectLines { print(JSONLine.encode(line)) }
        print(JSONLine.encode(replay.summaryLine(statistics)))
    }
}
