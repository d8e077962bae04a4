import CorralCore

/// Samples `/proc/interrupts` and `/proc/irq/N/spurious`.
///
/// Two things the log cannot say: how many faults an IOMMU really raised (VT-d raises one
/// `dmar0` interrupt per recorded fault while its log lines are rate-limited to 10 per 5 s —
/// measured on a real 6.1 kernel: 6 of 60 logged; shared/lab/qemu/FINDINGS.md), and a legacy
/// line firing with nobody handling it, before the kernel's own 100,000-interrupt verdict.
public struct InterruptSampler {
    /// Unhandled interrupts per second on one line that make it a storm.
    public var unhandledStormRate: UInt64 = 1_000
    /// Interrupts per second on one of a device's own vectors that make a sample an
    /// `interrupt-flood` (`Policy.interruptFloodRate`).
    public var floodRate: UInt64 = 200_000
    private var lastCounts: [Int: UInt64] = [:]
    private var lastUnhandled: [Int: UInt64] = [:]
    private var lastAt: Instant?
    /// Devices the log named per vendor, and when (the kernel's ratelimit window is 5 s).
    private var recentLoggers: [IOMMUVendor: [PCIAddress: Instant]] = [:]
    public static let attributionWindow: Duration = .seconds(5)
    /// Recent loggers whose Bus Master Enable was clear at the last sample.
    private var busMasterOffAtLastSample: Set<PCIAddress> = []

    static func busMasterOff(_ device: PCIAddress, _ root: SysRoot) -> Bool {
        guard let bytes = root.readBytes("/sys/bus/pci/devices/\(device)/config", limit: 8) else { return true }
        return ConfigSpace(bytes).busMaster == false
    }

    public init() {}

    /// One `/proc/interrupts` line: IRQ number, total over CPUs, and its action names.
    static func parse(_ text: String) -> [(irq: Int, count: UInt64, names: String)] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let label = fields.first, label.hasSuffix(":"), let irq = Int(label.dropLast()) else { return nil }
            var count: UInt64 = 0
            var index = 1
            while index < fields.count, let value = UInt64(fields[index]) {
                count &+= value
                index += 1
            }
            // chip, hwirq-type, then the action names.
            let names = fields.count > index + 2 ? fields[(index + 2)...].joined(separator: " ") : ""
            return (irq, count, names)
        }
    }

    /// The IOMMU vendor whose fault interrupt this line is, by its action name.
    static func iommuVendor(_ names: String) -> IOMMUVendor? {
        if names.hasPrefix("dmar") { return .intelVTd }
        if names.contains("AMD-Vi") || names.hasPrefix("amd_iommu") { return .amdVi }
        if names.contains("arm-smmu-v3-evtq") { return .armSMMUv3 }
        if names.contains("arm-smmu-context-fault") { return .armSMMU }
        return nil
    }

    /// Samples at `now`. `logged` is the faults per vendor and device the log showed since the
    /// last sample; what the interrupts counted beyond that is what the log hid. Hidden faults
    /// are counted against a device only when the log named no other device on that IOMMU in
    /// the ratelimit window (no guess); otherwise they are reported as suppressed, a lower
    /// bound the engine never contains on. Devices in `exactlyCounted` (the kernel half's
    /// per-device counts, `IOMMUFaultCounters`) are never candidates: their counts are exact.
    public mutating func sample(
        _ root: SysRoot, inventory: Inventory, at now: Instant, logged: [IOMMUVendor: [PCIAddress: UInt64]],
        exactlyCounted: Set<PCIAddress> = []
    ) -> [DeviceEvent] {
        for (vendor, devices) in logged {
            for device in devices.keys { recentLoggers[vendor, default: [:]][device] = now }
        }
        for vendor in recentLoggers.keys {
            recentLoggers[vendor] = recentLoggers[vendor]?.filter { now - $0.value <= Self.attributionWindow }
        }
        // A function whose Bus Master Enable was already clear at the previous sample cannot
        // have made a fault since (PCIe Base 6.0 §7.5.1.1.3: no memory requests while clear).
        // Taking it out of the candidates is what lets a contained storm not hide a quiet
        // device's faults once the kernel's ratelimit has dropped their lines.
        let loggers = Set(recentLoggers.values.flatMap(\.keys))
        let offNow = Set(loggers.filter { Self.busMasterOff($0, root) })
        let silentSinceLastSample = offNow.intersection(busMasterOffAtLastSample)
        busMasterOffAtLastSample = offNow
        guard let text = root.read("/proc/interrupts") else { return [] }
        let lines = Self.parse(text)
        defer { lastAt = now }
        var events: [DeviceEvent] = []
        var raised: [IOMMUVendor: UInt64] = [:]
        let previousCounts = lastCounts
        var unhandledLines: Set<Int> = []
        for line in lines {
            let previous = lastCounts[line.irq]
            lastCounts[line.irq] = line.count
            if let vendor = Self.iommuVendor(line.names), let previous, line.count > previous {
                raised[vendor, default: 0] += line.count - previous
            }
            // Only lines that fired since the last look can have new unhandled interrupts.
            guard previous.map({ line.count > $0 }) ?? true,
                let spurious = root.read("/proc/irq/\(line.irq)/spurious")
            else { continue }
            let unhandled =
                spurious.split(separator: "\n").first { $0.hasPrefix("unhandled") }
                .flatMap { $0.split(separator: " ").last.flatMap { UInt64($0) } } ?? 0
            let before = lastUnhandled[line.irq]
            lastUnhandled[line.irq] = unhandled
            guard let before, let lastAt, unhandled > before, now > lastAt else { continue }
            unhandledLines.insert(line.irq)
            let rate = (unhandled - before) * 1_000_000_000 / UInt64((now - lastAt).nanosecondsClamped)
            if rate >= unhandledStormRate {
                let devices = Self.suspects(on: line.irq, root, inventory).map { DeviceAddress.pci($0) }
                events.append(
                    .irqStorm(IRQStorm(irq: IRQNumber(UInt32(line.irq)), devices: devices, ratePerSecond: rate)))
            }
        }
        events += floods(
            lines.filter { !unhandledLines.contains($0.irq) }, previous: previousCounts, inventory: inventory,
            root: root, at: now)
        for (vendor, count) in raised {
            let seen = logged[vendor]?.values.reduce(0, +) ?? 0
            guard count > seen else { continue }
            let hidden = count - seen
            let candidates = (recentLoggers[vendor] ?? [:]).keys.filter {
                !silentSinceLastSample.contains($0) && !exactlyCounted.contains($0)
            }
            if candidates.count == 1, let device = candidates.first {
                events.append(
                    .dmaFault(
                        DMAFault(
                            source: .requester(segment: device.segment, device.requesterID), vendor: vendor,
                            kind: .other,
                            count: hidden)))
            } else {
                let function =
                    vendor == .intelVTd
                    ? "dmar_fault" : vendor == .amdVi ? "amd_iommu_int_thread" : "arm_smmu_evtq_thread"
                events.append(
                    .messagesSuppressed(SuppressedMessages(function: function, count: hidden, vendor: vendor)))
            }
        }
        return events
    }

    /// Devices whose own vectors fired at `floodRate` or more since the last sample, handled
    /// (the unhandled ones are `irq-storm`s): each vector is a device's alone when it is one of
    /// its MSI/MSI-X vectors (`msi_irqs/`), or its legacy line when no other function shares it.
    func floods(
        _ lines: [(irq: Int, count: UInt64, names: String)], previous: [Int: UInt64], inventory: Inventory,
        root: SysRoot, at now: Instant
    ) -> [DeviceEvent] {
        guard let lastAt, now > lastAt else { return [] }
        let elapsed = UInt64((now - lastAt).nanosecondsClamped)
        var rates: [Int: UInt64] = [:]
        for line in lines {
            // A line that did not exist at the last sample was just created (MSI enabled): it
            // started from 0 since then, so its whole count is this sample's (a lower bound on
            // its rate, never a higher one).
            let before = previous[line.irq] ?? 0
            guard line.count > before else { continue }
            rates[line.irq] =
                (line.count - before).multipliedFullWidth(by: 1_000_000_000).high == 0
                ? (line.count - before) * 1_000_000_000 / elapsed : .max
        }
        var sharers: [Int: Int] = [:]
        for device in inventory.devices { if let irq = device.irq { sharers[irq, default: 0] += 1 } }
        // A vector enabled since the inventory was read (a driver or a VMM just turned MSI on):
        // a hot line no device claims is looked for in each device's msi_irqs/ now, not at the
        // next inventory refresh (seconds later).
        let claimed = Set(inventory.devices.flatMap(\.msiIRQs))
        var late: [PCIAddress: [Int]] = [:]
        for (irq, rate) in rates where rate >= floodRate && !claimed.contains(irq) {
            if let owner = inventory.devices.first(where: {
                root.exists("/sys/bus/pci/devices/\($0.address)/msi_irqs/\(irq)")
            }) {
                late[owner.address, default: []].append(irq)
            }
        }
        var events: [DeviceEvent] = []
        for device in inventory.devices {
            var vectors = device.msiIRQs + (late[device.address] ?? [])
            if vectors.isEmpty, let irq = device.irq, sharers[irq] == 1 { vectors = [irq] }
            let hot = vectors.compactMap { irq in rates[irq].map { (irq, $0) } }.filter { $0.1 >= floodRate }
                .sorted { $0.1 > $1.1 }
            guard let busiest = hot.first else { continue }
            events.append(
                .interruptFlood(
                    InterruptFlood(
                        device: .pci(device.address), irqs: hot.map { IRQNumber(UInt32($0.0)) },
                        ratePerSecond: busiest.1)))
        }
        return events
    }

    /// The functions on a legacy line, most likely source first: the one whose PCI Status
    /// register says its INTx is asserted (Interrupt Status, bit 3; PCI Local Bus 3.0 §6.2.3),
    /// then the ones no driver handles (nobody acknowledges their interrupt), then the rest.
    /// Read fresh from config space: the inventory's snapshot is seconds old.
    static func suspects(on irq: Int, _ root: SysRoot, _ inventory: Inventory) -> [PCIAddress] {
        let sharing = inventory.devices.filter { $0.irq == irq }
        func asserted(_ device: PCIDeviceInfo) -> Bool {
            guard let status = root.readBytes("/sys/bus/pci/devices/\(device.address)/config", limit: 8),
                status.count >= 8
            else { return false }
            return status[6] & 0x08 != 0
        }
        return sharing.map { device in (device, asserted(device)) }
            .sorted { lhs, rhs in
                if lhs.1 != rhs.1 { return lhs.1 }
                if (lhs.0.driver == nil) != (rhs.0.driver == nil) { return lhs.0.driver == nil }
                return lhs.0.address < rhs.0.address
            }
            .map(\.0.address)
    }
}
