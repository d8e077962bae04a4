import CorralCore

/// One thing the journal is told a device did: `count` events of one class at one moment.
/// Sources (the log parser, the simulator, the Linux host) turn their events into these.
public struct Observation: Hashable, Sendable {
    /// Who: a device, an IOMMU, an IRQ, or events no device can be held to.
    public var subject: Subject
    /// The event class (`dma-fault`, `aer-corrected`, ... or what only a log says).
    public var eventClass: ObservedClass
    /// Nanoseconds: UTC for a live host, virtual time from the run's start for replay/simulate.
    public var at: Int64
    public var count: UInt64
    public var address: UInt64?
    public var status: UInt32?
    /// The real count is higher (the kernel dropped messages, a queue overflowed).
    public var lowerBound: Bool
    /// What a DMA fault was (not-present, write-to-read-only, ...), when known.
    public var faultKind: DMAFaultKind?

    public init(
        subject: Subject, eventClass: ObservedClass, at: Int64, count: UInt64 = 1, address: UInt64? = nil,
        status: UInt32? = nil, lowerBound: Bool = false, faultKind: DMAFaultKind? = nil
    ) {
        self.faultKind = faultKind
        self.subject = subject
        self.eventClass = eventClass
        self.at = at
        self.count = count
        self.address = address
        self.status = status
        self.lowerBound = lowerBound
    }
}

/// A coalesced run of one event class on one device: never one row per fault.
public struct Episode: Hashable, Sendable {
    public var subject: Subject
    public var eventClass: ObservedClass
    public var first: Int64
    public var last: Int64
    public var count: UInt64
    public var lowerBound: Bool
    /// The first few distinct addresses seen (a sample, not all of them).
    public var sampleAddresses: [UInt64]
    /// Union of every status/flags value seen (AER status bits, AMD-Vi flags).
    public var statusUnion: UInt32
    /// Its events over time from `first` (`RateSeries`: bounded, for the report).
    public var series = RateSeries()

    public static let maximumSamples = 4

    public init(
        subject: Subject, eventClass: ObservedClass, first: Int64, last: Int64, count: UInt64, lowerBound: Bool = false,
        sampleAddresses: [UInt64] = [], statusUnion: UInt32 = 0
    ) {
        self.subject = subject
        self.eventClass = eventClass
        self.first = first
        self.last = last
        self.count = count
        self.lowerBound = lowerBound
        self.sampleAddresses = sampleAddresses
        self.statusUnion = statusUnion
    }
}
