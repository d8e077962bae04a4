import CorralCore
import CorralDecode

/// AMD-Vi event logging (AMD IOMMU spec §2.5; reference §2.4–2.5): a 512-entry event log ring
/// (`EVT_BUFFER_SIZE` 8 KiB / 16 B); when full, the overflow bit is set and events are
/// dropped until the driver restarts logging. Silencing is the device table entry's SA
/// ("suppress all I/O page fault events") bit, per device ID.
public struct AMDViModel: SimIOMMU {
    public let instance: IOMMUInstance
    public let vendor = IOMMUVendor.amdVi
    public let silencingKnob = "DTE.SA"
    private var ring: RecordRing

    public init(instance: IOMMUInstance = IOMMUInstance("ivhd0"), eventLogEntries: Int = 512) {
        self.instance = instance
        ring = RecordRing(capacity: eventLogEntries)
    }

    public var pending: Int { ring.records.count }
    public var capacity: Int { ring.capacity }

    public mutating func record(_ fault: SimFault) -> RecordResult {
        // PR: the page was present (a permission problem, PE); clear: nothing mapped there.
        var flags: AMDViEventRecord.Flags = fault.write ? [.write] : []
        if fault.lookup == .writeToReadOnly || fault.lookup == .readFromWriteOnly {
            flags.formUnion([.present, .permission])
        }
        let record = AMDViEventRecord(
            code: .ioPageFault, deviceID: fault.requesterID ?? RequesterID(rawValue: 0), domainOrPASID: 0x12,
            flags: flags, address: fault.address)
        return ring.add(record.bytes, key: RecordRing.key(fault.requesterID, nil))
    }

    public mutating func drain() -> [DeviceEvent] {
        ring.takeAll().compactMap { bytes in (try? AMDViEventRecord(bytes: bytes))?.deviceEvent(iommu: instance) }
    }

    public mutating func takeOverflow() -> Bool { ring.takeOverflow() }

    public mutating func setSilenced(requesterID: RequesterID?, streamID: StreamID?, _ silenced: Bool) {
        ring.setSilenced(RecordRing.key(requesterID, nil), silenced)
    }
}
