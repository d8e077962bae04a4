/// Why Corral must never write to a device: only recommend (docs/safety.md, rule (c)).
///
/// Each reason is something whose loss takes the machine, or the operator's way into it, away:
/// the storage the system runs from, the display and console, the network path to the
/// operator, the IOMMUs that do the protecting.
public enum ProtectionReason: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Holds a file system the system needs (`/`, `/boot`, `/var`, swap, Corral's own journal).
    case storage(String)
    /// The display the firmware booted on (`boot_vga` = 1).
    case bootDisplay
    /// Backs a console framebuffer (`/sys/class/graphics/fbN`).
    case console(String)
    /// Carries a default route: cutting it cuts the operator off.
    case defaultRoute(String)
    /// An IOMMU itself (PCI class 0x0806).
    case iommu
    /// Listed in the policy's `protected` devices.
    case policy

    public var description: String {
        switch self {
        // The root file system's and /boot's disk is the machine's boot device: said in words
        // next to a recommendation to stop it (issue 17).
        case .storage(let what):
            "holds \(what)"
                + (what == "/" || what.hasPrefix("/ (") || what == "/boot" || what == "/boot/efi"
                    ? " (the boot device: stopping it stops the machine)" : "")
        case .bootDisplay: "boot display (boot_vga)"
        case .console(let framebuffer): "console framebuffer \(framebuffer)"
        case .defaultRoute(let interface): "default route via \(interface)"
        case .iommu: "an IOMMU"
        case .policy: "protected by the policy"
        }
    }
}

/// The protected devices of a host, each with its reasons.
public struct Protection: Hashable, Sendable {
    public private(set) var reasons: [DeviceAddress: [ProtectionReason]] = [:]

    public init(_ reasons: [DeviceAddress: [ProtectionReason]] = [:]) {
        for (device, list) in reasons { for reason in list { add(device, reason) } }
    }

    public mutating func add(_ device: DeviceAddress, _ reason: ProtectionReason) {
        if reasons[device]?.contains(reason) != true {
            reasons[device, default: []].append(reason)
            reasons[device]?.sort()
        }
    }

    public mutating func merge(_ other: Protection) {
        for (device, list) in other.reasons { for reason in list { add(device, reason) } }
    }

    public var devices: Set<DeviceAddress> { Set(reasons.keys) }
    public func contains(_ device: DeviceAddress) -> Bool { reasons[device] != nil }
    public var isEmpty: Bool { reasons.isEmpty }
    public var count: Int { reasons.count }

    /// "holds /, default route via eth0".
    public func explain(_ device: DeviceAddress) -> String {
        (reasons[device] ?? []).map(\.description).joined(separator: ", ")
    }
}

extension Action {
    /// Every device a write of this action reaches, the target first.
    ///
    /// A function-level action reaches its function; the same action on a bridge or port
    /// reaches everything below it (its bus master gates their DMA upstream, its reset and
    /// removal take the hierarchy below with it). A secondary bus reset and a slot power cycle
    /// reach everything on the bus below the parent port. So a write to a port above the root
    /// disk reaches the root disk, and is refused like a write to the disk itself.
    public func reach(
        parent: (DeviceAddress) -> DeviceAddress?, children: (DeviceAddress) -> [DeviceAddress]
    ) -> [DeviceAddress] {
        guard changesDevice, let target else { return [] }
        func subtree(_ root: DeviceAddress) -> [DeviceAddress] {
            var out = [root]
            var index = 0
            while index < out.count, out.count < 4096 {
                for child in children(out[index]) where !out.contains(child) { out.append(child) }
                index += 1
            }
            return out
        }
        switch unwrapped {
        case .reset(_, .bus), .powerCycleSlot:
            // Everything on the bus below the port (the kernel refuses a bus reset with
            // siblings, but a slot holds every function of the device).
            guard let port = parent(target) else { return subtree(target) }
            return [target] + subtree(port).dropFirst().filter { $0 != target }
        case .rescan:
            return []
        default:
            return subtree(target)
        }
    }
}
