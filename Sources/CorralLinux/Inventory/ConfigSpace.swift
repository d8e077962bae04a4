import CorralCore

/// What Corral needs from a function's PCI configuration space (PCI Local Bus 3.0 §6, PCIe
/// Base 4.0 §7): the command register, and the capabilities that say which containment steps
/// the device can take and prove.
public struct ConfigSpace: Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    func u8(_ offset: Int) -> UInt8? { offset < bytes.count ? bytes[offset] : nil }
    func u16(_ offset: Int) -> UInt16? {
        guard offset + 1 < bytes.count else { return nil }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }
    func u32(_ offset: Int) -> UInt32? {
        guard offset + 3 < bytes.count else { return nil }
        return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    public var vendorID: UInt16? { u16(0x00) }
    public var deviceID: UInt16? { u16(0x02) }
    /// Command register (0x04); bit 2 is Bus Master Enable, bit 10 INTx Disable.
    public var command: UInt16? { u16(0x04) }
    public var busMaster: Bool? { command.map { $0 & 0x4 != 0 } }
    public static let commandOffset = 0x04
    public static let busMasterBit: UInt16 = 0x4
    public static let intxDisableBit: UInt16 = 0x400

    /// Offset of a standard capability (list from 0x34, status bit 4 says it exists).
    public func capability(_ id: UInt8) -> Int? {
        guard let status = u16(0x06), status & 0x10 != 0, var pointer = u8(0x34).map(Int.init) else { return nil }
        var hops = 0
        while pointer >= 0x40, pointer < bytes.count, hops < 48 {
            if u8(pointer) == id { return pointer }
            pointer = Int(u8(pointer + 1) ?? 0) & 0xFC
            hops += 1
        }
        return nil
    }

    /// Offset of an extended capability (list from 0x100; needs the 4 KiB config space).
    public func extendedCapability(_ id: UInt16) -> Int? {
        var pointer = 0x100
        var hops = 0
        while pointer >= 0x100, pointer + 4 <= bytes.count, hops < 64 {
            guard let header = u32(pointer), header != 0 else { return nil }
            if UInt16(header & 0xFFFF) == id { return pointer }
            pointer = Int(header >> 20) & 0xFFC
            hops += 1
        }
        return nil
    }

    /// PCIe capability (ID 0x10): Device Capabilities bit 28 = Function Level Reset.
    public var functionLevelReset: Bool {
        guard let pcie = capability(0x10), let devcap = u32(pcie + 0x04) else { return false }
        return devcap & (1 << 28) != 0
    }

    /// PCIe Device Status (cap + 0x0A) bit 5: Transactions Pending. nil without a PCIe capability.
    /// The PCI Express port type (PCIe capability flags bits 7:4, `pci_pcie_type()`), nil
    /// for a conventional PCI function.
    public var pcieType: PCIeType? {
        guard let cap = capability(0x10), let flags = u16(cap + 2) else { return nil }
        return PCIeType(rawValue: UInt8((flags >> 4) & 0xF)) ?? .other
    }

    /// A type 1 header's secondary bus number (offset 0x19, `PCI_SECONDARY_BUS`).
    public var secondaryBus: UInt8? {
        guard let header = u8(0x0E), header & 0x7F == 1 else { return nil }
        return u8(0x19)
    }

    public var transactionsPending: Bool? {
        guard let pcie = capability(0x10), let status = u16(pcie + 0x0A) else { return nil }
        return status & 0x20 != 0
    }

    /// Advanced Features capability (ID 0x13) with TP and FLR supported (AF_CAP bits 0, 1).
    public var advancedFeaturesFLR: Bool {
        guard let af = capability(0x13), let capabilities = u8(af + 0x03) else { return false }
        return capabilities & 0x3 == 0x3
    }

    /// Power Management (ID 0x01): PMCSR bit 3 No_Soft_Reset clear means a D3hot→D0 reset works.
    public var powerManagementReset: Bool {
        guard let pm = capability(0x01), let control = u16(pm + 0x04) else { return false }
        return control & 0x8 == 0
    }

    /// ATS extended capability (ID 0x000F): Control register bit 15 = Enable.
    public var atsEnabled: Bool {
        guard let ats = extendedCapability(0x000F), let control = u16(ats + 6) else { return false }
        return control & 0x8000 != 0
    }

    /// Device Serial Number extended capability (ID 0x0003): 64-bit, printed as the kernel does.
    public var serialNumber: String? {
        guard let dsn = extendedCapability(0x0003), let low = u32(dsn + 4), let high = u32(dsn + 8) else { return nil }
        let value = UInt64(high) << 32 | UInt64(low)
        return stride(from: 56, through: 0, by: -8).map { shift in
            let byte = UInt8(truncatingIfNeeded: value >> UInt64(shift))
            return String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }.joined(separator: "-")
    }
}

extension ResetMethod {
    /// The method a kernel without `reset_method` (before 5.15) uses first when `reset` is
    /// written, as far as config space tells: `__pci_reset_function_locked()` tries
    /// `pci_dev_specific_reset` (quirks, not visible here), `pcie_flr` (DevCap FLR),
    /// `pci_af_flr`, `pci_pm_reset` (No_Soft_Reset clear), then slot and bus resets (nil here:
    /// they depend on the topology, not on config space).
    public static func legacyFirst(_ config: ConfigSpace) -> ResetMethod? {
        if config.functionLevelReset { return .flr }
        if config.advancedFeaturesFLR { return .afFLR }
        if config.powerManagementReset { return .pm }
        return nil
    }
}

/// `PCI_EXP_TYPE_*` (include/uapi/linux/pci_regs.h): how a PCIe function forwards requester IDs.
public enum PCIeType: UInt8, Hashable, Sendable {
    case endpoint = 0x0
    case legacyEndpoint = 0x1
    case rootPort = 0x4
    case upstreamPort = 0x5
    case downstreamPort = 0x6
    /// PCIe-to-PCI/PCI-X bridge (`PCI_EXP_TYPE_PCI_BRIDGE`).
    case pcieToPCIBridge = 0x7
    /// PCI/PCI-X-to-PCIe bridge (`PCI_EXP_TYPE_PCIE_BRIDGE`).
    case pciToPCIeBridge = 0x8
    case rootComplexIntegrated = 0x9
    case rootComplexEventCollector = 0xA
    case other = 0xF
}
