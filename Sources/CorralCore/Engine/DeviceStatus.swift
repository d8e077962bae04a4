/// A read-only view of one device's engine state, for status commands, reports and tests.
public struct DeviceStatus: Hashable, Sendable {
    public var address: DeviceAddress
    public var state: ContainmentState
    /// The current episode is recommendations only (recommend mode, protected, breaker open).
    public var shadow: Bool
    /// Counted events per class (recoverable and post-removal events are not counted).
    public var totals: [EventClass: UInt64]
    /// Totals are lower bounds: some came from rate-limited logs or lost queue records.
    public var lowerBound: Bool
    public var lost: UInt64
    public var suppressed: UInt64
    public var ignoredRecoverable: UInt64
    public var ignoredAfterRemoval: UInt64
    public var absent: Bool
    public var containmentsInWindow: Int
    /// Containments left before retirement in the current window.
    public var budgetLeft: Int
    public var ladder: EscalationLadder
    public var rung: Int?
    public var nextDeadline: Instant?
    public var serial: SerialNumber?
}

/// Engine-wide counts of what was deliberately not acted on, so nothing disappears silently.
public struct EngineStatistics: Hashable, Sendable {
    public var events: UInt64 = 0
    /// Recoverable faults (page requests, stalls with a handler): normal traffic.
    public var ignoredRecoverable: UInt64 = 0
    /// Faults from a device that was just removed or whose link is down.
    public var ignoredAfterRemoval: UInt64 = 0
    /// Overflows and suppressed counts that no device could be held accountable for.
    public var unattributedOverflows: UInt64 = 0
    public var unattributedSuppressed: UInt64 = 0
    /// Outcomes that matched no pending action (late, duplicate, or from another actor).
    public var staleOutcomes: UInt64 = 0
    /// Actions downgraded to recommendations by the circuit breaker.
    public var breakerDowngrades: UInt64 = 0
    /// Events from before `Engine.liveFrom` (a backlog): counted and reported, never acted on.
    public var historyEvents: UInt64 = 0
    /// Events that happened before the containment step holding their device was carried out
    /// (read in the same batch): counted, but no evidence against that step.
    public var predatingContainment: UInt64 = 0
    /// Actions the host could not carry out for a reason of its own, tried again later.
    public var deferredActions: UInt64 = 0
    public init() {}
}
