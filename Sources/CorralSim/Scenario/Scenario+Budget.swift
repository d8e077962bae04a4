import CorralCore

/// How much work a scenario may ask of one policy's run before `simulate` refuses it.
///
/// A scenario file is input: 5,000 devices at 1 M faults/s for an hour ran unbounded past
/// 495 MB before anyone stopped it. The simulator's work is its device events, so the bound is
/// on those: at the measured 1.86 M simulated events/s (benchmarks/RESULTS.md, simulator) the
/// default budget of 100 M is under a minute per policy, and every built-in scenario is far
/// below it. `corral simulate --max-events` raises it on purpose.
public struct SimulationBudget: Sendable, Hashable {
    public var maxEvents: Double
    public var maxDevices: Int

    public init(maxEvents: Double = 100_000_000, maxDevices: Int = 10_000) {
        self.maxEvents = maxEvents
        self.maxDevices = maxDevices
    }

    /// Why `scenario` exceeds this budget, or nil when it fits.
    public func problem(_ scenario: Scenario) -> String? {
        if scenario.devices.count > maxDevices {
            return "\(scenario.devices.count) devices, more than the \(maxDevices) a run may simulate"
        }
        let bound = scenario.eventBound
        guard bound > maxEvents else { return nil }
        let worst = scenario.devices.enumerated().map { ($0.offset, scenario.eventBound(device: $0.offset)) }
            .max { $0.1 < $1.1 }
        let culprit =
            worst.map { " (the most: device \(scenario.devices[$0.0].profile.address), \(Self.text($0.1)))" } ?? ""
        return "up to \(Self.text(bound)) device events per policy run\(culprit), more than the budget of "
            + "\(Self.text(maxEvents)); shorten the run, lower the rates, or pass --max-events"
    }

    static func text(_ count: Double) -> String {
        switch count {
        case 1e12...: "\(Int((count / 1e12).rounded())) T"
        case 1e9...: "\(Int((count / 1e9).rounded())) G"
        case 1e6...: "\(Int((count / 1e6).rounded())) M"
        default: "\(Int(count.rounded()))"
        }
    }
}

extension Scenario {
    /// An upper bound on the device events one policy's run generates: each behaviour at its
    /// rate for as long as it can be active (its duration once per relapse, never past the end
    /// of the run), plus the stray faults of surprise removals.
    public var eventBound: Double {
        devices.indices.reduce(0) { $0 + eventBound(device: $1) }
    }

    public func eventBound(device index: Int) -> Double {
        let device = devices[index]
        let total = duration.secondsDouble
        var bound = 0.0
        for behaviour in device.behaviours {
            let left = max(0, total - behaviour.start.secondsDouble)
            let active =
                behaviour.duration.map { min(left, $0.secondsDouble * Double(1 + max(0, behaviour.relapses))) } ?? left
            bound += max(0, behaviour.rate) * active
        }
        for happening in device.happenings {
            if case .surpriseRemoval(let faults) = happening.kind { bound += Double(max(0, faults)) }
        }
        return bound
    }
}
