/// AMD-Vi event log entry types (drivers/iommu/amd/amd_iommu_types.h `EVENT_TYPE_*`, the
/// type field being bits 63:60 of the entry) and the names `iommu_print_event()` prints.
public enum AMDViEventCode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case illegalDeviceTableEntry = 0x1
    case ioPageFault = 0x2
    case deviceTableHardwareError = 0x3
    case pageTableHardwareError = 0x4
    case illegalCommand = 0x5
    case commandHardwareError = 0x6
    case iotlbInvalidationTimeout = 0x7
    case invalidDeviceRequest = 0x8
    case invalidPPRRequest = 0x9
    case eventCounterZero = 0xA
    case guestEventFault = 0xB
    case vIOMMUHardwareError = 0xC
    case rmpPageFault = 0xD
    case rmpHardwareError = 0xE

    /// The name in `Event logged [NAME ...]`.
    public var name: String {
        switch self {
        case .illegalDeviceTableEntry: "ILLEGAL_DEV_TABLE_ENTRY"
        case .ioPageFault: "IO_PAGE_FAULT"
        case .deviceTableHardwareError: "DEV_TAB_HARDWARE_ERROR"
        case .pageTableHardwareError: "PAGE_TAB_HARDWARE_ERROR"
        case .illegalCommand: "ILLEGAL_COMMAND_ERROR"
        case .commandHardwareError: "COMMAND_HARDWARE_ERROR"
        case .iotlbInvalidationTimeout: "IOTLB_INV_TIMEOUT"
        case .invalidDeviceRequest: "INVALID_DEVICE_REQUEST"
        case .invalidPPRRequest: "INVALID_PPR_REQUEST"
        case .eventCounterZero: "EVENT_COUNTER_ZERO"
        case .guestEventFault: "GUEST_EVENT_FAULT"
        case .vIOMMUHardwareError: "VIOMMU_HW_ERROR"
        case .rmpPageFault: "RMP_PAGE_FAULT"
        case .rmpHardwareError: "RMP_HW_ERROR"
        }
    }

    public var description: String { name }

    public init?(name: some Sequence<UInt8>) {
        let text = String(decoding: Array(name), as: UTF8.self)
        guard let code = Self.allCases.first(where: { $0.name == text }) else { return nil }
        self = code
    }
}
