/// The containment steps available for one device, least disruptive first.
///
/// Chosen from the device's capabilities and the policy (reference §11.4):
/// silence at the IOMMU → stop DMA (clear bus master, then prove no transaction is in flight;
/// or block at the IOMMU and wait a grace period when that can't be proved) → reset
/// (FLR > AF-FLR > PM > bus; a bus reset only when nothing else shares the bus) → slot power
/// cycle → remove.
public struct EscalationLadder: Hashable, Sendable, CustomStringConvertible {
    public enum Step: Hashable, Sendable, CustomStringConvertible {
        case silence
        /// Stop the function asserting INTx (interrupt storms on a legacy line).
        case disableINTx
        /// Clear Bus Master Enable; `verifiable` when Transactions Pending can be polled.
        case clearBusMaster(verifiable: Bool)
        /// Block DMA at the IOMMU; quiescence can only be assumed after a grace period.
        case blockDMA
        case reset(ResetMethod)
        case powerCycleSlot
        case remove

        public var description: String {
            switch self {
            case .silence: "silence"
            case .disableINTx: "disable INTx"
            case .clearBusMaster(let verifiable):
                verifiable ? "clear bus master + await quiescence" : "clear bus master"
            case .blockDMA: "block DMA"
            case .reset(let method): "\(method) reset"
            case .powerCycleSlot: "slot power cycle"
            case .remove: "remove"
            }
        }

        /// Muting (IOMMU fault reporting, INTx) changes nothing in the device, so it never
        /// counts as a cure: a relapse after it resumes one rung higher.
        public var isMute: Bool { self == .silence || self == .disableINTx }
    }

    public let steps: [Step]

    public init(steps: [Step]) { self.steps = steps }

    /// The ladder for `profile` under `policy`, for storms of `eventClass`.
    ///
    /// Silencing applies only to faults the IOMMU reports (DMA, interrupt-remap, queue
    /// overflow), and is skipped for strict devices (untrusted or driverless): they are
    /// stopped, not merely muted.
    public init(profile: DeviceProfile, policy: LadderPolicy, eventClass: EventClass) {
        var steps: [Step] = []
        let iommuReported: Set<EventClass> = [.dmaFault, .interruptRemapFault, .queueOverflow]
        let strict = profile.untrusted || profile.driverless
        if policy.silence && profile.faultSilencing && iommuReported.contains(eventClass) && !strict {
            steps.append(.silence)
        }
        if eventClass == .irqStorm && profile.address.isPCI { steps.append(.disableINTx) }
        if policy.stopDMA {
            if profile.busMasterControl && profile.address.isPCI {
                steps.append(.clearBusMaster(verifiable: profile.transactionsPending))
            } else {
                steps.append(.blockDMA)
            }
        }
        if profile.address.isPCI {
            for method in policy.resetMethods where profile.resetMethods.contains(method) {
                if method == .bus && profile.sharesBus && !policy.resetSharedBus { continue }
                steps.append(.reset(method))
            }
            if policy.slotPowerCycle && profile.slotPowerControl { steps.append(.powerCycleSlot) }
        }
        if policy.remove && profile.removable { steps.append(.remove) }
        self.steps = steps
    }

    public var description: String { steps.map(\.description).joined(separator: " → ") }
}
