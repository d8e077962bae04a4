/// Arm SMMUv3 event record IDs (SMMUv3 architecture §7.3; QEMU hw/arm/smmuv3-internal.h;
/// Linux `EVT_ID_*` in arm-smmu-v3.h) with the names the 6.15+ decoded log line prints.
public enum SMMUv3EventID: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case unsupportedUpstreamTransaction = 0x01
    case badStreamID = 0x02
    case steFetch = 0x03
    case badSTE = 0x04
    case badATSTranslationRequest = 0x05
    case streamDisabled = 0x06
    case translationForbidden = 0x07
    case badSubstreamID = 0x08
    case cdFetch = 0x09
    case badCD = 0x0A
    case walkExternalAbort = 0x0B
    case translation = 0x10
    case addressSize = 0x11
    case access = 0x12
    case permission = 0x13
    case tlbConflict = 0x20
    case configurationCacheConflict = 0x21
    case pageRequest = 0x24
    case vmsFetch = 0x25

    public var name: String {
        switch self {
        case .unsupportedUpstreamTransaction: "F_UUT"
        case .badStreamID: "C_BAD_STREAMID"
        case .steFetch: "F_STE_FETCH"
        case .badSTE: "C_BAD_STE"
        case .badATSTranslationRequest: "F_BAD_ATS_TREQ"
        case .streamDisabled: "F_STREAM_DISABLED"
        case .translationForbidden: "F_TRANSL_FORBIDDEN"
        case .badSubstreamID: "C_BAD_SUBSTREAMID"
        case .cdFetch: "F_CD_FETCH"
        case .badCD: "C_BAD_CD"
        case .walkExternalAbort: "F_WALK_EABT"
        case .translation: "F_TRANSLATION"
        case .addressSize: "F_ADDR_SIZE"
        case .access: "F_ACCESS"
        case .permission: "F_PERMISSION"
        case .tlbConflict: "F_TLB_CONFLICT"
        case .configurationCacheConflict: "F_CFG_CONFLICT"
        case .pageRequest: "E_PAGE_REQUEST"
        case .vmsFetch: "F_VMS_FETCH"
        }
    }

    public var description: String { name }

    /// Translation faults 0x10–0x13 carry an input address and count as DMA faults; the rest
    /// are configuration or IOMMU errors.
    public static func isDMAFault(_ id: UInt8) -> Bool { (0x10...0x13).contains(id) }

    public init?(name: some Sequence<UInt8>) {
        let text = String(decoding: Array(name), as: UTF8.self)
        guard let id = Self.allCases.first(where: { $0.name == text }) else { return nil }
        self = id
    }
}
