import CorralCore
import CorralDecode

/// Something a simulated device did, as it happened (to journal a run).
public struct SimEvent: Sendable {
    public var subject: String
    public var eventClass: String
    public var at: Instant
    public var count: UInt64
    public var address: UInt64?
    public var status: UInt32?
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
    }
}

extension SimResult {
    /// The policy's figures as one JSON object (the keys of issue 4, then more).
    public var policyJSON: String {
        let contained = containedAfter.map { String(format3(Double($0.nanosecondsClamped) / 1e6)) } ?? "null"
        let deviceList = devices.map { tally in
            "{\"device\": \(JSONText.quoted(tally.device.description)), \"healthy\": \(tally.healthy), "
                + "\"faults\": \(tally.faults), \"recorded\": \(tally.recorded), \"lost\": \(tally.lost), "
                + "\"silenced\": \(tally.silenced), \"handled\": \(tally.handled), \"state\": \(JSONText.quoted(tally.state))}"
        }.joined(separator: ", ")
        return "{\"policy\": \"\(policy)\", \"contained_after_ms\": \(contained), "
            + "\"cpu_other_work_min\": \(format3(cpuOtherWorkMin)), \"cpu_other_work_mean\": \(format6(cpuOtherWorkMean)), "
            + "\"faults_handled\": \(faultsHandled), \"faults_recorded\": \(faultsRecorded), \"faults_lost\": \(faultsLost), "
            + "\"faults_silenced\": \(faultsSilenced), \"page_requests\": \(pageRequests), "
            + "\"healthy_disturbed\": \(healthyDisturbed.count), \"retired\": \(retired.count), "
            + (engineStatistics.map {
                "\"ignored_after_removal\": \($0.ignoredAfterRemoval), \"ignored_recoverable\": \($0.ignoredRecoverable), "
            } ?? "")
            + "\"devices\": [\(deviceList)]}"
    }

    public var timelineJSON: [String] {
        timeline.map { entry in
            "{\"policy\": \"\(policy)\", \"at_ns\": \(entry.at.nanoseconds), \"kind\": \"\(entry.kind.rawValue)\", "
                + "\"subject\": \(JSONText.quoted(entry.subject)), \"text\": \(JSONText.quoted(entry.text))}"
        }
    }
}

/// Fixed-precision decimals without Foundation (identical text for identical values).
func format3(_ value: Double) -> String { fixed(value, digits: 3) }
func format6(_ value: Double) -> String { fixed(value, digits: 6) }

func fixed(_ value: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    guard scaled.isFinite, abs(scaled) < 9e15 else { return "0" }
    let integer = Int64(scaled)
    let sign = integer < 0 ? "-" : ""
    let magnitude = integer.magnitude
    let whole = magnitude / UInt64(scale)
    let fraction = String(magnitude % UInt64(scale))
    return sign + String(whole) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
}
