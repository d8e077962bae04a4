import CorralCore
import CorralDecode

/// Intel VT-d primary fault logging (VT-d spec §7.2.1; reference/kernel-anchors.md §1.3–1.5):
/// NFR fault recording registers (8 by default; `cap_num_fault_regs()`), used as a circular
/// buffer; a fault arriving while every FRCD holds one sets FSTS.PFO and is dropped. Silencing
/// is the context entry's Fault Processing Disable bit, per requester ID.
public struct VTdModel: SimIOMMU {
    public let instance: IOMMUInstance
    public let vendor = IOMMUVendor.intelVTd
    public let silencingKnob = "context-entry FPD"
    private var ring: RecordRing

    public init(instance: IOMMUInstance = IOMMUInstance("dmar0"), faultRecordingRegisters: Int = 8) {
        self.instance = instance
        ring = RecordRing(capacity: faultRecordingRegisters)
    }

    public var pending: Int { ring.records.count }
    public var capacity: Int { ring.capacity }

    public mutating func record(_ fault: SimFault) -> RecordResult {
        // Second-level walk results as dmar.c names them: no PTE with the needed right is
        // "PTE Write/Read access is not set"; beyond the guest address width, "Access beyond MGAW".
        let reason: UInt8 =
            switch fault.lookup {
            case .addressSize: 0x04
            case .writeToReadOnly: 0x05
            case .readFromWriteOnly: 0x06
            default: fault.write ? 0x05 : 0x06
            }
        let record = VTdFaultRecord(
            faultInfo: fault.address, source: fault.requesterID ?? RequesterID(rawValue: 0),
            requestType: fault.write ? .write : .read, reason: VTdFaultReason(reason))
        return ring.add(record.bytes, key: RecordRing.key(fault.requesterID, nil))
    }

    public mutating func drain() -> [DeviceEvent] {
        ring.takeAll().compactMap { bytes in (try? VTdFaultRecord(bytes: bytes))?.deviceEvent(iommu: instance) }
    }

    public mutating func takeOverflow() -> Bool { ring.takeOverflow() }

    public mutating func setSilenced(requesterID: RequesterID?, streamID: StreamID?, _ silenced: Bool) {
        ring.setSilenced(RecordRing.key(requesterID, nil), silenced)
    }
}
