import CorralCore

/// Intel VT-d Fault Recording Register (FRCD), 128 bits — VT-d spec §11.4.14; the same layout
/// as VirtualBox `iommu-intel.h` and libcper `EFI_VTD_FAULT_RECORD`, read by Linux `dmar_fault()`
/// through `dma_frcd_*()` (drivers/iommu/intel/iommu.h):
///
/// | bits    | field | |
/// |---------|-------|-|
/// | 11:0    | —     | reserved |
/// | 63:12   | FI    | fault info: page address (interrupt-remap faults: bits 63:48 = index) |
/// | 79:64   | SID   | source (requester) ID |
/// | 91:80   | —     | reserved |
/// | 92      | T2    | type bit 2 (refines T1: write/page request, read/AtomicOp) |
/// | 93      | PRIV  | privilege mode requested |
/// | 94      | EXE   | execute requested |
/// | 95      | PP    | PASID present |
/// | 103:96  | FR    | fault reason (`VTdFaultReason`) |
/// | 123:104 | PV    | PASID value |
/// | 125:124 | AT    | address type |
/// | 126     | T1    | type bit 1: 1 = read (Linux `dma_frcd_type()`), 0 = write |
/// | 127     | F     | fault (RW1C) |
public struct VTdFaultRecord: VendorRecord {
    public static let recordName = "VT-d fault recording register"
    public static let byteCount = 16
    public static let wordWidths = [8, 8]
    static let reservedLow: UInt64 = 0xFFF
    static let reservedHigh: UInt64 = 0xFFF << 16

    /// The request that faulted (T1, T2).
    public enum RequestType: String, Sendable, CaseIterable {
        case write
        case pageRequest = "page-request"
        case read
        case atomicOp = "atomic-op"
    }

    /// Page-aligned fault info (bits 63:12 in place; low 12 bits zero).
    public var faultInfo: UInt64
    public var source: RequesterID
    public var requestType: RequestType
    public var privilegeMode: Bool
    public var execute: Bool
    public var pasidPresent: Bool
    public var reason: VTdFaultReason
    public var pasid: UInt32
    public var addressType: UInt8
    public var fault: Bool

    public init(
        faultInfo: UInt64, source: RequesterID, requestType: RequestType, reason: VTdFaultReason,
        privilegeMode: Bool = false, execute: Bool = false, pasid: UInt32? = nil, addressType: UInt8 = 0,
        fault: Bool = true
    ) {
        self.faultInfo = faultInfo & ~Self.reservedLow
        self.source = source
        self.requestType = requestType
        self.reason = reason
        self.privilegeMode = privilegeMode
        self.execute = execute
        self.pasidPresent = pasid != nil
        self.pasid = (pasid ?? 0) & 0xF_FFFF
        self.addressType = addressType & 0x3
        self.fault = fault
    }

    public init(raw bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        try Self.checkLength(bytes)
        let low: UInt64 = LittleEndian.load(bytes, at: 0)
        let high: UInt64 = LittleEndian.load(bytes, at: 8)
        if low & Self.reservedLow != 0 {
            throw .reservedBitsSet(record: Self.recordName, field: "bits 11:0", mask: Self.reservedLow, value: low)
        }
        if high & Self.reservedHigh != 0 {
            throw .reservedBitsSet(record: Self.recordName, field: "bits 91:80", mask: Self.reservedHigh, value: high)
        }
        faultInfo = low
        source = RequesterID(rawValue: UInt16(bits(high, 15, 0)))
        let t1 = bit(high, 62)
        let t2 = bit(high, 28)
        requestType = t1 ? (t2 ? .atomicOp : .read) : (t2 ? .pageRequest : .write)
        privilegeMode = bit(high, 29)
        execute = bit(high, 30)
        pasidPresent = bit(high, 31)
        reason = VTdFaultReason(UInt8(bits(high, 39, 32)))
        pasid = UInt32(bits(high, 59, 40))
        addressType = UInt8(bits(high, 61, 60))
        fault = bit(high, 63)
    }

    public var bytes: [UInt8] {
        let t1 = requestType == .read || requestType == .atomicOp
        let t2 = requestType == .pageRequest || requestType == .atomicOp
        var high = UInt64(source.rawValue)
        high |= flag(t2, 28) | flag(privilegeMode, 29) | flag(execute, 30) | flag(pasidPresent, 31)
        high |= field(UInt64(reason.rawValue), 39, 32) | field(UInt64(pasid), 59, 40)
        high |= field(UInt64(addressType), 61, 60) | flag(t1, 62) | flag(fault, 63)
        var out: [UInt8] = []
        LittleEndian.store(faultInfo, into: &out)
        LittleEndian.store(high, into: &out)
        return out
    }

    /// Linux reads only T1: 1 = "DMA Read", 0 = "DMA Write".
    public var access: DMAAccess { requestType == .read || requestType == .atomicOp ? .read : .write }

    /// Interrupt-remapping faults carry the interrupt index in FI bits 63:48.
    public var interruptIndex: UInt16? {
        reason.table == .interruptRemapping ? UInt16(faultInfo >> 48) : nil
    }

    public var fields: [(name: String, value: String)] {
        var out: [(String, String)] = [
            ("F", fault ? "1 (fault recorded)" : "0 (slot free)"),
            ("SID", "\(source) (\(PCIAddress(requesterID: source)))"),
            ("type", "\(requestType.rawValue) (T1=\(access == .read ? 1 : 0))"),
            ("FR", reason.description),
        ]
        if let index = interruptIndex {
            out.append(("interrupt index", "0x" + Hex.string(index)))
        } else {
            out.append(("FI (address)", "0x" + Hex.string(faultInfo)))
        }
        out.append(("PP/PV", pasidPresent ? "PASID 0x\(Hex.string(pasid))" : "no PASID"))
        out.append(("PRIV/EXE", "\(privilegeMode ? 1 : 0)/\(execute ? 1 : 0)"))
        out.append(("AT", String(addressType)))
        return out
    }

    @inlinable
    public func deviceEvent(iommu: IOMMUInstance?) -> DeviceEvent? {
        let requester = FaultSource.requester(segment: 0, source)
        if reason.table == .interruptRemapping {
            return .interruptRemapFault(
                InterruptRemapFault(
                    source: requester, vendor: .intelVTd, iommu: iommu, rawCode: UInt32(reason.rawValue)))
        }
        return .dmaFault(
            DMAFault(
                source: requester, vendor: .intelVTd, iommu: iommu, kind: reason.faultKind, access: access,
                address: IOVA(faultInfo), pasid: pasidPresent ? PASID(pasid) : nil,
                recoverable: requestType == .pageRequest, rawCode: UInt32(reason.rawValue)))
    }

    public var event: LogEvent {
        let remap = reason.table == .interruptRemapping
        var event = LogEvent(line: 0, kind: remap ? .interruptRemapFault : .dmaFault)
        event.vendor = .intelVTd
        event.device = PCIAddress(requesterID: source)
        event.reason = UInt32(reason.rawValue)
        event.reasonText = reason.text
        if !remap {
            event.address = IOVA(faultInfo)
            event.access = access
        }
        if pasidPresent { event.pasid = PASID(pasid) }
        event.recoverable = requestType == .pageRequest
        return event
    }
}

/// VT-d Fault Status Register (FSTS), 32 bits — VT-d spec §11.4.9; `DMA_FSTS_*` in
/// drivers/iommu/intel/iommu.h. Bits 31:16 are reserved.
public struct VTdFaultStatus: VendorRecord {
    public static let recordName = "VT-d fault status register"
    public static let byteCount = 4
    public static let wordWidths = [4]
    static let reserved: UInt32 = 0xFFFF_0000

    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue & ~Self.reserved }

    public init(raw bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        try Self.checkLength(bytes)
        let value: UInt32 = LittleEndian.load(bytes, at: 0)
        if value & Self.reserved != 0 {
            throw .reservedBitsSet(
                record: Self.recordName, field: "bits 31:16", mask: UInt64(Self.reserved), value: UInt64(value))
        }
        rawValue = value
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        LittleEndian.store(rawValue, into: &out)
        return out
    }

    /// Primary Fault Overflow: a fault arrived with every FRCD full and was dropped.
    public var primaryFaultOverflow: Bool { bit(rawValue, 0) }
    /// Primary Pending Fault: at least one FRCD holds a fault.
    public var primaryPendingFault: Bool { bit(rawValue, 1) }
    /// Fault Record Index: the FRCD to read first.
    public var faultRecordIndex: UInt8 { UInt8(bits(rawValue, 15, 8)) }

    static let names = ["PFO", "PPF", "AFO", "APF", "IQE", "ICE", "ITE", "PRO"]

    public var fields: [(name: String, value: String)] {
        var out = Self.names.enumerated().map { (index, name) in (name, bit(rawValue, index) ? "1" : "0") }
        out.append(("FRI", String(faultRecordIndex)))
        return out
    }

    public var event: LogEvent {
        var event = LogEvent(line: 0, kind: primaryFaultOverflow ? .queueOverflow : .iommuError)
        event.vendor = .intelVTd
        event.status = rawValue
        event.reasonText = primaryFaultOverflow ? "primary fault overflow (FSTS.PFO)" : "fault status"
        return event
    }
}
