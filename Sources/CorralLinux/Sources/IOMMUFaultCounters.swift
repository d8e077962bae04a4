import CorralCore
import Foundation

/// Polls the per-device DMA fault counts of Corral's kernel half (`kernel/patches`,
/// docs/kernel.md): `/sys/bus/pci/devices/D/iommu_faults/<kind>`, counted by the IOMMU core for
/// every fault the driver took, printed or not. What they counted beyond what the log showed in
/// the interval is fed to the engine with its kind — never twice — so a device's rate is exact
/// instead of inferred from its IOMMU's fault interrupts (`InterruptSampler`).
///
/// On a kernel without the series there are no such files and nothing is read beyond one
/// `total` look per device.
public struct IOMMUFaultCounters {
    /// The kernel's files (`enum iommu_fault_kind`, include/linux/iommu.h of the series) and the
    /// engine's kinds.
    static let kinds: [(file: String, kind: DMAFaultKind)] = [
        ("not_present", .notPresent), ("write_to_read_only", .writeToReadOnly),
        ("read_from_write_only", .readFromWriteOnly), ("execute", .execute),
        ("secure_on_non_secure", .secureOnNonSecure), ("address_size", .addressSize),
        ("configuration", .configuration), ("access_flag", .accessFlag), ("other", .other),
    ]
    private var lastTotal: [PCIAddress: UInt64] = [:]
    /// When the counts were last read (the daemon's clock).
    public private(set) var lastPoll: Instant?
    /// Devices the kernel counts exactly: no fault of theirs is hidden from these counts.
    public var counting: Set<PCIAddress> { Set(lastTotal.keys) }
    private var last: [PCIAddress: [DMAFaultKind: UInt64]] = [:]

    public init() {}

    /// What one poll found.
    public struct Poll: Equatable {
        /// Faults beyond the log's, per device and kind.
        public var events: [DeviceEvent] = []
        /// When they happened at the earliest: the previous poll. A count says how many, not
        /// when; fed at this time, faults from before an action taken since the previous poll
        /// are never taken as evidence that the action did not hold (a device silenced
        /// mid-interval is not escalated on the faults that made it be silenced). Faults that
        /// really go on are at the next poll, one interval later.
        public var since: Instant?
        /// Every fault counted since the last poll, per IOMMU vendor and device (what the
        /// interrupt sampler must not count again).
        public var counted: [IOMMUVendor: [PCIAddress: UInt64]] = [:]
    }

    /// The IOMMU vendor of a unit, by the name the kernel gives it in `/sys/class/iommu`
    /// (`dmar0`: `intel_iommu_init()`; `ivhd0`: `iommu_init_pci()`; `smmu3.0x…`:
    /// `arm_smmu_device_probe()`; `smmu.0x…`: arm-smmu.c).
    static func vendor(ofUnit name: String) -> IOMMUVendor? {
        if name.hasPrefix("dmar") { return .intelVTd }
        if name.hasPrefix("ivhd") { return .amdVi }
        if name.hasPrefix("smmu3.") { return .armSMMUv3 }
        if name.hasPrefix("smmu.") { return .armSMMU }
        return nil
    }

    static func count(_ root: SysRoot, _ path: String) -> UInt64? {
        root.read(path).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// `logged`: DMA faults per device and kind the log reported since the last poll.
    public mutating func poll(
        _ root: SysRoot, inventory: Inventory, at now: Instant, logged: [PCIAddress: [DMAFaultKind: UInt64]]
    ) -> Poll {
        var result = Poll(since: lastPoll)
        lastPoll = now
        for device in inventory.devices {
            let directory = "/sys/bus/pci/devices/\(device.address)/iommu_faults"
            guard let total = Self.count(root, "\(directory)/total") else { continue }
            let previousTotal = lastTotal[device.address]
            lastTotal[device.address] = total
            // The first look is the baseline: counts from before the daemon are history.
            guard let previousTotal else {
                last[device.address] = kindCounts(root, directory)
                continue
            }
            guard total > previousTotal else { continue }
            let now = kindCounts(root, directory)
            let before = last[device.address] ?? [:]
            last[device.address] = now
            // (a unit whose name says no vendor: its counts are not fed, the log still is)
            guard let unit = root.linkName("/sys/bus/pci/devices/\(device.address)/iommu"),
                let vendor = Self.vendor(ofUnit: unit)
            else { continue }
            result.counted[vendor, default: [:]][device.address] = total - previousTotal
            let seen = logged[device.address] ?? [:]
            for (_, kind) in Self.kinds {
                let counted = (now[kind] ?? 0) &- (before[kind] ?? 0)
                guard counted > 0, counted <= total - previousTotal else { continue }
                let hidden = counted - min(counted, seen[kind] ?? 0)
                guard hidden > 0 else { continue }
                result.events.append(
                    .dmaFault(
                        DMAFault(
                            source: .requester(segment: device.address.segment, device.address.requesterID),
                            vendor: vendor, kind: kind, count: hidden)))
            }
        }
        return result
    }

    func kindCounts(_ root: SysRoot, _ directory: String) -> [DMAFaultKind: UInt64] {
        var counts: [DMAFaultKind: UInt64] = [:]
        for (file, kind) in Self.kinds { counts[kind] = Self.count(root, "\(directory)/\(file)") ?? 0 }
        return counts
    }
}
