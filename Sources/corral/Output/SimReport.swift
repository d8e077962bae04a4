import CorralCore
import CorralSim

/// Output of `corral simulate`: the timeline of the first policy, then the comparison table.
enum SimReport {
    static func text(_ scenario: Scenario, seed: UInt64, _ results: [SimResult]) -> String {
        var out: [String] = []
        out.append("corral simulate \(scenario.name) — seed \(seed), \(scenario.duration.readable) of virtual time")
        out.append(scenario.description)
        out.append("Figures come from the simulator's model (docs/simulator.md), not from hardware.")
        if let first = results.first {
            out.append("")
            out.append("Timeline (\(first.policy); times are virtual, from the start of the simulation):")
            let shown = first.timeline.prefix(60)
            for entry in shown {
                out.append(
                    "  \(pad(entry.at.description, 15)) \(pad(entry.kind.rawValue, 11)) \(pad(entry.subject, 13)) \(entry.text)"
                )
            }
            if first.timeline.count > shown.count {
                out.append("  ... \(first.timeline.count - shown.count) more entries (--json has them all)")
            }
        }
        out.append("")
        let rows: [(String, (SimResult) -> String)] = [
            (
                "contained after",
                { result in
                    result.containedAfter.map { ms($0) } ?? result.endedWithoutContainment.map { "- (\($0))" }
                        ?? "never"
                }
            ),
            // The price beside the speed: how long devices could not work (bus master off,
            // frozen, in a reset, removed). EEH's freeze-on-first-error is fast and costly.
            ("out of work: misbehaving", { ms($0.misbehavingUnableToWork) }),
            ("out of work: healthy devices", { ms($0.healthyUnableToWork) }),
            ("CPU for other work, min", { percent($0.cpuOtherWorkMin) }),
            ("CPU for other work, mean", { percent($0.cpuOtherWorkMean) }),
            ("faults handled", { Count.grouped($0.faultsHandled) }),
            ("faults recorded", { Count.grouped($0.faultsRecorded) }),
            ("faults lost (queue full)", { Count.grouped($0.faultsLost) }),
            ("faults silenced at the IOMMU", { Count.grouped($0.faultsSilenced) }),
            ("healthy devices acted on", { String($0.healthyDisturbed.count) }),
            ("devices retired", { String($0.retired.count) }),
        ]
        out += TextTable.lines(
            [[""] + results.map(\.policy)] + rows.map { name, value in [name] + results.map(value) })
        out.append("")
        out.append("CPU figures: share of the fault-handling CPU left over the storm's first second, in 1 ms buckets.")
        out.append(
            "Out of work: time a device could not work (bus master off, DMA blocked, interrupts off, frozen, "
                + "in a reset, removed, retired), summed over the devices, over the whole run.")
        return out.joined(separator: "\n")
    }

    static func json(_ scenario: Scenario, seed: UInt64, _ results: [SimResult]) -> String {
        JSONLine.encode(SimDocument(scenario: scenario.name, seed: seed, duration: scenario.duration, results: results))
    }

    static func ms(_ duration: Duration) -> String {
        let micros = duration.nanosecondsClamped / 1000
        return "\(micros / 1000).\(String(micros % 1000).leftPad(3)) ms"
    }

    static func percent(_ share: Double) -> String {
        let basis = Int((share * 10_000).rounded())
        return "\(basis / 100).\(String(basis % 100).leftPad(2))%"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
