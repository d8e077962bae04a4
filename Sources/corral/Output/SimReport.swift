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
            out.append("Timeline (\(first.policy)):")
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
            ("contained after", { $0.containedAfter.map { ms($0) } ?? "never" }),
            ("CPU for other work, min", { percent($0.cpuOtherWorkMin) }),
            ("CPU for other work, mean", { percent($0.cpuOtherWorkMean) }),
            ("faults handled", { Count.grouped($0.faultsHandled) }),
            ("faults recorded", { Count.grouped($0.faultsRecorded) }),
            ("faults lost (queue full)", { Count.grouped($0.faultsLost) }),
            ("faults silenced at the IOMMU", { Count.grouped($0.faultsSilenced) }),
            ("healthy devices disturbed", { String($0.healthyDisturbed.count) }),
            ("devices retired", { String($0.retired.count) }),
        ]
        let width = 30
        out.append(pad("", width) + results.map { pad($0.policy, 14) }.joined())
        for (name, value) in rows {
            out.append(pad(name, width) + results.map { pad(value($0), 14) }.joined())
        }
        out.append("")
        out.append("CPU figures: share of the fault-handling CPU left over the storm's first second, in 1 ms buckets.")
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
