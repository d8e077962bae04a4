import CorralCore

/// The requester IDs each PCI function's DMA can carry, computed as the kernel does in
/// `pci_for_each_dma_alias()` (drivers/pci/search.c), and the alias groups they make.
///
/// Walking up from a function: a root port or switch port forwards the requester ID as it is;
/// a PCIe-to-PCI bridge (`PCI_EXP_TYPE_PCI_BRIDGE`) takes ownership of transactions from below
/// with its secondary bus number and devfn 00.0 (PCIe-to-PCI/PCI-X Bridge spec r1.0 §2.3) — an
/// ID that may also be the address of a real function on that bus; a PCI-to-PCIe bridge and a
/// conventional PCI bridge use their own ID (unless quirked `PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS`,
/// which makes it behave as a PCIe-to-PCI bridge). Devices quirked in drivers/pci/quirks.c also
/// DMA as another function of their slot (`quirk_dma_func0_alias`, `quirk_dma_func1_alias`).
///
/// A fault carrying a shared ID cannot be pinned on one member: it is held against the group,
/// contained through the bridge above it (whose bus master gates them all), never through one
/// member alone (docs/safety.md).
public enum DMAAliases {
    /// `quirk_dma_func0_alias`: DMA from a non-zero function appears as function 0.
    static let func0: Set<UInt32> = [
        0x1180_e832,  // Ricoh R5C832 (PCI_VENDOR_ID_RICOH, 0xe832)
        0x1180_e476,  // Ricoh R5CE476
    ]
    /// `quirk_dma_func1_alias`: DMA appears as function 1 (Marvell SATA controllers whose
    /// phantom function 1 masters; bugzilla.kernel.org 42679).
    static let func1: Set<UInt32> = [
        0x1b4b_9120, 0x1b4b_9123, 0x1b4b_9125, 0x1b4b_9128, 0x1b4b_9130, 0x1b4b_9170, 0x1b4b_9172,
        0x1b4b_917a, 0x1b4b_9182, 0x1b4b_9183, 0x1b4b_91a0, 0x1b4b_9220, 0x1b4b_9230, 0x1b4b_9235,
        0x1103_0642,  // HighPoint RocketRAID 642L (PCI_VENDOR_ID_TTI)
        0x1103_0645,  // HighPoint RocketRAID 644L
    ]
    /// `quirk_use_pcie_bridge_dma_alias` (PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS): conventional bridges
    /// that in fact sit behind a PCIe link and alias like a PCIe-to-PCI bridge.
    static let pcieBridgeAlias: Set<UInt32> = [
        0x1b21_1080,  // ASMedia ASM1083/1085 PCIe-to-PCI bridge
        0x10e3_8113,  // Tundra 8113
        0x1283_8892,  // ITE 8892
        0x1283_8893,  // ITE 8893
    ]

    static func key(_ device: PCIDeviceInfo) -> UInt32? {
        guard let vendor = device.vendorID, let id = device.deviceID else { return nil }
        return UInt32(vendor) << 16 | UInt32(id)
    }

    /// Every requester ID `device`'s DMA can carry, with the bridge that introduced each alias
    /// (nil for the device's own ID and its quirk aliases).
    static func aliases(of device: PCIDeviceInfo, _ inventory: Inventory) -> [(RequesterID, PCIAddress?)] {
        let address = device.address
        var out: [(RequesterID, PCIAddress?)] = [(address.requesterID, nil)]
        if let key = key(device) {
            let slotBase = UInt16(address.bus) << 8 | UInt16(address.device) << 3
            if func0.contains(key), address.function != 0 { out.append((RequesterID(rawValue: slotBase), nil)) }
            if func1.contains(key), address.function != 1 { out.append((RequesterID(rawValue: slotBase | 1), nil)) }
        }
        var current = device
        var hops = 0
        while let parent = current.parent, let bridge = inventory.device(parent), hops < 32 {
            hops += 1
            let secondary = bridge.config.secondaryBus ?? current.address.bus
            switch bridge.config.pcieType {
            case .rootPort?, .upstreamPort?, .downstreamPort?:
                break
            case .pcieToPCIBridge?:
                out.append((RequesterID(rawValue: UInt16(secondary) << 8), bridge.address))
            case .pciToPCIeBridge?:
                out.append((bridge.address.requesterID, bridge.address))
            default:
                // A conventional PCI bridge (or one whose type cannot be read).
                if let key = key(bridge), pcieBridgeAlias.contains(key) {
                    out.append((RequesterID(rawValue: UInt16(secondary) << 8), bridge.address))
                } else if bridge.config.pcieType == nil, bridge.isBridge {
                    out.append((bridge.address.requesterID, bridge.address))
                }
            }
            current = bridge
        }
        return out
    }

    /// The alias groups of `inventory`: every requester ID that more than one function can
    /// carry, or that a function carries other than its own, with its members and the bridge to
    /// contain it through. Registered in the resolver, faults with that ID are held against
    /// the group.
    public static func groups(_ inventory: Inventory) -> [(
        segment: UInt32, requester: RequesterID, group: DeviceResolver.AliasGroup
    )] {
        var members: [PCIAddress: (bridges: [PCIAddress], devices: [PCIAddress])] = [:]
        for device in inventory.devices where !device.isBridge {
            for (requester, bridge) in aliases(of: device, inventory) {
                let key = PCIAddress(segment: device.address.segment, requesterID: requester)
                var entry = members[key] ?? ([], [])
                if !entry.devices.contains(device.address) { entry.devices.append(device.address) }
                if let bridge, !entry.bridges.contains(bridge) { entry.bridges.append(bridge) }
                members[key] = entry
            }
        }
        var out: [(segment: UInt32, requester: RequesterID, group: DeviceResolver.AliasGroup)] = []
        for (key, entry) in members.sorted(by: { $0.key < $1.key }) {
            var devices = entry.devices
            // The function that really has this address is in the group too.
            if inventory.device(key) != nil, !devices.contains(key) { devices.append(key) }
            guard devices.count > 1 || devices.first != key else { continue }
            devices.sort()
            // Through the alias's own bridge when there is one (the nearest: the last found is
            // the highest, so the first), else the nearest bridge above every member.
            let bridge = entry.bridges.first ?? (devices.count > 1 ? commonParent(devices, inventory) : nil)
            // With no bridge above them all, the first member stands for the group: the engine
            // then holds back any action that does not reach every member.
            let accountable: DeviceAddress = bridge.map { .pci($0) } ?? .pci(devices[0])
            out.append(
                (
                    key.segment, key.requesterID,
                    DeviceResolver.AliasGroup(members: devices.map { .pci($0) }, accountable: accountable)
                ))
        }
        return out
    }

    /// The nearest bridge above every one of `devices`, if any.
    static func commonParent(_ devices: [PCIAddress], _ inventory: Inventory) -> PCIAddress? {
        func ancestors(_ device: PCIAddress) -> [PCIAddress] {
            var out: [PCIAddress] = []
            var current = inventory.device(device)?.parent
            while let parent = current, out.count < 32 {
                out.append(parent)
                current = inventory.device(parent)?.parent
            }
            return out
        }
        guard let first = devices.first else { return nil }
        let others = devices.dropFirst().map { Set(ancestors($0)) }
        return ancestors(first).first { candidate in others.allSatisfy { $0.contains(candidate) } }
    }
}
