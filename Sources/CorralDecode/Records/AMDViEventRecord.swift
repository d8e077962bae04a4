import CorralCore

/// AMD-Vi event log entry, 128 bits as four little-endian dwords `event[0..3]` — AMD I/O
/// Virtualization spec (#48882) §2.5; layouts as in VirtualBox `iommu-amd.h` (`EVT_*_T`) and
/// Linux `iommu_print_event()` (reference/kernel-anchors.md §2.2):
///
/// - `event[0]` bits 15:0 DeviceID, 19:16 PASID[19:16]
/// - `event[1]` bits 15:0 DomainID or PASID[15:0], 27:16 flags (GN NX US I PR RW PE RZ TR), 31:28 code
/// - `event[2..3]` address
///
/// Reserved bits are checked per event code where the spec defines the layout (IO_PAGE_FAULT:
/// 31:20 and 59:57; command errors: everything below the code; ...).
public struct AMDViEventRecord: VendorRecord {
    public static let recordName = "AMD-Vi event log entry"
    public static let byteCount = 16
    public static let wordWidths = [4, 4, 4, 4]

    /// IO_PAGE_FAULT flags (the printed `flags=` value).
    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue & 0xFFF }
        public static let guestNested = Flags(rawValue: 0x001)  // GN
        public static let noExecute = Flags(rawValue: 0x002)  // NX
        public static let user = Flags(rawValue: 0x004)  // US
        public static let interrupt = Flags(rawValue: 0x008)  // I
        public static let present = Flags(rawValue: 0x010)  // PR
        public static let write = Flags(rawValue: 0x020)  // RW: 1 = write
        public static let permission = Flags(rawValue: 0x040)  // PE
        public static let reservedNotZero = Flags(rawValue: 0x080)  // RZ
        public static let translation = Flags(rawValue: 0x100)  // TR
        static let names: [(Flags, String)] = [
            (.guestNested, "GN"), (.noExecute, "NX"), (.user, "US"), (.interrupt, "I"), (.present, "PR"),
            (.write, "RW"), (.permission, "PE"), (.reservedNotZero, "RZ"), (.translation, "TR"),
        ]
    }

    public var code: AMDViEventCode
    public var deviceID: RequesterID
    /// Domain ID, or PASID when `flags` has GN (20 bits).
    public var domainOrPASID: UInt32
    public var flags: Flags
    public var address: UInt64

    public init(
        code: AMDViEventCode, deviceID: RequesterID, domainOrPASID: UInt32 = 0, flags: Flags = [], address: UInt64
    ) {
        self.code = code
        self.deviceID = deviceID
        self.domainOrPASID = domainOrPASID & 0xF_FFFF
        self.flags = flags
        self.address = address
    }

    /// Bits that must be zero, per code: (event[0] mask, event[1] mask below the code).
    static func reserved(_ code: AMDViEventCode) -> (UInt32, UInt32) {
        switch code {
        case .ioPageFault: (0xFFF0_0000, 0x0E00_0000)
        case .deviceTableHardwareError: (0xFFFF_0000, 0x08D7_FFFF)
        case .illegalCommand: (0xFFFF_FFFF, 0x0FFF_FFFF)
        case .commandHardwareError: (0xFFFF_FFFF, 0x09FF_FFFF)
        case .iotlbInvalidationTimeout: (0xFFFF_0000, 0x0FFF_FFFF)
        case .invalidDeviceRequest: (0xFFF0_0000, 0x00FC_0000)
        default: (0, 0)
        }
    }

    public init(raw bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        try Self.checkLength(bytes)
        let word0: UInt32 = LittleEndian.load(bytes, at: 0)
        let word1: UInt32 = LittleEndian.load(bytes, at: 4)
        let rawCode = UInt8(word1 >> 28)
        guard let code = AMDViEventCode(rawValue: rawCode) else {
            // Code 0 is "no event written yet" (Linux retries, then "No event written to event log").
            throw .undefinedCode(record: Self.recordName, field: "event code (bits 63:60)", value: UInt64(rawCode))
        }
        let (mask0, mask1) = Self.reserved(code)
        if word0 & mask0 != 0 {
            throw .reservedBitsSet(
                record: Self.recordName, field: "event[0] of \(code.name)", mask: UInt64(mask0), value: UInt64(word0))
        }
        if word1 & mask1 != 0 {
            throw .reservedBitsSet(
                record: Self.recordName, field: "event[1] of \(code.name)", mask: UInt64(mask1), value: UInt64(word1))
        }
        self.code = code
        deviceID = RequesterID(rawValue: UInt16(bits(word0, 15, 0)))
        domainOrPASID = bits(word0, 19, 16) << 16 | bits(word1, 15, 0)
        flags = Flags(rawValue: UInt16(bits(word1, 27, 16)))
        address =
            UInt64(LittleEndian.load(bytes, at: 8, as: UInt32.self))
            | UInt64(LittleEndian.load(bytes, at: 12, as: UInt32.self)) << 32
    }

    public var bytes: [UInt8] {
        let word0 = UInt32(deviceID.rawValue) | field(domainOrPASID >> 16, 19, 16)
        let word1 = (domainOrPASID & 0xFFFF) | field(UInt32(flags.rawValue), 27, 16) | UInt32(code.rawValue) << 28
        var out: [UInt8] = []
        for word in [word0, word1, UInt32(truncatingIfNeeded: address), UInt32(address >> 32)] {
            LittleEndian.store(word, into: &out)
        }
        return out
    }

    public var fields: [(name: String, value: String)] {
        let flagNames = Flags.names.filter { flags.contains($0.0) }.map(\.1)
        return [
            ("code", "0x\(Hex.string(code.rawValue)) \(code.name)"),
            ("device", "\(PCIAddress(requesterID: deviceID))"),
            (flags.contains(.guestNested) ? "pasid" : "domain", "0x" + Hex.padded(domainOrPASID, width: 4)),
            (
                "flags",
                "0x" + Hex.padded(flags.rawValue, width: 4)
                    + (flagNames.isEmpty ? "" : " " + flagNames.joined(separator: " "))
            ),
            ("address", "0x" + Hex.string(address)),
        ]
    }

    /// IO_PAGE_FAULT flags as a fault kind: PR clear = not present; RW and PE = permission.
    static func faultKind(flags: Flags) -> DMAFaultKind {
        if !flags.contains(.present) { return .notPresent }
        if flags.contains(.permission) { return flags.contains(.write) ? .writeToReadOnly : .readFromWriteOnly }
        return .other
    }

    public func deviceEvent(iommu: IOMMUInstance?) -> DeviceEvent? {
        guard code == .ioPageFault else { return deviceEventViaLogEvent(iommu: iommu) }
        return .dmaFault(
            DMAFault(
                source: .requester(segment: 0, deviceID), vendor: .amdVi, iommu: iommu,
                kind: Self.faultKind(flags: flags), access: flags.contains(.write) ? .write : .read,
                address: IOVA(address), pasid: flags.contains(.guestNested) ? PASID(domainOrPASID) : nil,
                rawCode: UInt32(code.rawValue)))
    }

    public var event: LogEvent {
        var event = LogEvent(line: 0, kind: code == .ioPageFault ? .dmaFault : .iommuError)
        event.vendor = .amdVi
        event.reason = UInt32(code.rawValue)
        event.reasonText = code.name
        if code != .illegalCommand && code != .commandHardwareError {
            event.device = PCIAddress(requesterID: deviceID)
        }
        event.address = IOVA(address)
        if code == .ioPageFault {
            event.access = flags.contains(.write) ? .write : .read
            event.status = UInt32(flags.rawValue)
            if flags.contains(.guestNested) { event.pasid = PASID(domainOrPASID) }
        }
        return event
    }
}
