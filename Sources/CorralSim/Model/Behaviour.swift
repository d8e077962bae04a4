import CorralCore

/// What a simulated device does wrong (or right), composable in scenarios.
public struct Behaviour: Hashable, Sendable {
    /// The kind of traffic or failure.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// DMA to addresses nothing maps (stray or runaway DMA engine): not-present faults.
        case strayDMA = "stray-dma"
        /// Writes through a read-only mapping.
        case readOnlyWrites = "read-only-writes"
        /// Secure (non-secure attribute clear) accesses to non-secure mappings (SMMU).
        case secureAccess = "secure-access"
        /// Scanning physical memory from an external port: faults across the address space.
        case scanning
        /// Recoverable page requests (ATS/PRI, SVA): legitimate traffic, faults that resolve.
        case pageRequests = "page-requests"
        /// Correctable AER errors from a bad link.
        case aerCorrected = "aer-corrected"
        /// A legacy INTx line nobody acknowledges.
        case intxStorm = "intx-storm"
    }

    public var kind: Kind
    /// When it starts, from the start of the run.
    public var start: Duration
    /// Events per second while active.
    public var rate: Double
    /// How long it lasts if nothing stops it (nil: until the end of the run).
    public var duration: Duration?
    /// Whether clearing bus master stops it (a broken device keeps going).
    public var obeysBusMaster: Bool
    /// How many times it starts again after the device is re-enabled (relapses).
    public var relapses: Int
    /// Whether it starts again after a reset (a firmware bug that survives FLR).
    public var survivesReset: Bool

    public init(
        _ kind: Kind, start: Duration, rate: Double, duration: Duration? = nil, obeysBusMaster: Bool = true,
        relapses: Int = 0, survivesReset: Bool = false
    ) {
        self.kind = kind
        self.start = start
        self.rate = rate
        self.duration = duration
        self.obeysBusMaster = obeysBusMaster
        self.relapses = relapses
        self.survivesReset = survivesReset
    }

    /// Faults this behaviour makes are misbehaviour (page requests are not).
    public var isMisbehaviour: Bool { kind != .pageRequests }

    /// DMA traffic (keeps Transactions Pending set while it flows), as opposed to errors and
    /// interrupts.
    public var isDMA: Bool { kind != .aerCorrected && kind != .intxStorm }
}

/// Something that happens to a device at a moment: hot-plug, a driver's own re-enable.
public struct Happening: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Surprise removal: link down, DPC, then `faults` stray faults from its requester ID.
        case surpriseRemoval(faultsAfter: Int)
        /// The same device (same serial) inserted again.
        case reinsertion
        /// The driver disables then enables bus mastering (re-initialisation).
        case busMasterCycle
        /// A child device (a VF, a function below the port) is enabled by its driver.
        case childEnabled
    }
    public var kind: Kind
    public var at: Duration

    public init(_ kind: Kind, at: Duration) {
        self.kind = kind
        self.at = at
    }
}
