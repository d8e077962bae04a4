import CorralCore
import CorralDecode
import CorralStore

// How events become journal rows: one place for the daemon and `corral replay`.

extension LogEvent {
    /// The journal's view of a log event: who, which class (AER by severity), when, what.
    public func observation(subject: String, at: Instant) -> Observation {
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

extension DeviceEvent {
    /// The journal row of an event counted outside the kernel log (interrupt and AER counters);
    /// events from the log are journaled from their `LogEvent`. Subjects are named
    /// as `LogReplay.subjectName` names them, so both land in the same episodes.
    public func observation(at: Instant) -> Observation? {
        switch self {
        case .dmaFault(let fault):
            Observation(
                subject: fault.source.description, eventClass: EventClass.dmaFault.rawValue, at: at.nanoseconds,
                count: fault.count, address: fault.address?.rawValue)
        case .messagesSuppressed(let suppressed):
            // From the counters this is faults the IOMMU's interrupt counted and the log did not
            // name, with more than one device that could have made them: real faults, counted
            // exactly, journaled apart from any device rather than guessed (the engine adds them
            // to the noisiest device's totals as a lower bound).
            Observation(
                subject: Self.unattributedSubject(suppressed), eventClass: EventClass.dmaFault.rawValue,
                at: at.nanoseconds, count: suppressed.count, lowerBound: true)
        case .aerError(let error):
            Observation(
                subject: error.device.description, eventClass: "aer-\(error.severity.rawValue)", at: at.nanoseconds,
                count: error.count, status: error.status)
        case .interruptFlood(let flood):
            Observation(
                subject: flood.device.description, eventClass: EventClass.interruptFlood.rawValue, at: at.nanoseconds)
        case .irqStorm(let storm):
            Observation(
                subject: storm.devices.first?.description ?? "irq \(storm.irq)", eventClass: "irq-storm",
                at: at.nanoseconds)
        default:
            nil
        }
    }
}

extension DeviceEvent {
    /// `(intel-vtd faults, device not named)`: where counted faults no device could be named
    /// for go in the journal.
    public static func unattributedSubject(_ suppressed: SuppressedMessages) -> String {
        "(\(suppressed.vendor?.rawValue ?? suppressed.function) faults, device not named)"
    }
}
