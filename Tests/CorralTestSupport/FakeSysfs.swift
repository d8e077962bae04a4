import CorralCore
import CorralLinux
import Foundation

/// Builds fake `sys/`, `proc/`, `dev/` trees in a temporary folder, shaped like the kernel's;
/// the folder goes away with the value (keep it alive while a test reads it).
public final class FakeSysfs {
    public let root: String
    public var sysRoot: SysRoot { SysRoot(root) }

    public init() {
        root = TemporaryPath.make("sysfs")
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    public func file(_ path: String, _ text: String) {
        let full = root + path
        try? FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full, contents: Data(text.utf8))
    }

    /// Removes a file (an attribute an older kernel does not have).
    public func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: root + path)
    }

    public func bytes(_ path: String, _ bytes: [UInt8]) {
        let full = root + path
        try? FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full, contents: Data(bytes))
    }

    public func link(_ path: String, to target: String) {
        let full = root + path
        try? FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: root + target)
    }

    /// A 4 KiB config space: IDs, command (bus master on), PCIe capability with FLR and
    /// Transactions Pending, an optional Device Serial Number.
    public static func config(
        vendor: UInt16, device: UInt16, pcie: Bool = true, flr: Bool = true, serial: UInt64? = nil,
        transactionsPending: Bool = false, pcieType: UInt8 = 0, secondaryBus: UInt8? = nil
    ) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 4096)
        func put16(_ offset: Int, _ value: UInt16) {
            bytes[offset] = UInt8(value & 0xFF)
            bytes[offset + 1] = UInt8(value >> 8)
        }
        func put32(_ offset: Int, _ value: UInt32) {
            for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
        }
        put16(0, vendor)
        put16(2, device)
        put16(4, 0x0006)  // memory space + bus master
        if pcie {
            put16(6, 0x0010)  // capabilities list
            bytes[0x34] = 0x40
            bytes[0x40] = 0x10
            bytes[0x41] = 0x00
            put16(0x42, UInt16(pcieType) << 4 | 0x2)  // PCIe capability version 2, port type
            put32(0x44, flr ? 1 << 28 : 0)
            put16(0x4A, transactionsPending ? 0x20 : 0)
        }
        if let secondaryBus {
            bytes[0x0E] = 0x01  // type 1 header: a bridge
            bytes[0x19] = secondaryBus
        }
        if let serial {
            put32(0x100, 0x0001_0003)
            put32(0x104, UInt32(truncatingIfNeeded: serial))
            put32(0x108, UInt32(truncatingIfNeeded: serial >> 32))
        }
        return bytes
    }

    /// A PCI function at `path` under /sys/devices, linked from /sys/bus/pci/devices.
    public func pci(
        _ address: String, under parentPath: String, driver: String?, classCode: String, vendor: UInt16 = 0x8086,
        device: UInt16 = 0x10fb, resetMethod: String? = nil, group: Int? = nil, config: [UInt8]? = nil,
        removable: Bool = false
    ) -> String {
        let path = "\(parentPath)/\(address)"
        file("\(path)/vendor", "0x" + String(vendor, radix: 16))
        file("\(path)/device", "0x" + String(device, radix: 16))
        file("\(path)/class", classCode)
        file("\(path)/subsystem_vendor", "0x8086")
        file("\(path)/subsystem_device", "0x000c")
        file("\(path)/irq", "16")
        if let resetMethod { file("\(path)/reset_method", resetMethod) }
        file("\(path)/reset", "")
        file("\(path)/remove", "")
        if removable { file("\(path)/removable", "removable") }
        bytes("\(path)/config", config ?? Self.config(vendor: vendor, device: device))
        if let driver {
            file("/sys/bus/pci/drivers/\(driver)/unbind", "")
            link("\(path)/driver", to: "/sys/bus/pci/drivers/\(driver)")
        }
        if let group {
            file("/sys/kernel/iommu_groups/\(group)/type", "DMA")
            link("\(path)/iommu_group", to: "/sys/kernel/iommu_groups/\(group)")
        }
        link("/sys/bus/pci/devices/\(address)", to: path)
        return path
    }

    /// A realistic machine: root ports, a switch with an NVMe (DSN, FLR, slot power), a GPU, a NIC,
    /// a PCIe-to-PCI bridge with a conventional device behind it, a Thunderbolt device behind an
    /// external port, a platform DMA engine behind an SMMU.
    public static func machine() -> FakeSysfs {
        let fake = FakeSysfs()
        let host = "/sys/devices/pci0000:00"
        let port1 = fake.pci("0000:00:01.0", under: host, driver: "pcieport", classCode: "0x060400")
        _ = fake.pci(
            "0000:01:00.0", under: port1, driver: "amdgpu", classCode: "0x030000", vendor: 0x1002, device: 0x73bf,
            resetMethod: "flr bus", group: 3)
        let port2 = fake.pci("0000:00:1c.0", under: host, driver: "pcieport", classCode: "0x060400")
        _ = fake.pci(
            "0000:03:00.0", under: port2, driver: "ixgbe", classCode: "0x020000", resetMethod: "flr bus", group: 12,
            config: config(vendor: 0x8086, device: 0x10fb, serial: 0x001b_21ff_fe8a_1000))
        let port3 = fake.pci("0000:00:1d.0", under: host, driver: "pcieport", classCode: "0x060400")
        let upstream = fake.pci("0000:05:00.0", under: port3, driver: "pcieport", classCode: "0x060400")
        let downstream = fake.pci("0000:06:01.0", under: upstream, driver: "pcieport", classCode: "0x060400")
        _ = fake.pci(
            "0000:07:00.0", under: downstream, driver: "nvme", classCode: "0x010802", vendor: 0x144d, device: 0xa808,
            resetMethod: "flr", group: 14, config: config(vendor: 0x144d, device: 0xa808, serial: 0x0025_3856_81b0_2a11)
        )
        fake.file("/sys/bus/pci/slots/7/address", "0000:07:00")
        fake.file("/sys/bus/pci/slots/7/power", "1")
        let bridge = fake.pci(
            "0000:08:00.0", under: "\(host)/0000:00:1e.0", driver: nil, classCode: "0x060401", group: 20)
        _ = fake.pci(
            "0000:09:01.0", under: bridge, driver: nil, classCode: "0x048000", group: 20,
            config: config(vendor: 0x109e, device: 0x036e, pcie: false))
        _ = fake.pci(
            "0000:0a:00.0", under: "\(host)/0000:00:07.0", driver: "igc", classCode: "0x020000", resetMethod: "flr",
            group: 30, removable: true)
        fake.file("/sys/bus/thunderbolt/devices/0-1/authorized", "1")
        fake.file("/sys/kernel/iommu_groups/40/type", "DMA")
        fake.link("/sys/bus/platform/devices/fd5c0000.dma/iommu_group", to: "/sys/kernel/iommu_groups/40")
        fake.file("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/nvme0n1p2 intel_iommu=on iommu=strict")
        return fake
    }
}
