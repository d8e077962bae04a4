/// The engine's private per-device state. Fixed size per device: its footprint does not grow
/// with the number of events (counts are integers, detectors are fixed-size window counters).
struct DeviceRecord: Sendable {
    var address: DeviceAddress
    var state: ContainmentState = .healthy
    /// The current episode is not actually carried out (recommend mode, protected device,
    /// circuit breaker open): actions are recommendations and no outcomes are awaited.
    var shadow = false
    /// One per `EventClass`, held inline: as arrays, each event checked that their heap
    /// buffers were uniquely held before writing.
    var detectors = PerEventClass<StormDetector>(repeating: StormDetector())
    var totals = PerEventClass<UInt64>(repeating: 0)
    /// Some counts came from rate-limited sources or lost records: totals are lower bounds.
    var lowerBound = false
    var lost: UInt64 = 0
    var suppressed: UInt64 = 0
    var ignoredRecoverable: UInt64 = 0
    var ignoredAfterRemoval: UInt64 = 0
    /// Link down, presence lost or removed: faults now are expected, not misbehaviour.
    var absent = false
    var vendor: IOMMUVendor?
    var scope: IOMMUInstance?
    var serial: SerialNumber?

    // Containment episode.
    var stormClass: EventClass = .dmaFault
    var ladder = EscalationLadder(steps: [])
    var rung: Int?
    /// The rung that last held the device before it was re-enabled (relapses resume there).
    var lastRung: Int?
    var measures = AppliedMeasures()
    var pending: Action?
    /// The step the host deferred (its own trouble, not the device's) and how many times in a
    /// row: it is tried again after a backoff instead of escalating.
    var deferred: (action: Action, attempts: Int)?
    var ownerNotified = false
    /// Set when the device's faults came through a requester ID that several functions share:
    /// an action for it must reach every member, or it is only recommended.
    var aliasMembers: [DeviceAddress]?

    // Retirement budget: EEH-style fixed window.
    var windowStart: Instant?
    var containmentsInWindow = 0

    // Timers.
    var deadline: Instant?
    var timer: TimerPurpose?
    var lastEventAt: Instant?
    /// When the current containment step was carried out (its outcome came back): events that
    /// happened before it are counted but are no evidence that the step did not hold.
    var evidenceSince: Instant = .zero
    var lastReportAt: Instant?
    /// The last summary already said "storm" (a first storm report is never rate-limited away).
    var lastReportWasStorm = false

    // What the per-event path needs from the device's profile, as of `profileVersion`
    // (`Engine.profilesVersion`; refreshed by `Engine.refreshProfileFacts`).
    var profileVersion: UInt64 = .max
    var strict = false
    var profileIOMMU: IOMMUInstance?

    init(address: DeviceAddress) { self.address = address }

    mutating func setTimer(_ purpose: TimerPurpose, at deadline: Instant) {
        timer = purpose
        self.deadline = deadline
    }

    mutating func clearTimer() {
        timer = nil
        deadline = nil
    }

    /// What `count` found.
    enum CountOutcome {
        /// The device is gone: the event is counted as ignored after removal.
        case absent
        /// Older than the step now holding the device (read late, in the same batch): it says
        /// nothing about whether the step holds.
        case predatesContainment
        /// Counted; the level its detector reached, and whether it was logged before Corral
        /// started (history, never acted on).
        case counted(StormDetector.Level, history: Bool)
    }

    /// The per-event bookkeeping of `Engine.count`, on the record in place: one access to the
    /// engine's table per event instead of one per field (each checked its bounds and that the
    /// table was uniquely held).
    @inline(__always)
    mutating func count(
        _ eventClass: EventClass, _ amount: UInt64, vendor: IOMMUVendor?, iommu: IOMMUInstance?,
        alias: DeviceResolver.AliasGroup?, lowerBound isLowerBound: Bool, at now: Instant, liveFrom: Instant?,
        limits: StormDetector.Limits
    ) -> CountOutcome {
        if absent {
            ignoredAfterRemoval &+= amount
            return .absent
        }
        if let vendor { self.vendor = vendor }
        if let alias, alias.members.count > 1, aliasMembers == nil { aliasMembers = alias.members }
        if let unit = iommu ?? profileIOMMU ?? vendor.map(IOMMUInstance.unnamed), scope != unit { scope = unit }
        totals[eventClass.index] &+= amount
        if isLowerBound { lowerBound = true }
        if now < evidenceSince { return .predatesContainment }
        let history = liveFrom.map { now < $0 } ?? false
        if !history, let liveFrom, let last = lastEventAt, last < liveFrom {
            // The first live event after history: the rate is measured on live evidence alone.
            restartDetectors(at: liveFrom)
        }
        lastEventAt = now
        let level = detectors[eventClass.index].record(amount, at: now, limits: limits)
        return .counted(level, history: history)
    }

    mutating func restartDetectors(at now: Instant) {
        for index in detectors.indices { detectors[index].restart(at: now) }
    }
}

/// What Corral did to a device in the current episode, so a re-enable undoes exactly that.
struct AppliedMeasures: Hashable, Sendable {
    var silenced = false
    var intxDisabled = false
    var busMasterCleared = false
    var dmaBlocked = false
    var removed = false
}

/// Why a device's timer is armed.
enum TimerPurpose: Hashable, Sendable {
    case silenceHold
    case actionOutcome
    case quiescenceGrace
    case reenableHold
    case rescanHold
    case probationEnd
    case ownerDeadline
    case shadowQuiet
    case elevatedQuiet
    /// Try a deferred step again.
    case retryDeferred
}

/// What an IOMMU unit saw that could not be pinned on a device.
struct IOMMURecord: Sendable {
    var overflows: UInt64 = 0
    var lost: UInt64 = 0
    var suppressed: UInt64 = 0
    var lastReportAt: Instant?
}
