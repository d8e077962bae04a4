import CorralCore

/// Devices Corral must never act on, found on the host: the one holding the root filesystem
/// (from `root=` on the kernel command line, through `/sys/class/block`), and the IOMMUs
/// themselves (PCI class 0x0806). The policy's `protected` list is added on top.
public enum ProtectedDevices {
    public static func detect(_ root: SysRoot, _ inventory: Inventory) -> Set<DeviceAddress> {
        var protected: Set<DeviceAddress> = []
        for device in inventory.devices where (device.classCode ?? 0) >> 8 == 0x0806 {
            protected.insert(.pci(device.address))
        }
        if let argument = inventory.commandLine?.split(separator: " ").first(where: { $0.hasPrefix("root=/dev/") }) {
            let block = String(argument.dropFirst("root=/dev/".count))
            if let path = root.realPath("/sys/class/block/\(block)") {
                // The deepest PCI function on the path is the controller of that disk.
                let functions = path.split(separator: "/").compactMap { try? PCIAddress(parsing: $0) }
                if let controller = functions.last { protected.insert(.pci(controller)) }
            }
        }
        return protected
    }
}
