import CorralCore

/// Something a simulated device did, as it happened (to journal a run).
public struct SimEvent: Sendable {
    public var subject: Subject
    public var eventClass: ObservedClass
    public var at: Instant
    public var count: UInt64
    public var address: UInt64?
    public var status: UInt32?
    /// What a DMA fault was, as the domain walk found it.
    public var faultKind: DMAFaultKind?
}

/// One line of a run's story.
public struct TimelineEntry: Hashable, Sendable {
    public enum Kind: String, Sendable {
        case onset, detection, action, outcome, quiescence, reenable, relapse, retired, removal, insertion
        case overflow, freeze, recovery, kernel, owner, note
    }
    public var at: Instant
    public var kind: Kind
    public var subject: String
    public var text: String
}

/// What a policy made of a scenario. Every figure comes from the simulator's model
/// (`CostModel`, the IOMMU models), not from hardware.
public struct SimResult: Sendable {
    public var scenario: String
    public var seed: UInt64
    public var policy: String
    /// From the first misbehaviour to the moment the offending device's faults stopped
    /// reaching the CPU (silenced, stopped, frozen, reset, removed); nil if that never happened.
    public var containedAfter: Duration?
    /// The offending device's fault source went away by itself (a surprise removal) before any
    /// containment: nothing needed containing, which `containedAfter == nil` alone would not say.
    public var endedWithoutContainment: String? = nil
    /// Share of the fault-handling CPU left for other work in 1 ms buckets over the storm's
    /// first second (or the rest of the run if shorter): minimum and mean.
    public var cpuOtherWorkMin: Double
    public var cpuOtherWorkMean: Double
    /// Fault records the handler read, records the hardware stored, faults dropped because its
    /// queue was full, faults not recorded because reporting was silenced for their source (or
    /// an SMMU aborted the blocked stream without an event).
    public var faultsHandled: UInt64
    public var faultsRecorded: UInt64
    public var faultsLost: UInt64
    public var faultsSilenced: UInt64
    /// Recoverable page requests served (legitimate traffic).
    public var pageRequests: UInt64
    /// Healthy devices an action or a freeze touched.
    public var healthyDisturbed: [DeviceAddress]
    public var retired: [DeviceAddress]
    /// Per device: faults it caused and how many of them were recorded, lost, handled.
    public var devices: [DeviceTally]
    public var timeline: [TimelineEntry]
    /// Simulated events processed (for the benchmark).
    public var simulatedEvents: UInt64
    /// The engine's own counts (corral only): what it ignored and why.
    public var engineStatistics: EngineStatistics?
    /// Every engine decision (corral only), for the journal.
    public var decisions: [Decision] = []
    /// The engine's view of each device at the end (corral only).
    public var finalStates: [DeviceStatus] = []

    public struct DeviceTally: Hashable, Sendable {
        public var device: DeviceAddress
        public var healthy: Bool
        public var faults: UInt64 = 0
        public var recorded: UInt64 = 0
        public var lost: UInt64 = 0
        public var silenced: UInt64 = 0
        public var handled: UInt64 = 0
        public var state: String = "healthy"
        /// How long it could not work (bus master off, DMA blocked, interrupts off, frozen,
        /// retired, in a reset, removed): the price of a containment (`Simulation.canWork`).
        public var unableToWork: Duration = .zero
    }

    /// Time unable to work, summed over the misbehaving devices and over the healthy ones.
    public var misbehavingUnableToWork: Duration {
        devices.filter { !$0.healthy }.map(\.unableToWork).reduce(.zero, +)
    }
    public var healthyUnableToWork: Duration { devices.filter(\.healthy).map(\.unableToWork).reduce(.zero, +) }
}

/// `simulate --json`: one document for the scenario, every policy's figures and the merged
/// timeline. Figures come from the simulator's model, which `"model": "simulated"` says.
public struct SimDocument: Encodable, Sendable {
    public var scenario: String
    public var seed: UInt64
    public var durationMS: Int64
    public var model = "simulated"
    public var policies: [PolicyFigures]
    public var timeline: [TimelineLine]
    /// Every policy's engine decisions in the one decision schema (`replay`, `history`), with
    /// the policy and `clock: virtual`; the timeline tells the rest of the story (the devices,
    /// the IOMMU, the kernel) in words.
    public var decisions: [PolicyDecision]

    enum CodingKeys: String, CodingKey {
        case scenario, seed, model, policies, timeline, decisions
        case durationMS = "duration_ms"
    }

    public init(scenario: String, seed: UInt64, duration: Duration, results: [SimResult]) {
        self.scenario = scenario
        self.seed = seed
        durationMS = duration.nanosecondsClamped / 1_000_000
        policies = results.map(PolicyFigures.init)
        timeline = results.flatMap { result in result.timeline.map { TimelineLine(policy: result.policy, $0) } }
        decisions = results.flatMap { result in
            result.decisions.map { PolicyDecision(policy: result.policy, decision: $0) }
        }
    }

    /// A decision as `replay --json` prints it, plus `policy` and `clock` (`virtual`).
    public struct PolicyDecision: Encodable, Sendable {
        public var policy: String
        public var decision: Decision

        enum CodingKeys: String, CodingKey { case policy, clock }

        public func encode(to encoder: any Encoder) throws {
            try decision.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(policy, forKey: .policy)
            try container.encode("virtual", forKey: .clock)
        }
    }

    /// One policy's figures (the keys of issue 4, then more). Decimals are rounded to what the
    /// model can tell apart (µs, 0.1 %), so a run prints the same text every time.
    public struct PolicyFigures: Encodable, Sendable {
        public var policy: String
        public var containedAfterMS: Double?
        public var cpuOtherWorkMin: Double
        public var cpuOtherWorkMean: Double
        public var faultsHandled: UInt64
        public var faultsRecorded: UInt64
        public var faultsLost: UInt64
        public var faultsSilenced: UInt64
        public var pageRequests: UInt64
        public var healthyDisturbed: Int
        public var retired: Int
        public var ignoredAfterRemoval: UInt64?
        public var ignoredRecoverable: UInt64?
        public var devices: [DeviceFigures]

        enum CodingKeys: String, CodingKey {
            case policy, retired, devices
            case containedAfterMS = "contained_after_ms"
            case cpuOtherWorkMin = "cpu_other_work_min"
            case cpuOtherWorkMean = "cpu_other_work_mean"
            case faultsHandled = "faults_handled"
            case faultsRecorded = "faults_recorded"
            case faultsLost = "faults_lost"
            case faultsSilenced = "faults_silenced"
            case pageRequests = "page_requests"
            case healthyDisturbed = "healthy_disturbed"
            case ignoredAfterRemoval = "ignored_after_removal"
            case ignoredRecoverable = "ignored_recoverable"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(policy, forKey: .policy)
            try container.encode(containedAfterMS, forKey: .containedAfterMS)  // null: never contained
            try container.encode(cpuOtherWorkMin, forKey: .cpuOtherWorkMin)
            try container.encode(cpuOtherWorkMean, forKey: .cpuOtherWorkMean)
            try container.encode(faultsHandled, forKey: .faultsHandled)
            try container.encode(faultsRecorded, forKey: .faultsRecorded)
            try container.encode(faultsLost, forKey: .faultsLost)
            try container.encode(faultsSilenced, forKey: .faultsSilenced)
            try container.encode(pageRequests, forKey: .pageRequests)
            try container.encode(healthyDisturbed, forKey: .healthyDisturbed)
            try container.encode(retired, forKey: .retired)
            try container.encodeIfPresent(ignoredAfterRemoval, forKey: .ignoredAfterRemoval)
            try container.encodeIfPresent(ignoredRecoverable, forKey: .ignoredRecoverable)
            try container.encode(devices, forKey: .devices)
        }

        init(_ result: SimResult) {
            policy = result.policy
            containedAfterMS = result.containedAfter.map { rounded(Double($0.nanosecondsClamped) / 1e6, digits: 3) }
            cpuOtherWorkMin = rounded(result.cpuOtherWorkMin, digits: 3)
            cpuOtherWorkMean = rounded(result.cpuOtherWorkMean, digits: 6)
            faultsHandled = result.faultsHandled
            faultsRecorded = result.faultsRecorded
            faultsLost = result.faultsLost
            faultsSilenced = result.faultsSilenced
            pageRequests = result.pageRequests
            healthyDisturbed = result.healthyDisturbed.count
            retired = result.retired.count
            ignoredAfterRemoval = result.engineStatistics?.ignoredAfterRemoval
            ignoredRecoverable = result.engineStatistics?.ignoredRecoverable
            devices = result.devices.map(DeviceFigures.init)
        }
    }

    public struct DeviceFigures: Encodable, Sendable {
        public var device: String
        public var healthy: Bool
        public var faults: UInt64
        public var recorded: UInt64
        public var lost: UInt64
        public var silenced: UInt64
        public var handled: UInt64
        public var state: String
        public var unableToWorkMS: Double

        enum CodingKeys: String, CodingKey {
            case device, healthy, faults, recorded, lost, silenced, handled, state
            case unableToWorkMS = "unable_to_work_ms"
        }

        init(_ tally: SimResult.DeviceTally) {
            device = tally.device.description
            healthy = tally.healthy
            faults = tally.faults
            recorded = tally.recorded
            lost = tally.lost
            silenced = tally.silenced
            handled = tally.handled
            state = tally.state
            unableToWorkMS = rounded(Double(tally.unableToWork.nanosecondsClamped) / 1e6, digits: 3)
        }
    }

    /// One timeline entry of one policy's run.
    public struct TimelineLine: Encodable, Sendable {
        public var policy: String
        public var atNS: Int64
        public var kind: String
        public var subject: String
        public var text: String

        enum CodingKeys: String, CodingKey {
            case policy, kind, subject, text
            case atNS = "at_ns"
        }

        init(policy: String, _ entry: TimelineEntry) {
            self.policy = policy
            atNS = entry.at.nanoseconds
            kind = entry.kind.rawValue
            subject = entry.subject
            text = entry.text
        }
    }
}

/// `value` rounded to `digits` decimals (identical values, identical text).
func rounded(_ value: Double, digits: Int) -> Double {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    return scaled.isFinite ? scaled / scale : 0
}
