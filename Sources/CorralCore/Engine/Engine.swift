/// The containment engine: a pure, deterministic state machine.
///
/// `handle(event, at: now)` and `advance(to: now)` return the ``Decision``s taken; time is a
/// value passed in, timers are deadlines (``nextDeadline``) that the caller honours by calling
/// ``advance(to:)``. No I/O, no clock, no randomness: the same inputs give the same decisions,
/// which is what lets the simulator, log replay and the daemon share it, and tests drive it by
/// hand (the `EmbeddedChannel` idea from swift-nio).
///
/// Per device the engine runs the state machine in ``ContainmentState``; the steps come from
/// the device's ``EscalationLadder``; the policy is a ``Policy`` value. See `docs/engine.md`.
///
/// - Complexity: counting events is O(1) per event and per device memory is fixed. Overflow
///   and suppressed-count attribution scan the devices of one IOMMU (rare events). Firing
///   timers scans devices only when the earliest deadline has passed.
public struct Engine: Sendable {
    public private(set) var policy: Policy {
        // The per-event path adds it to `now`: converting a `Duration` there is 128-bit arithmetic.
        didSet {
            probationNanoseconds = policy.probation.period.nanosecondsClamped
            detectorLimits = Self.limits(of: policy)
        }
    }
    var probationNanoseconds: Int64
    /// Each class's thresholds as the detectors read them (`StormDetector.Limits`), made once.
    var detectorLimits: PerEventClass<StormDetector.Limits>

    static func limits(of policy: Policy) -> PerEventClass<StormDetector.Limits> {
        var limits = PerEventClass<StormDetector.Limits>(repeating: .init(policy.classes[.dmaFault].thresholds))
        for eventClass in EventClass.allCases {
            limits[eventClass.index] = .init(policy.classes[eventClass].thresholds)
        }
        return limits
    }
    public var resolver: DeviceResolver
    public internal(set) var statistics = EngineStatistics()

    var profiles: [DeviceAddress: DeviceProfile] = [:] {
        // Records cache what the per-event path needs from a profile (strictness, IOMMU unit)
        // and refresh it when this changes: one hash lookup per event instead of three.
        didSet { profilesVersion &+= 1 }
    }
    var profilesVersion: UInt64 = 0
    var records = DeviceTable()
    var iommus: [IOMMUInstance: IOMMURecord] = [:]
    var serials: [SerialNumber: DeviceAddress] = [:]
    var breaker: CircuitBreaker
    /// No device deadline is earlier than this (it may be stale-early, never late).
    var earliestDeadline: Instant?
    /// Re-enable steps the host deferred (its own trouble): their outcome is not awaited, so no
    /// device timer carries them; each is tried again at its time.
    var deferredUndos: [(device: DeviceAddress, action: Action, attempts: Int, due: Instant)] = []
    /// Decisions of the call in progress.
    var output: [Decision] = []
    /// Evidence from before this instant is history: counted and reported, never acted on.
    /// The daemon sets it to its own start, so a storm left in the kernel's ring buffer from
    /// before it ran (a backlog minutes old) cannot contain a device that may long be fine
    /// (docs/safety.md, rule "evidence is live").
    public var liveFrom: Instant?

    public init(policy: Policy = Policy(), profiles: [DeviceProfile] = [], resolver: DeviceResolver = DeviceResolver())
    {
        self.policy = policy
        self.probationNanoseconds = policy.probation.period.nanosecondsClamped
        self.detectorLimits = Self.limits(of: policy)
        self.resolver = resolver
        self.breaker = CircuitBreaker(limit: policy.circuitBreaker)
        for profile in profiles { register(profile) }
    }

    /// Adds or refreshes what the host knows about a device (inventory, uevents).
    public mutating func register(_ profile: DeviceProfile) {
        profiles[profile.address] = profile
        if let serial = profile.serial { serials[serial] = profile.address }
    }

    /// Replaces the policy (SIGHUP). Device states and counts are kept.
    public mutating func update(policy newPolicy: Policy) {
        if newPolicy.circuitBreaker != policy.circuitBreaker {
            breaker = CircuitBreaker(limit: newPolicy.circuitBreaker)
        }
        policy = newPolicy
    }

    /// The earliest time at which ``advance(to:)`` has something to do.
    public var nextDeadline: Instant? {
        (records.values.compactMap(\.deadline) + deferredUndos.map(\.due).filter { $0 != .never }).min()
    }

    /// The state of every device the engine has seen, sorted by address.
    public var devices: [DeviceStatus] {
        records.keys.sorted().compactMap { status(of: $0) }
    }

    /// One device's state, or `nil` if nothing was ever seen of it.
    public func status(of device: DeviceAddress) -> DeviceStatus? {
        guard let record = records[device] else { return nil }
        var totals: [EventClass: UInt64] = [:]
        for eventClass in EventClass.allCases where record.totals[eventClass.index] > 0 {
            totals[eventClass] = record.totals[eventClass.index]
        }
        return DeviceStatus(
            address: record.address, state: record.state, shadow: record.shadow, totals: totals,
            lowerBound: record.lowerBound, lost: record.lost, suppressed: record.suppressed,
            ignoredRecoverable: record.ignoredRecoverable, ignoredAfterRemoval: record.ignoredAfterRemoval,
            absent: record.absent, containmentsInWindow: record.containmentsInWindow,
            budgetLeft: max(0, policy.retirement.maxContainments - record.containmentsInWindow),
            ladder: record.ladder.steps.isEmpty ? ladder(for: device, eventClass: .dmaFault) : record.ladder,
            rung: record.rung, nextDeadline: record.deadline, serial: record.serial)
    }

    /// The ladder the engine would use for a storm of `eventClass` on `device`.
    public func ladder(for device: DeviceAddress, eventClass: EventClass) -> EscalationLadder {
        EscalationLadder(profile: profile(of: device), policy: policy.ladder, eventClass: eventClass)
    }

    /// Bytes one device's state takes, whatever the number of its events: the record, its
    /// per-class detectors and totals inline.
    public static var bytesPerDevice: Int { MemoryLayout<DeviceRecord>.stride }

    /// Memory the engine holds, in stored elements: constant while the set of devices is.
    public var storageFootprint: Int {
        records.count * (EventClass.allCases.count * 2 + 1) + iommus.count + profiles.count + serials.count
    }

    /// Processes due timers, then one event. An action's outcome is taken before the timers:
    /// the host reports when it carried the action out, and a deadline that passed while the
    /// action was being carried out is no evidence that it failed (it would climb a rung the
    /// device never got the chance to show it needed).
    public mutating func handle(_ event: DeviceEvent, at now: Instant) -> [Decision] {
        if !output.isEmpty { output.removeAll(keepingCapacity: true) }
        statistics.events &+= 1
        if case .actionCompleted = event {
            dispatch(event, at: now)
            fireTimers(upTo: now)
        } else {
            fireTimers(upTo: now)
            if case .dmaFault(let fault) = event {
                // The event of a storm, by far the most frequent: counted without the large
                // frame of `dispatch` (its prologue was a tenth of the engine's time per event).
                countFault(fault, at: now)
            } else {
                dispatch(event, at: now)
            }
        }
        // Most events decide nothing: the empty literal is a static buffer, so the caller gets
        // no reference to `output`'s storage to count (and `output` stays uniquely held).
        return output.isEmpty ? [] : output
    }

    /// Processes every timer due at or before `now`.
    public mutating func advance(to now: Instant) -> [Decision] {
        if !output.isEmpty { output.removeAll(keepingCapacity: true) }
        fireTimers(upTo: now)
        return output
    }

    // MARK: - Dispatch

    /// A DMA fault, counted against the device it is attributed to; a recoverable one (a page
    /// request, a stall with a handler) is only noted, never counted toward a storm.
    @inline(__always)
    mutating func countFault(_ fault: DMAFault, at now: Instant) {
        let attribution = resolver.resolve(fault.source)
        if fault.recoverable {
            statistics.ignoredRecoverable &+= fault.count
            let device = attribution.device
            let slot = records.slot(of: device) ?? records.insert(newRecord(device), for: device)
            records.storage[slot].ignoredRecoverable &+= fault.count
            return
        }
        count(
            .dmaFault, fault.count, on: attribution.device, vendor: fault.vendor, iommu: fault.iommu,
            alias: attribution.aliasGroup, at: now)
    }

    mutating func dispatch(_ event: DeviceEvent, at now: Instant) {
        switch event {
        case .dmaFault(let fault):
            countFault(fault, at: now)
        case .interruptRemapFault(let fault):
            let attribution = resolver.resolve(fault.source)
            count(
                .interruptRemapFault, fault.count, on: attribution.device, vendor: fault.vendor, iommu: fault.iommu,
                alias: attribution.aliasGroup, at: now)
        case .iommuError(let error):
            if let source = error.source {
                let attribution = resolver.resolve(source)
                count(
                    .iommuError, 1, on: attribution.device, vendor: error.vendor, iommu: error.iommu,
                    alias: attribution.aliasGroup, at: now)
            } else {
                reportIOMMU(error.iommu ?? .unnamed(error.vendor), at: now, what: "\(error.kind) error")
            }
        case .queueOverflowed(let overflow):
            queueOverflowed(overflow, at: now)
        case .messagesSuppressed(let suppressed):
            messagesSuppressed(suppressed, at: now)
        case .aerError(let error):
            count(
                error.severity.eventClass, error.count, on: .pci(error.device), vendor: nil, iommu: nil, alias: nil,
                at: now)
        case .dpcContained(let dpc):
            count(.dpc, 1, on: .pci(dpc.source ?? dpc.port), vendor: nil, iommu: nil, alias: nil, at: now)
            markBelow(port: dpc.port, absent: true, at: now, why: "DPC took the link of \(dpc.port) down")
        case .linkChanged(let port, let up):
            markBelow(port: port, absent: !up, at: now, why: "link of \(port) \(up ? "up" : "down")")
        case .presenceChanged(let port, let present):
            markBelow(
                port: port, absent: !present, at: now, why: "card \(present ? "present" : "not present") at \(port)")
        case .deviceLost(let device):
            markAbsent(device, at: now, why: "its driver reported it gone")
        case .irqStorm(let storm):
            guard let suspect = storm.devices.first else {
                output.append(
                    Decision(
                        at: now, subject: .irq(storm.irq),
                        reason: "irq \(storm.irq): storm with no known device"))
                return
            }
            count(.irqStorm, 1, on: suspect, vendor: nil, iommu: nil, alias: nil, at: now, note: "irq \(storm.irq)")
        case .interruptFlood(let flood):
            count(
                .interruptFlood, 1, on: flood.device, vendor: nil, iommu: nil, alias: nil, at: now,
                note: "irq \(flood.irqs.map(\.description).joined(separator: ",")) at \(flood.ratePerSecond)/s, handled"
            )
        case .deviceAdded(let device, let serial):
            deviceAdded(device, serial: serial, at: now)
        case .deviceRemoved(let device):
            markAbsent(device, at: now, why: "removed")
        case .driverBound(let device, let driver):
            profiles[device, default: .unknown(device)].driver = driver
            reenable(device, trigger: "driver \(driver) bound again", undoBusMaster: false, at: now)
        case .driverUnbound(let device, _):
            profiles[device, default: .unknown(device)].driver = nil
            ownerResponded(device, how: "driver unbound", at: now)
        case .busMasterChanged(let device, let enabled):
            if enabled {
                reenable(device, trigger: "bus master re-enabled by its driver", undoBusMaster: false, at: now)
            } else {
                ownerResponded(device, how: "bus master cleared by its owner", at: now)
            }
        case .deviceEnabled(let device):
            reenable(device, trigger: "device re-enabled", undoBusMaster: false, at: now)
            if let parent = profiles[device]?.parent {
                reenable(parent, trigger: "child \(device) re-enabled", undoBusMaster: true, at: now)
            }
        case .ownerResponded(let device):
            ownerResponded(device, how: "owner acknowledged", at: now)
        case .actionCompleted(let outcome):
            actionCompleted(outcome, at: now)
        case .operatorReleased(let device, let who):
            release(device, by: who, at: now)
        }
    }

    func profile(of device: DeviceAddress) -> DeviceProfile {
        profiles[device] ?? .unknown(device)
    }

    /// Strict devices (untrusted, or inventoried with no driver) are contained at the
    /// elevated threshold and never merely silenced.
    func isStrict(_ device: DeviceAddress) -> Bool {
        guard let profile = profiles[device] else { return false }
        return profile.untrusted || profile.driverless
    }

    func isProtected(_ device: DeviceAddress) -> Bool {
        policy.protectedDevices.contains(device) || profiles[device]?.protected == true
    }

    /// Why a write of `action` must not be carried out, if it must not (docs/safety.md, rules
    /// (c) and (d)): a protected device in its reach (the target itself, or one below a port it
    /// targets; ``Action/reach(parent:children:)``), or a device owned by user space whose
    /// owner the policy does not let Corral contain.
    func heldBack(_ action: Action, for device: DeviceAddress) -> String? {
        guard action.changesDevice else { return nil }
        let reach = action.reach(parent: { profiles[$0]?.parent }, children: { profiles[$0]?.children ?? [] })
        let target = action.target
        // An aliased storm is the group's: an action that leaves a member out stops an innocent
        // member alone, or leaves the culprit running.
        if let members = records[device]?.aliasMembers {
            let missed = members.filter { !reach.contains($0) }
            if !missed.isEmpty {
                return "requester ID shared by \(members.map(\.description).joined(separator: ", ")); "
                    + "\(action) would not reach \(missed.map(\.description).joined(separator: ", "))"
            }
        }
        if let guarded = reach.first(where: { isProtected($0) }) {
            let because = explainProtection(guarded)
            return guarded == target
                ? "protected device: \(because)" : "would reach protected \(guarded): \(because)"
        }
        if let owned = reach.first(where: { ownerHolding($0) != nil }), let owner = ownerHolding(owned) {
            let whose = "owned by \(owner) (user space: a VM's device), which the policy's owner-contain does not list"
            return owned == target ? whose : "would reach \(owned), \(whose)"
        }
        return nil
    }

    /// The user-space owner of `device` when the policy does not let Corral contain it.
    func ownerHolding(_ device: DeviceAddress) -> DriverName? {
        guard let driver = profiles[device]?.driver, policy.ownerDrivers.contains(driver),
            !policy.ownerContain.contains(driver)
        else { return nil }
        return driver
    }

    func explainProtection(_ device: DeviceAddress) -> String {
        let reasons = profiles[device]?.protection ?? []
        if reasons.isEmpty || policy.protectedDevices.contains(device) && !reasons.contains(.policy) {
            return ([ProtectionReason.policy] + reasons).map(\.description).joined(separator: ", ")
        }
        return reasons.map(\.description).joined(separator: ", ")
    }

    // MARK: - Timers

    mutating func arm(_ device: DeviceAddress, _ purpose: TimerPurpose, at deadline: Instant) {
        guard let slot = records.slot(of: device) else { return }
        arm(slot: slot, purpose, at: deadline)
    }

    /// Arms the timer of the record in `slot`, in place (no copy of the record, no coroutine
    /// frame: Dictionary's `_modify` frames were heap-allocated, see benchmarks/ANALYSIS.md).
    mutating func arm(slot: Int, _ purpose: TimerPurpose, at deadline: Instant) {
        records.storage[slot].setTimer(purpose, at: deadline)
        if earliestDeadline.map({ deadline < $0 }) ?? true { earliestDeadline = deadline }
    }

    /// Out of line only when something may be due: most events arrive with no timer due.
    @inline(__always)
    mutating func fireTimers(upTo now: Instant) {
        if deferredUndos.isEmpty, earliestDeadline.map({ now < $0 }) ?? true { return }
        fireDueTimers(upTo: now)
    }

    mutating func fireDueTimers(upTo now: Instant) {
        retryDeferredUndos(upTo: now)
        while let earliest = earliestDeadline, earliest <= now {
            let due = records.values.filter { $0.deadline.map { $0 <= now } ?? false }
                .sorted { ($0.deadline!, $0.address) < ($1.deadline!, $1.address) }
            earliestDeadline = nil
            for record in due {
                guard let deadline = records[record.address]?.deadline, deadline <= now,
                    let purpose = records[record.address]?.timer
                else { continue }
                records[record.address]?.clearTimer()
                timerFired(record.address, purpose, deadline: deadline)
            }
            earliestDeadline = records.values.compactMap(\.deadline).min()
        }
    }
}
