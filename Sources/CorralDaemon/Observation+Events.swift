import CorralCore
import CorralDecode
import CorralStore

// How events become journal rows: one place for the daemon and `corral replay`.

extension LogEvent {
    /// The journal's view of a log event: who, which class (AER by severity), when, what.
    public func observation(subject: Subject, at: Instant) -> Observation {
        let eventClass: ObservedClass =
            switch kind {
            case .aer: .aer(severity)
            case .dmaFault: .event(.dmaFault)
            case .interruptRemapFault: .event(.interruptRemapFault)
            case .iommuError: .event(.iommuError)
            case .queueOverflow: .event(.queueOverflow)
            case .dpc: .event(.dpc)
            case .irqStorm: .event(.irqStorm)
            case .suppressed: .suppressed
            case .hotplug: .hotplug
            case .deviceLost: .deviceLost
            }
        return Observation(
            subject: subject, eventClass: eventClass, at: at.nanoseconds, count: kind == .suppressed ? (count ?? 1) : 1,
            address: address?.rawValue, status: status, lowerBound: kind == .suppressed,
            faultKind: kind == .dmaFault && vendor != nil ? faultKind : nil)
    }
}

extension DeviceEvent {
    /// The journal row of an event counted outside the kernel log (interrupt and AER counters);
    /// events from the log are journaled from their `LogEvent`. Subjects are named
    /// as `LogReplay.subject` names them, so both land in the same episodes.
    public func observation(at: Instant) -> Observation? {
        switch self {
        case .dmaFault(let fault):
            Observation(
                subject: fault.source.subject, eventClass: .event(.dmaFault), at: at.nanoseconds,
                count: fault.count, address: fault.address?.rawValue, faultKind: fault.kind)
        case .messagesSuppressed(let suppressed):
            // From the counters this is faults the IOMMU's interrupt counted and the log did not
            // name, with more than one device that could have made them: real faults, counted
            // exactly, journaled apart from any device rather than guessed (the engine adds them
            // to the noisiest device's totals as a lower bound).
            Observation(
                subject: Self.unattributedSubject(suppressed), eventClass: .event(.dmaFault),
                at: at.nanoseconds, count: suppressed.count, lowerBound: true)
        case .aerError(let error):
            Observation(
                subject: .device(.pci(error.device)), eventClass: .aer(error.severity), at: at.nanoseconds,
                count: error.count, status: error.status)
        case .interruptFlood(let flood):
            Observation(subject: .device(flood.device), eventClass: .event(.interruptFlood), at: at.nanoseconds)
        case .irqStorm(let storm):
            Observation(
                subject: storm.devices.first.map(Subject.device) ?? .irq(storm.irq), eventClass: .event(.irqStorm),
                at: at.nanoseconds)
        default:
            nil
        }
    }
}

extension DeviceEvent {
    /// `(intel-vtd faults, device not named)`: where counted faults no device could be named
    /// for go in the journal.
    public static func unattributedSubject(_ suppressed: SuppressedMessages) -> Subject {
        .unattributed("\(suppressed.vendor?.rawValue ?? suppressed.function) faults, device not named")
    }
}
