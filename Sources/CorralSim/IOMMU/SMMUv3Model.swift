import CorralCore
import CorralDecode

/// Arm SMMUv3 event queue (SMMUv3 §7.2–7.4; reference §3): a ring of 32-byte records
/// (2^15 entries by default, as QEMU's "allocated 32768 entries for evtq"); when full the
/// overflow flag toggles and events are lost. Silencing is the context descriptor's R bit
/// ("record faults"), per stream.
public struct SMMUv3Model: SimIOMMU {
    public let instance: IOMMUInstance
    public let vendor = IOMMUVendor.armSMMUv3
    public let silencingKnob = "CD.R"
    private var ring: RecordRing

    public init(instance: IOMMUInstance = IOMMUInstance("9050000.smmuv3"), eventQueueEntries: Int = 1 << 15) {
        self.instance = instance
        ring = RecordRing(capacity: eventQueueEntries)
    }

    public var pending: Int { ring.records.count }
    public var capacity: Int { ring.capacity }

    public mutating func record(_ fault: SimFault) -> RecordResult {
        let stream = fault.streamID ?? StreamID(UInt32(fault.requesterID?.rawValue ?? 0))
        // F_TRANSLATION for nothing mapped, F_ADDR_SIZE beyond the input size, F_PERMISSION for
        // a write through read-only or a secure access to a non-secure mapping.
        let id: UInt8 =
            switch fault.lookup {
            case .addressSize: 0x11
            case .writeToReadOnly, .readFromWriteOnly, .secureOnNonSecure: 0x13
            default: 0x10
            }
        let record = SMMUv3EventRecord(
            id: id, streamID: stream, readNotWrite: !fault.write, stalled: fault.stalled,
            stallTag: fault.stalled ? UInt16(truncatingIfNeeded: fault.address >> 12) : 0, inputAddress: fault.address)
        return ring.add(record.bytes, key: RecordRing.key(nil, stream))
    }

    public mutating func drain() -> [DeviceEvent] {
        ring.takeAll().compactMap { bytes in (try? SMMUv3EventRecord(bytes: bytes))?.deviceEvent(iommu: instance) }
    }

    public mutating func takeOverflow() -> Bool { ring.takeOverflow() }

    /// Stall mode: a recoverable fault stalls the transaction and is reported as an event with
    /// Stall set; software resumes it with CMD_RESUME (reference §3.4).
    public var stallsInFaultQueue: Bool { true }

    public mutating func setSilenced(requesterID: RequesterID?, streamID: StreamID?, _ silenced: Bool) {
        let stream = streamID ?? StreamID(UInt32(requesterID?.rawValue ?? 0))
        ring.setSilenced(RecordRing.key(nil, stream), silenced)
    }
}
