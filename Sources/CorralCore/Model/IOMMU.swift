/// The IOMMU architectures Corral decodes. Vendor specifics stay in the decoders; the engine
/// only carries the vendor along so reasons and reports can name it.
public enum IOMMUVendor: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Intel VT-d (DMA remapping hardware unit, `dmar.c`).
    case intelVTd = "intel-vtd"
    /// AMD-Vi (AMD IOMMU, `drivers/iommu/amd`).
    case amdVi = "amd-vi"
    /// Arm SMMU v1/v2 (`drivers/iommu/arm/arm-smmu`).
    case armSMMU = "arm-smmu"
    /// Arm SMMUv3 (`drivers/iommu/arm/arm-smmu-v3`).
    case armSMMUv3 = "arm-smmu-v3"
    /// The other IOMMUs the kernel has, decoded from their fault lines as faults of their unit
    /// (and of the stream or master ID they print): RISC-V IOMMU (`drivers/iommu/riscv`),
    /// MediaTek M4U (`mtk_iommu.c`), Renesas IPMMU-VMSA (`ipmmu-vmsa.c`), Rockchip
    /// (`rockchip-iommu.c`), Apple DART (`apple-dart.c`).
    case riscv = "riscv-iommu"
    case mediatek = "mtk-iommu"
    case renesasIPMMU = "ipmmu-vmsa"
    case rockchip = "rockchip-iommu"
    case appleDART = "apple-dart"

    public var description: String { rawValue }
}

/// One IOMMU unit, named as the kernel names it: `dmar0`, `ivhd0`, `5040000.smmu`.
///
/// Queues overflow per unit and fault interrupts are per unit, so overflow attribution works
/// within one instance.
///
/// Held as an index into a process-wide `NameTable`, not as a `String`: units travel in every
/// fault event, and a plain word copies without reference counting. Equal exactly when the names
/// are; ordered by name.
public struct IOMMUInstance: Hashable, Comparable, Sendable, CustomStringConvertible {
    let index: UInt32
    public init(_ name: String) { self.index = NameTable.iommus.index(of: name) }
    public var name: String { NameTable.iommus.name(at: index) }
    public var description: String { name }
    public static func < (lhs: IOMMUInstance, rhs: IOMMUInstance) -> Bool {
        lhs.index != rhs.index && lhs.name < rhs.name
    }

    /// The unit a `vendor`'s events are filed under when their source names none (a VT-d log
    /// line, an AMD-Vi event without `ivhd`): named after the vendor. Looked up once per vendor,
    /// not per event.
    public static func unnamed(_ vendor: IOMMUVendor) -> IOMMUInstance {
        unnamedUnits[IOMMUVendor.allCases.firstIndex(of: vendor)!]
    }

    private static let unnamedUnits = IOMMUVendor.allCases.map { IOMMUInstance($0.rawValue) }
}

/// An Arm SMMU StreamID (SMMUv3 event record dword 0 bits 63:32; SMMUv2 `CBFRSYNRA`/`SID`).
public struct StreamID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { "0x" + Hex.string(rawValue) }
    public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A stream on a given SMMU: the only identity a platform (non-PCI) master has.
public struct SMMUStream: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let iommu: IOMMUInstance
    public let streamID: StreamID
    public init(iommu: IOMMUInstance, streamID: StreamID) {
        self.iommu = iommu
        self.streamID = streamID
    }
    public var description: String { "\(iommu)/sid=\(streamID)" }
    public static func < (lhs: SMMUStream, rhs: SMMUStream) -> Bool {
        (lhs.iommu, lhs.streamID) < (rhs.iommu, rhs.streamID)
    }
}

/// A PCIe Process Address Space ID (20 bits; VT-d FRCD.PV, SMMUv3 SubstreamID, AMD-Vi GN=1).
public struct PASID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { "0x" + Hex.string(rawValue) }
}

/// An I/O virtual address as the device presented it (VT-d: page-aligned FI; AMD-Vi: event
/// address; SMMU: InputAddr / FAR).
public struct IOVA: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `0x` then lowercase hex without leading zeros, as the normalized decode schema prints it.
    public var description: String { "0x" + Hex.string(rawValue) }
    public static func < (lhs: IOVA, rhs: IOVA) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A PCIe Device Serial Number (extended capability 0x0003), the identity that survives a
/// hot re-insertion at a different address. NVMe serials and Thunderbolt UUIDs are mapped to
/// the same role by the host.
public struct SerialNumber: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

/// The kernel driver bound to a device, by its name in `/sys/bus/pci/drivers`.
public struct DriverName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public var description: String { name }

    /// `vfio-pci`: the device belongs to a user-space owner (a VMM), which is told first.
    public static let vfioPCI: DriverName = "vfio-pci"
    /// `pci-stub`: bound only to keep other drivers away; no DMA is expected.
    public static let pciStub: DriverName = "pci-stub"
}

/// A Linux interrupt number as printed in `/proc/interrupts` and `irq N: nobody cared`.
public struct IRQNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: IRQNumber, rhs: IRQNumber) -> Bool { lhs.rawValue < rhs.rawValue }
}
