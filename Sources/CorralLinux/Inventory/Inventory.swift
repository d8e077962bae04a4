import CorralCore
import Foundation

/// One PCI function as sysfs describes it (`/sys/bus/pci/devices/SSSS:BB:DD.F/`).
public struct PCIDeviceInfo: Sendable {
    public var address: PCIAddress
    public var vendorID: UInt16?
    public var deviceID: UInt16?
    public var subsystem: String?
    public var classCode: UInt32?
    public var driver: String?
    /// `reset_method`, in the kernel's order of preference.
    public var resetMethods: [ResetMethod]
    public var iommuGroup: Int?
    /// The group's default domain type (`DMA`, `DMA-FQ`, `identity`, `blocked`).
    public var iommuGroupType: String?
    public var parent: PCIAddress?
    public var children: [PCIAddress] = []
    public var slot: String?
    public var slotPower: Bool
    /// `removable` says "removable": behind an external-facing port (Thunderbolt, USB4).
    public var untrusted: Bool
    public var irq: Int?
    /// Its own MSI/MSI-X vectors (`msi_irqs/`): interrupts no other device raises.
    public var msiIRQs: [Int] = []
    /// Whether a driver has enabled it (`enable`, `pci_enable_device()`'s count above 0); nil
    /// when the attribute is not there.
    public var enabled: Bool? = nil
    public var config: ConfigSpace
    /// The controller's serial as the nvme driver reads it (Identify Controller SN), for NVMe
    /// drives without a Device Serial Number capability (QEMU's, many consumer drives).
    public var nvmeSerial: String? = nil
    /// Another function sits on the same bus (a secondary bus reset would reset it too).
    public var sharesBus = false
    /// The kernel can silence this device's fault reporting at its IOMMU: Corral's kernel half
    /// (`iommu_faults/silenced`, kernel/patches) with a driver that implements it.
    public var faultSilencing = false

    public var isBridge: Bool { (classCode ?? 0) >> 16 == 0x06 }
    /// Who the device is across removal and re-insertion: the PCIe Device Serial Number, else
    /// the NVMe serial.
    public var serial: String? { config.serialNumber ?? nvmeSerial.map { "nvme-\($0)" } }

    /// The engine's view: what this device can do and who owns it.
    public var profile: DeviceProfile {
        var methods = Set(resetMethods)
        if methods.isEmpty {
            if config.functionLevelReset { methods.insert(.flr) }
            if config.advancedFeaturesFLR { methods.insert(.afFLR) }
            if config.powerManagementReset { methods.insert(.pm) }
        }
        var profile = DeviceProfile(
            address: .pci(address), resetMethods: methods, busMasterControl: true,
            transactionsPending: config.transactionsPending != nil, slotPowerControl: slotPower,
            faultSilencing: faultSilencing, driver: driver.map { DriverName($0) }, untrusted: untrusted,
            parent: parent.map { .pci($0) },
            children: children.map { .pci($0) }, sharesBus: sharesBus, serial: serial.map { SerialNumber($0) })
        profile.pciClass = classCode.map(PCIClass.init)
        return profile
    }
}

/// What the host has: PCI functions, Thunderbolt devices, the kernel command line.
public struct Inventory: Sendable {
    public var devices: [PCIDeviceInfo]
    /// Thunderbolt devices and whether each is authorized (`/sys/bus/thunderbolt/devices/*/authorized`).
    public var thunderbolt: [(device: String, authorized: Bool)]
    public var commandLine: String?
    /// Platform (non-PCI) devices with an IOMMU group: DMA masters behind an SMMU.
    public var platformDevices: [(name: String, iommuGroup: Int)] = []
    /// What this load could not read (the PCI device list, or a device's attributes) and so
    /// took from the previous inventory: for the daemon to say.
    public var unreadable: [String] = []

    public func device(_ address: PCIAddress) -> PCIDeviceInfo? { devices.first { $0.address == address } }

    static func configBytes(_ root: SysRoot, _ path: String, _ unreadable: inout Bool) -> [UInt8] {
        guard let bytes = root.readBytes(path) else {
            if errno != ENOENT { unreadable = true }
            return []
        }
        return bytes
    }

    static func reusedConfig(_ known: PCIDeviceInfo?, vendor: UInt32?, device: UInt32?) -> ConfigSpace? {
        guard let known, let vendor, let device, known.vendorID == UInt16(truncatingIfNeeded: vendor),
            known.deviceID == UInt16(truncatingIfNeeded: device)
        else { return nil }
        return known.config
    }

    /// Reads the inventory under `root`. With `previous`, a device whose IDs did not change keeps
    /// its config-space snapshot: reading 4 KiB of config space is slow (the kernel reads it a
    /// dword at a time, trapping to the hypervisor in a VM), and refreshes run every few seconds.
    public static func load(_ root: SysRoot, previous: Inventory? = nil) -> Inventory {
        let base = "/sys/bus/pci/devices"
        var slots: [String: (name: String, power: Bool)] = [:]
        for slot in root.list("/sys/bus/pci/slots") {
            guard let address = root.read("/sys/bus/pci/slots/\(slot)/address") else { continue }
            slots[address] = (slot, root.exists("/sys/bus/pci/slots/\(slot)/power"))
        }
        var devices: [PCIDeviceInfo] = []
        // A listing that failed (EMFILE, EIO) is not an empty bus: every device would look removed.
        guard let names = root.listing(base) else {
            let error = String(cString: strerror(errno))
            var kept = previous ?? Inventory(devices: [], thunderbolt: [], commandLine: root.read("/proc/cmdline"))
            kept.unreadable = ["\(base) (\(error))"]
            return kept
        }
        var unreadableDevices: [String] = []
        for name in names {
            guard let address = try? PCIAddress(parsing: name) else { continue }
            let path = "\(base)/\(name)"
            // A read that failed for a reason other than the attribute's absence: this device's
            // entry is not to be trusted, and the previous one is kept (a transient EMFILE must not
            // look like a driver unbinding or a different device).
            var unreadable = false
            func attribute(_ name: String) -> String? {
                let value = root.read("\(path)/\(name)")
                if value == nil, errno != ENOENT { unreadable = true }
                return value
            }
            func hex(_ name: String) -> UInt32? {
                attribute(name).flatMap {
                    UInt32($0.hasPrefix("0x") ? String($0.dropFirst(2)) : $0, radix: 16)
                }
            }
            let driver: String?
            switch root.link("\(path)/driver") {
            case .name(let name): driver = name
            case .absent: driver = nil
            case .unreadable:
                driver = nil
                unreadable = true
            }
            var parent: PCIAddress?
            if let real = root.realPath(path) {
                let components = real.split(separator: "/")
                if components.count >= 2 { parent = try? PCIAddress(parsing: components[components.count - 2]) }
            }
            let slotKey = String(name.dropLast(2))  // SSSS:BB:DD
            let group = root.linkName("\(path)/iommu_group").flatMap(Int.init)
            let subsystem = [hex("subsystem_vendor"), hex("subsystem_device")].compactMap { $0 }
            devices.append(
                PCIDeviceInfo(
                    address: address, vendorID: hex("vendor").map { UInt16(truncatingIfNeeded: $0) },
                    deviceID: hex("device").map { UInt16(truncatingIfNeeded: $0) },
                    subsystem: subsystem.count == 2
                        ? "\(Hex.padded(subsystem[0], width: 4)):\(Hex.padded(subsystem[1], width: 4))" : nil,
                    classCode: hex("class"), driver: driver,
                    resetMethods: (attribute("reset_method") ?? "").split(separator: " ").compactMap {
                        ResetMethod(rawValue: String($0))
                    },
                    iommuGroup: group,
                    iommuGroupType: group.flatMap { root.read("/sys/kernel/iommu_groups/\($0)/type") },
                    parent: parent, slot: slots[slotKey]?.name, slotPower: slots[slotKey]?.power ?? false,
                    untrusted: root.read("\(path)/removable") == "removable",
                    irq: root.read("\(path)/irq").flatMap { Int($0) },
                    config: reusedConfig(previous?.device(address), vendor: hex("vendor"), device: hex("device"))
                        ?? ConfigSpace(configBytes(root, "\(path)/config", &unreadable))))
            if unreadable {
                unreadableDevices.append(name)
                if let known = previous?.device(address) {
                    devices[devices.count - 1] = known
                    continue
                }
            }
            devices[devices.count - 1].msiIRQs = root.list("\(path)/msi_irqs").compactMap { Int($0) }.sorted()
            devices[devices.count - 1].enabled = attribute("enable").map { $0 != "0" }
            devices[devices.count - 1].faultSilencing = root.exists("\(path)/iommu_faults/silenced")
            if devices[devices.count - 1].driver == "nvme",
                let controller = root.list("\(path)/nvme").first,
                let serial = root.read("\(path)/nvme/\(controller)/serial"), !serial.isEmpty
            {
                devices[devices.count - 1].nvmeSerial = serial
            }
        }
        for index in devices.indices {
            devices[index].children = devices.filter { $0.parent == devices[index].address }.map(\.address)
        }
        for index in devices.indices {
            let address = devices[index].address
            devices[index].sharesBus = devices.contains {
                $0.address != address && $0.address.segment == address.segment && $0.address.bus == address.bus
            }
        }
        let thunderbolt = root.list("/sys/bus/thunderbolt/devices").compactMap { name -> (String, Bool)? in
            guard let value = root.read("/sys/bus/thunderbolt/devices/\(name)/authorized") else { return nil }
            return (name, value != "0")
        }
        let platform = root.list("/sys/bus/platform/devices").compactMap { name -> (String, Int)? in
            root.linkName("/sys/bus/platform/devices/\(name)/iommu_group").flatMap(Int.init).map { (name, $0) }
        }
        var inventory = Inventory(
            devices: devices, thunderbolt: thunderbolt, commandLine: root.read("/proc/cmdline"),
            platformDevices: platform)
        inventory.unreadable = unreadableDevices
        return inventory
    }
}
