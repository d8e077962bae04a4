import CorralCore
import CorralDecode

/// A fault as a device's transaction produced it, before any IOMMU wrote it down.
public struct SimFault: Sendable {
    public var device: Int
    public var requesterID: RequesterID?
    public var streamID: StreamID?
    public var address: UInt64
    public var write: Bool
    /// What the walk of the device's domain found.
    public var lookup: IOMMUDomain.Lookup
    /// A recoverable fault: the transaction is stalled until software answers (SMMUv3 stall
    /// model, page requests), not an error.
    public var stalled = false
}

/// What an IOMMU did with a fault.
public enum RecordResult: Sendable {
    /// Written to the fault recording registers / event log / event queue.
    case recorded
    /// Dropped because the queue was full (VT-d PFO, AMD-Vi event log overflow, EVTQ overflow,
    /// SMMUv2 FSR.MULTI): lost for good.
    case lost
    /// Not recorded because reporting is silenced for the source (FPD, DTE.SA, CD.R, CFIE).
    case silenced
}

/// An IOMMU model: each vendor's real reporting path and limits behind one set of operations,
/// like the kernel's IOMMU core and its drivers. Records are kept in the vendor's binary layout
/// (through CorralDecode's encoders) and decoded back to the engine's `DeviceEvent` when the
/// handler drains them, so the decoders run end to end.
public protocol SimIOMMU: Sendable {
    var instance: IOMMUInstance { get }
    var vendor: IOMMUVendor { get }
    /// The per-source knob that stops fault recording, as the vendor names it.
    var silencingKnob: String { get }
    /// Records waiting for the handler.
    var pending: Int { get }
    /// How many records the hardware holds before it drops faults.
    var capacity: Int { get }
    mutating func record(_ fault: SimFault) -> RecordResult
    /// Everything the handler reads in one pass, decoded from the raw layout straight to the
    /// engine's events (the vendor record types' `deviceEvent`), as a kernel driver would.
    mutating func drain() -> [DeviceEvent]
    /// Whether an overflow was flagged since the last call (the handler sees PFO, the overflow
    /// bit or MULTI, never how many were lost).
    mutating func takeOverflow() -> Bool
    mutating func setSilenced(requesterID: RequesterID?, streamID: StreamID?, _ silenced: Bool)
    /// Whether recoverable faults (page requests) are reported through this fault queue
    /// (SMMUv3 stall model) rather than a separate page request queue (VT-d PRQ, AMD PPR log).
    var stallsInFaultQueue: Bool { get }
}

extension SimIOMMU {
    public var stallsInFaultQueue: Bool { false }
}

/// The shared part of the models: a bounded queue of raw records and a set of silenced sources.
struct RecordRing: Sendable {
    let capacity: Int
    private(set) var records: [[UInt8]] = []
    private(set) var overflowed = false
    var silencedKeys: Set<UInt64> = []

    init(capacity: Int) { self.capacity = capacity }

    static func key(_ requesterID: RequesterID?, _ streamID: StreamID?) -> UInt64 {
        if let streamID { return 1 << 40 | UInt64(streamID.rawValue) }
        return UInt64(requesterID?.rawValue ?? 0)
    }

    mutating func add(_ bytes: [UInt8], key: UInt64) -> RecordResult {
        if silencedKeys.contains(key) { return .silenced }
        guard records.count < capacity else {
            overflowed = true
            return .lost
        }
        records.append(bytes)
        return .recorded
    }

    mutating func takeAll() -> [[UInt8]] {
        defer { records.removeAll(keepingCapacity: true) }
        return records
    }

    mutating func takeOverflow() -> Bool {
        defer { overflowed = false }
        return overflowed
    }

    mutating func setSilenced(_ key: UInt64, _ silenced: Bool) {
        if silenced { silencedKeys.insert(key) } else { silencedKeys.remove(key) }
    }
}
