import CorralCore

/// Devices Corral must never act on, found on the host, each with its reason (docs/safety.md,
/// rule (c)). The policy's `protected` list is added on top, and for bus-level actions every
/// port above a protected device is covered through ``CorralCore/Action/reach(parent:children:)``.
///
/// - Storage: the block devices behind `/`, `/boot`, `/boot/efi`, `/var`, `/usr`, every active
///   swap and the file system of Corral's own journal, resolved as the kernel sees them:
///   `/proc/self/mountinfo` (major:minor) → `/sys/dev/block/M:m` → its `slaves/`, recursively
///   (LVM, md, dm-crypt), loop devices' backing files, and NVMe multipath heads to their
///   controllers → the PCI function of each controller. `root=` on the command line
///   (`/dev/...`) is taken as well. `root=UUID=...` needs no resolving: the mount says it all.
/// - The boot display (`boot_vga` = 1) and every PCI device behind a framebuffer
///   (`/sys/class/graphics/fbN/device`).
/// - The network interfaces of the default routes (`/proc/net/route`, `/proc/net/ipv6_route`),
///   through bonds, bridges and VLANs (`lower_*`, `brif/`) to their PCI functions.
/// - The IOMMUs themselves (PCI class 0x0806).
public enum ProtectedDevices {
    /// Mount points whose storage the system needs to run and to be repaired.
    public static let systemMounts = ["/", "/boot", "/boot/efi", "/var", "/usr"]

    public static func detect(_ root: SysRoot, _ inventory: Inventory, paths: [String] = []) -> Protection {
        var protection = Protection()
        for device in inventory.devices where (device.classCode ?? 0) >> 8 == 0x0806 {
            protection.add(.pci(device.address), .iommu)
        }
        storage(root, inventory, paths: paths, into: &protection)
        display(root, inventory, into: &protection)
        network(root, into: &protection)
        return protection
    }

    /// The deepest PCI function on a sysfs device path (`/sys/devices/pci0000:00/0000:00:1d.0/
    /// 0000:07:00.0/nvme/...` → `0000:07:00.0`): the controller of whatever the path ends in.
    static func deepestFunction(_ path: String) -> PCIAddress? {
        path.split(separator: "/").compactMap { try? PCIAddress(parsing: $0) }.last
    }

    // MARK: - Storage

    /// One line of `/proc/self/mountinfo` (proc(5)): `36 35 98:0 /mnt1 /mnt2 rw ... - ext3 /dev/root rw`.
    struct Mount {
        var device: String  // major:minor
        var point: String
        var source: String
    }

    static func mounts(_ root: SysRoot) -> [Mount] {
        guard let text = root.read("/proc/self/mountinfo") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            return Mount(device: String(fields[2]), point: unescape(fields[4]), source: String(fields[dash + 2]))
        }
    }

    /// mountinfo writes space, tab, newline and backslash in paths as octal escapes (`\040`).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x5C, index + 3 < bytes.count,
                let value = UInt8(String(decoding: bytes[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                out.append(value)
                index += 4
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The mount holding `path`: the last of the longest mount points that contain it (a later
    /// mount over the same point hides the earlier one).
    static func mount(holding path: String, in mounts: [Mount]) -> Mount? {
        var best: Mount?
        for mount in mounts {
            let point = mount.point
            let contains =
                point == "/" || path == point || path.hasPrefix(point.hasSuffix("/") ? point : point + "/")
            guard contains else { continue }
            if best.map({ point.count >= $0.point.count }) ?? true { best = mount }
        }
        return best
    }

    static func storage(_ root: SysRoot, _ inventory: Inventory, paths: [String], into protection: inout Protection) {
        let all = mounts(root)
        var wanted: [(what: String, mount: Mount)] = []
        for point in systemMounts {
            if let mount = all.last(where: { $0.point == point }) { wanted.append((point, mount)) }
        }
        for path in paths {
            if let mount = mount(holding: path, in: all) { wanted.append(("\(path) (Corral's journal)", mount)) }
        }
        for (what, mount) in wanted {
            for function in functions(ofBlock: "/sys/dev/block/\(mount.device)", root, inventory) {
                protection.add(.pci(function), .storage(what))
            }
        }
        // Swap: a partition or device (/dev/...), or a file on some file system.
        if let swaps = root.read("/proc/swaps") {
            for line in swaps.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 2 else { continue }
                let name = unescape(fields[0])
                let block: String?
                if fields[1] == "file" {
                    block = mount(holding: name, in: all).map { "/sys/dev/block/\($0.device)" }
                } else {
                    block = blockPath(ofDevice: name, root)
                }
                for function in block.map({ functions(ofBlock: $0, root, inventory) }) ?? [] {
                    protection.add(.pci(function), .storage("swap \(name)"))
                }
            }
        }
        // `root=/dev/...` on the kernel command line (before anything is mounted, or a root
        // that mountinfo shows only as /dev/root).
        if let argument = inventory.commandLine?.split(separator: " ").first(where: { $0.hasPrefix("root=/dev/") }),
            let block = blockPath(ofDevice: String(argument.dropFirst("root=".count)), root)
        {
            for function in functions(ofBlock: block, root, inventory) {
                protection.add(.pci(function), .storage("/ (\(argument))"))
            }
        }
    }

    /// `/dev/nvme0n1p2`, `/dev/mapper/vg-root`, `/dev/dm-0` → its `/sys/class/block/NAME`.
    static func blockPath(ofDevice device: String, _ root: SysRoot) -> String? {
        let resolved = root.realPath(device) ?? device
        guard resolved.hasPrefix("/dev/") else { return nil }
        let name = String(resolved.dropFirst("/dev/".count))
        guard !name.isEmpty, !name.contains("/") || name.hasPrefix("mapper/") else { return nil }
        return "/sys/class/block/\(name.replacingOccurrences(of: "/", with: "!"))"
    }

    /// The PCI functions whose controllers serve the block device at `path` (a sysfs path):
    /// the deepest PCI function of its device path, or of every device below it through
    /// `slaves/` (dm, md, LVM, dm-crypt), a loop device's backing file, an NVMe multipath
    /// head's controllers.
    static func functions(ofBlock path: String, _ root: SysRoot, _ inventory: Inventory) -> [PCIAddress] {
        var out: [PCIAddress] = []
        var seen: Set<String> = []
        var queue = [path]
        while let next = queue.popLast(), seen.count < 256 {
            guard let real = root.realPath(next), seen.insert(real).inserted else { continue }
            if let controller = deepestFunction(real) {
                if !out.contains(controller) { out.append(controller) }
                continue
            }
            // A partition's slaves are its disk's: look at the disk (the parent directory) too.
            for directory in [real, String(real[..<(real.lastIndex(of: "/") ?? real.endIndex)])] {
                for slave in root.list("\(directory)/slaves") { queue.append("/sys/class/block/\(slave)") }
            }
            if let backing = root.read("\(real)/loop/backing_file"),
                let mount = mount(holding: backing, in: mounts(root))
            {
                queue.append("/sys/dev/block/\(mount.device)")
            }
            // NVMe multipath: /sys/devices/virtual/nvme-subsystem/nvme-subsysN/nvmeXnY; its
            // controllers are the subsystem's nvmeN entries.
            if let range = real.range(of: "/nvme-subsystem/") {
                let subsystem = real[range.upperBound...].split(separator: "/").first.map(String.init) ?? ""
                let base = String(real[..<range.upperBound]) + subsystem
                for entry in root.list(base) where entry.hasPrefix("nvme") && entry.dropFirst(4).allSatisfy(\.isNumber)
                {
                    queue.append("\(base)/\(entry)")
                }
            }
        }
        return out
    }

    // MARK: - Display

    static func display(_ root: SysRoot, _ inventory: Inventory, into protection: inout Protection) {
        for device in inventory.devices where root.read("/sys/bus/pci/devices/\(device.address)/boot_vga") == "1" {
            protection.add(.pci(device.address), .bootDisplay)
        }
        for framebuffer in root.list("/sys/class/graphics") where framebuffer.hasPrefix("fb") {
            guard let real = root.realPath("/sys/class/graphics/\(framebuffer)"),
                let function = deepestFunction(real)
            else { continue }
            protection.add(.pci(function), .console(framebuffer))
        }
    }

    // MARK: - Network

    /// Interfaces of the default routes: IPv4 destination and mask 0, IPv6 `::/0`.
    static func defaultRouteInterfaces(_ root: SysRoot) -> [String] {
        var interfaces: [String] = []
        for line in (root.read("/proc/net/route") ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000" else { continue }
            interfaces.append(String(fields[0]))
        }
        for line in (root.read("/proc/net/ipv6_route") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10, fields[0].allSatisfy({ $0 == "0" }), fields[1] == "00" else { continue }
            interfaces.append(String(fields[9]))
        }
        var unique: [String] = []
        for interface in interfaces where interface != "lo" && !unique.contains(interface) { unique.append(interface) }
        return unique
    }

    static func network(_ root: SysRoot, into protection: inout Protection) {
        for interface in defaultRouteInterfaces(root) {
            var queue = [interface]
            var seen: Set<String> = []
            while let name = queue.popLast(), seen.count < 64 {
                guard seen.insert(name).inserted else { continue }
                let base = "/sys/class/net/\(name)"
                if let real = root.realPath("\(base)/device"),
                    let function = deepestFunction(real)
                {
                    protection.add(.pci(function), .defaultRoute(interface))
                }
                // A bond, VLAN or macvlan names its lower devices; a bridge its ports.
                for entry in root.list(base) where entry.hasPrefix("lower_") {
                    queue.append(String(entry.dropFirst(6)))
                }
                queue += root.list("\(base)/brif")
            }
        }
    }
}
