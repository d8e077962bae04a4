import CorralCore

/// Intel VT-d fault reason codes, as `dmar_get_fault_reason()` looks them up
/// (drivers/iommu/intel/dmar.c: `dma_remap_fault_reasons[]` 0x00–0x0D,
/// `irq_remap_fault_reasons[]` 0x20–0x26, `dma_remap_sm_fault_reasons[]` 0x30–0x90).
public struct VTdFaultReason: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// Which table the code belongs to; interrupt-remapping reasons make an INTR-REMAP fault.
    public enum Table: String, Sendable {
        case dmaRemapping = "dma-remapping"
        case interruptRemapping = "interrupt-remapping"
        case scalableMode = "scalable-mode"
        case unknown
    }

    public var table: Table {
        switch rawValue {
        case 0x20..<(0x20 + Self.interruptRemappingCount): .interruptRemapping
        case 0x30..<(0x30 + Self.scalableModeCount): .scalableMode
        case 0..<Self.dmaRemappingCount: .dmaRemapping
        default: .unknown
        }
    }

    /// The three tables' sizes as constants: `table` runs for every record decoded, and the
    /// tables' own counts are lazily initialised globals, checked on each access
    /// (`VendorRecordTests.vtdReasonTables` holds the constants to the tables).
    static let dmaRemappingCount: UInt8 = 0x0E
    static let interruptRemappingCount: UInt8 = 0x07
    static let scalableModeCount: UInt8 = 0x61

    /// The kernel's text for the code ("Unknown" when no table has it, as in dmar.c).
    public var text: String {
        switch table {
        case .interruptRemapping: Self.interruptRemapping[Int(rawValue - 0x20)]
        case .scalableMode: Self.scalableMode[Int(rawValue - 0x30)] ?? "Unknown"
        case .dmaRemapping: Self.dmaRemapping[Int(rawValue)]
        case .unknown: "Unknown"
        }
    }

    public var description: String { "0x" + Hex.padded(rawValue, width: 2) + " " + text }

    static let dmaRemapping = [
        "Software", "Present bit in root entry is clear", "Present bit in context entry is clear",
        "Invalid context entry", "Access beyond MGAW", "PTE Write access is not set", "PTE Read access is not set",
        "Next page table ptr is invalid", "Root table address invalid", "Context table ptr is invalid",
        "non-zero reserved fields in RTP", "non-zero reserved fields in CTP", "non-zero reserved fields in PTE",
        "PCE for translation request specifies blocking",
    ]

    static let interruptRemapping = [
        "Detected reserved fields in the decoded interrupt-remapped request",
        "Interrupt index exceeded the interrupt-remapping table size", "Present field in the IRTE entry is clear",
        "Error accessing interrupt-remapping table pointed by IRTA_REG", "Detected reserved fields in the IRTE entry",
        "Blocked a compatibility format interrupt request",
        "Blocked an interrupt request due to source-id verification failure",
    ]

    /// Sparse: `nil` where dmar.c says "Unknown".
    static let scalableMode: [String?] = {
        var table = [String?](repeating: nil, count: 0x61)
        let known: [(Int, String)] = [
            (0x30, "SM: Invalid Root Table Address"), (0x31, "SM: TTM 0 for request with PASID"),
            (0x32, "SM: TTM 0 for page group request"), (0x38, "SM: Error attempting to access Root Entry"),
            (0x39, "SM: Present bit in Root Entry is clear"), (0x3A, "SM: Non-zero reserved field set in Root Entry"),
            (0x40, "SM: Error attempting to access Context Entry"), (0x41, "SM: Present bit in Context Entry is clear"),
            (0x42, "SM: Non-zero reserved field set in the Context Entry"), (0x43, "SM: Invalid Context Entry"),
            (0x44, "SM: DTE field in Context Entry is clear"),
            (0x45, "SM: PASID Enable field in Context Entry is clear"),
            (0x46, "SM: PASID is larger than the max in Context Entry"),
            (0x47, "SM: PRE field in Context-Entry is clear"),
            (0x48, "SM: RID_PASID field error in Context-Entry"),
            (0x50, "SM: Error attempting to access the PASID Directory Entry"),
            (0x51, "SM: Present bit in Directory Entry is clear"),
            (0x52, "SM: Non-zero reserved field set in PASID Directory Entry"),
            (0x58, "SM: Error attempting to access PASID Table Entry"),
            (0x59, "SM: Present bit in PASID Table Entry is clear"),
            (0x5A, "SM: Non-zero reserved field set in PASID Table Entry"),
            (0x5B, "SM: Invalid Scalable-Mode PASID Table Entry"),
            (0x5C, "SM: ERE field is clear in PASID Table Entry"),
            (0x5D, "SM: SRE field is clear in PASID Table Entry"),
            (0x70, "SM: Error attempting to access first-level paging entry"),
            (0x71, "SM: Present bit in first-level paging entry is clear"),
            (0x72, "SM: Non-zero reserved field set in first-level paging entry"),
            (0x73, "SM: Error attempting to access FL-PML4 entry"),
            (0x74, "SM: First-level entry address beyond MGAW in Nested translation"),
            (0x75, "SM: Read permission error in FL-PML4 entry in Nested translation"),
            (0x76, "SM: Read permission error in first-level paging entry in Nested translation"),
            (0x77, "SM: Write permission error in first-level paging entry in Nested translation"),
            (0x78, "SM: Error attempting to access second-level paging entry"),
            (0x79, "SM: Read/Write permission error in second-level paging entry"),
            (0x7A, "SM: Non-zero reserved field set in second-level paging entry"),
            (0x7B, "SM: Invalid second-level page table pointer"),
            (0x7C, "SM: A/D bit update needed in second-level entry when set up in no snoop"),
            (0x80, "SM: Address in first-level translation is not canonical"),
            (0x81, "SM: U/S set 0 for first-level translation with user privilege"),
            (0x82, "SM: No execute permission for request with PASID and ER=1"),
            (0x83, "SM: Address beyond the DMA hardware max"), (0x84, "SM: Second-level entry address beyond the max"),
            (0x85, "SM: No write permission for Write/AtomicOp request"),
            (0x86, "SM: No read permission for Read/AtomicOp request"), (0x87, "SM: Invalid address-interrupt address"),
            (0x90, "SM: A/D bit update needed in first-level entry when set up in no snoop"),
        ]
        for (code, text) in known { table[code - 0x30] = text }
        return table
    }()

    /// The vendor-neutral kind of DMA fault this reason describes.
    public var faultKind: DMAFaultKind {
        switch rawValue {
        case 0x01, 0x02, 0x39, 0x41, 0x51, 0x59, 0x71: .notPresent
        case 0x05, 0x77, 0x85: .writeToReadOnly
        case 0x06, 0x75, 0x76, 0x86: .readFromWriteOnly
        case 0x82: .execute
        case 0x04, 0x74, 0x83, 0x84: .addressSize
        default: .configuration
        }
    }
}
