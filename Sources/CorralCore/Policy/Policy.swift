/// Every threshold and ladder choice the engine uses, with defaults taken from the kernel and
/// from prior art (each default's source is documented here and in `docs/engine.md`).
public struct Policy: Hashable, Sendable {
    /// How far Corral goes.
    public enum Mode: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// Record and summarise only; never recommend or act.
        case observe
        /// Decide as in `enforce` but emit every action as a recommendation (the default).
        case recommend
        /// Carry the actions out.
        case enforce
        public var description: String { rawValue }
    }

    public var mode: Mode = .recommend
    /// Per event class: thresholds and whether a storm is contained or only reported.
    public var classes: ClassPolicies = .defaults
    public var ladder = LadderPolicy()
    public var timing = TimingPolicy()
    public var probation = ProbationPolicy()
    public var retirement = RetirementPolicy()
    /// Global cap on device-changing actions (default 20 per minute): a bug or a flood of
    /// forged input can't turn Corral into the storm.
    public var circuitBreaker = RateThreshold(20, per: .seconds(60))
    /// Devices Corral only ever recommends for (in addition to profiles marked protected).
    public var protectedDevices: Set<DeviceAddress> = []
    /// Drivers whose devices belong to a user-space owner, told first (default `vfio-pci`).
    public var ownerDrivers: Set<DriverName> = [.vfioPCI]
    /// Owners whose devices Corral may contain itself once the owner has not acted by its
    /// deadline. Default none: a VM's device is the VM's; Corral notifies (journal, metric, the
    /// `on-owner` hook) and recommends, and never writes to it under a running guest.
    public var ownerContain: Set<DriverName> = []
    /// Programs to run when a device is contained, re-enabled or retired.
    public var hooks = HookPolicy()
    /// Interrupts per second on one of a device's own vectors (MSI/MSI-X), handled by its driver,
    /// that make one sample an `interrupt-flood` event. 200,000/s: far above a NIC or NVMe queue
    /// with interrupt moderation (tens of thousands per vector per second), below what one core
    /// can take before it does nothing else (a few hundred thousand to a million).
    public var interruptFloodRate: UInt64 = 200_000
    /// What the kernel's `N callbacks suppressed` (fault messages its printk ratelimit dropped)
    /// count for. The count names no device: it is held against the device with the highest
    /// recent DMA-fault rate on that IOMMU, a guess.
    public var suppressedMessages: SuppressedMessagesPolicy = .count

    /// See `suppressedMessages`.
    public enum SuppressedMessagesPolicy: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// Added to that device's totals as a lower bound, never to its rate (the default: a
        /// guess never contains a device).
        case count
        /// Also added to its rate: a storm the log under-reports (1.7 M messages suppressed, a
        /// few printed) still reaches the storm threshold and is contained, on the guess that the
        /// noisiest device printed them.
        case attribute
        public var description: String { rawValue }
    }

    public init() {}
}

/// Programs run on containment, re-enable and retirement: argv (no shell), the event as JSON on
/// stdin and in `CORRAL_*` environment variables, killed after `timeout`, at most `maxConcurrent`
/// at a time. They never block the engine; failures are journaled.
public struct HookPolicy: Hashable, Sendable {
    public enum Trigger: String, Hashable, Sendable, CaseIterable {
        case containment = "on-containment"
        case reenable = "on-re-enable"
        case retirement = "on-retirement"
        /// A device owned by user space (a VM through `vfio-pci`) stormed: its owner is told.
        case owner = "on-owner"
    }

    /// argv per trigger: the program (an absolute path) and its arguments.
    public var commands: [Trigger: [String]] = [:]
    public var timeout: Duration = .seconds(10)
    public var maxConcurrent = 4

    public init() {}

    /// Which hook a decision fires, if any.
    public static func trigger(for decision: Decision) -> Trigger? {
        if case .notifyOwner? = decision.action { return .owner }
        guard let to = decision.to else { return nil }
        if to == .retired { return .retirement }
        let wasContained = decision.from?.isContained ?? false
        if to.isContained && !wasContained { return .containment }
        if wasContained, to == .healthy || to.name == "probation" { return .reenable }
        return nil
    }
}

/// Thresholds and handling of one event class.
public struct ClassPolicy: Hashable, Sendable {
    public var thresholds: StormThresholds
    /// Storms of this class climb the ladder; when false they are only reported.
    public var contain: Bool

    public init(thresholds: StormThresholds, contain: Bool) {
        self.thresholds = thresholds
        self.contain = contain
    }
}

/// One ``ClassPolicy`` per ``EventClass``, stored densely for O(1) lookup per event.
public struct ClassPolicies: Hashable, Sendable {
    private var storage: [ClassPolicy]

    public subscript(eventClass: EventClass) -> ClassPolicy {
        get { storage[eventClass.index] }
        set { storage[eventClass.index] = newValue }
    }

    /// Defaults. The elevated threshold everywhere is the kernel's `DEFAULT_RATELIMIT_BURST /
    /// DEFAULT_RATELIMIT_INTERVAL` = 10 / 5 s, the rate at which `dmar_fault`, AMD-Vi, SMMU and
    /// (since 6.16) AER start dropping messages: above it, the kernel log alone under-counts.
    public static let defaults: ClassPolicies = {
        let kernelRatelimit = RateThreshold(10, per: .seconds(5))
        func policy(_ storm: RateThreshold, contain: Bool = true) -> ClassPolicy {
            ClassPolicy(thresholds: StormThresholds(elevated: kernelRatelimit, storm: storm), contain: contain)
        }
        var table = [ClassPolicy](
            repeating: policy(RateThreshold(1000, per: .seconds(1))), count: EventClass.allCases.count)
        // 1000 faults/s: two orders of magnitude above the printk limit, far below what one
        // runaway DMA engine produces (millions/s, drm/msm "millions of faulting translation
        // requests per second").
        table[EventClass.dmaFault.index] = policy(RateThreshold(1000, per: .seconds(1)))
        table[EventClass.interruptRemapFault.index] = policy(RateThreshold(100, per: .seconds(1)))
        table[EventClass.iommuError.index] = policy(RateThreshold(10, per: .seconds(60)))
        // Any overflow lost other devices' faults; three in a second is a device drowning the queue.
        table[EventClass.queueOverflow.index] = policy(RateThreshold(3, per: .seconds(1)))
        // Correctable errors were corrected by the link; a flood is reported, not contained.
        table[EventClass.aerCorrected.index] = policy(RateThreshold(100, per: .seconds(1)), contain: false)
        table[EventClass.aerNonFatal.index] = policy(RateThreshold(10, per: .seconds(60)))
        // The kernel recovers fatal errors itself (pcie_do_recovery); repeated ones are a storm.
        table[EventClass.aerFatal.index] = policy(RateThreshold(3, per: .seconds(3600)))
        table[EventClass.dpc.index] = policy(RateThreshold(3, per: .seconds(3600)))
        // An irq-storm event is already a verdict (the kernel's 99,900/100,000 unhandled, or
        // a host-sampled rate above its limit): the first one is a storm.
        table[EventClass.irqStorm.index] = ClassPolicy(
            thresholds: StormThresholds(
                elevated: RateThreshold(1, per: .seconds(1)), storm: RateThreshold(1, per: .seconds(1))),
            contain: true)
        // A flood of handled interrupts costs a CPU but breaks nothing: reported when it lasts
        // three samples in 5 s (sampling is every second while anything happens), not contained
        // unless the policy says so.
        table[EventClass.interruptFlood.index] = ClassPolicy(
            thresholds: StormThresholds(
                elevated: RateThreshold(1, per: .seconds(60)), storm: RateThreshold(3, per: .seconds(5))),
            contain: false)
        return ClassPolicies(storage: table)
    }()
}

/// Which rungs of the escalation ladder may be used.
public struct LadderPolicy: Hashable, Sendable {
    /// Mute fault reporting at the IOMMU first, where the IOMMU can.
    public var silence = true
    /// Stop DMA: clear bus master (PCI) or block at the IOMMU (others).
    public var stopDMA = true
    /// Reset methods to try, in this order, among those the device supports
    /// (kernel `pci_reset_fn_methods[]` minus the firmware-specific ones).
    public var resetMethods: [ResetMethod] = [.flr, .afFLR, .pm, .bus]
    /// Allow a secondary bus reset even when other devices share the bus (default no: it
    /// would reset innocent devices).
    public var resetSharedBus = false
    public var slotPowerCycle = true
    public var remove = true
    public init() {}
}

/// Deadlines and hold times.
public struct TimingPolicy: Hashable, Sendable {
    /// How long a device's faults stay silenced before reporting is restored and it is on
    /// probation: 500 ms, drm/msm's stall-on-fault cooldown (`adreno_fault_handler()`).
    public var silenceHold: Duration = .milliseconds(500)
    /// Deadline for Transactions Pending to clear after bus master is cleared: 700 ms, the
    /// total of `pci_wait_for_pending()`'s polls (0 + 100 + 200 + 400 ms).
    public var quiescenceDeadline: Duration = .milliseconds(700)
    /// Wait after blocking DMA of a device that cannot prove quiescence: 100 ms, twice the
    /// top of the PCIe default Completion Timeout range (50 ms); quiescence stays *unverified*.
    public var unverifiedGrace: Duration = .milliseconds(100)
    /// Deadline for a reset or power cycle: 100 ms FLR wait + `PCIE_RESET_READY_POLL_MS` (60 s).
    public var resetDeadline: Duration = .milliseconds(60_100)
    /// Deadline for a host to report any other action's outcome.
    public var actionDeadline: Duration = .seconds(5)
    /// Time a device's owner (a VMM behind vfio-pci) gets to act: 5 s, the pciehp
    /// attention-button cancel window, a human-scale "last chance".
    public var ownerDeadline: Duration = .seconds(5)
    /// At most one coalesced summary per device per interval while elevated: 5 s, the
    /// kernel's `DEFAULT_RATELIMIT_INTERVAL`.
    public var reportInterval: Duration = .seconds(5)
    public init() {}
}

/// How a contained device comes back.
public struct ProbationPolicy: Hashable, Sendable {
    /// Re-enable automatically after the hold time (otherwise only on a driver's or operator's
    /// re-enable trigger).
    public var automaticReenable = true
    /// Hold before the first automatic re-enable; doubled (``backoffFactor``) for each further
    /// containment in the retirement window, capped at ``maxHold``.
    public var hold: Duration = .seconds(1)
    public var backoffFactor: Int = 2
    public var maxHold: Duration = .seconds(3600)
    /// How long a re-enabled device must stay below the elevated threshold to be healthy again.
    /// A relapse within it re-contains at once.
    public var period: Duration = .seconds(60)
    public init() {}

    /// The hold time after the `containment`-th containment in the window (1-based).
    public func hold(afterContainment containment: Int) -> Duration {
        var result = hold
        var remaining = max(0, containment - 1)
        while remaining > 0 && result < maxHold {
            result = result * backoffFactor
            remaining -= 1
        }
        return min(result, maxHold)
    }
}

/// When a device is retired: more than ``maxContainments`` containments in a fixed window.
/// Defaults are Power EEH's `eeh_max_freezes = 5` per hour: the 6th freeze in the hour takes
/// the device offline (`eeh_handle_normal_event()`), and the window is a fixed one starting at
/// the first freeze (`eeh_pe_update_time_stamp()`).
public struct RetirementPolicy: Hashable, Sendable {
    public var maxContainments = 5
    public var window: Duration = .seconds(3600)
    public init() {}
}
