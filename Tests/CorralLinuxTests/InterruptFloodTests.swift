import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

/// Handled interrupt storms: a device's own MSI vectors firing far above their normal rate while
/// its driver handles every one (the kernel only catches unhandled ones).
@Suite struct InterruptFloodTests {
    static let nvme = "0000:07:00.0"
    static let nic = "0000:03:00.0"

    /// The NVMe has MSI-X vectors 50 and 51, the NIC 60; both handled (no unhandled count).
    static func machine() -> FakeSysfs {
        let fake = FakeSysfs.machine()
        for irq in [50, 51] { fake.file("/sys/bus/pci/devices/\(nvme)/msi_irqs/\(irq)", "msix") }
        fake.file("/sys/bus/pci/devices/\(nic)/msi_irqs/60", "msix")
        return fake
    }

    static func interrupts(nvme50: UInt64, nvme51: UInt64, nic60: UInt64) -> String {
        """
                   CPU0       CPU1
         50:  \(nvme50 / 2)  \(nvme50 - nvme50 / 2)  IR-PCI-MSIX-0000:07:00.0    0-edge      nvme0q0
         51:  \(nvme51)  0  IR-PCI-MSIX-0000:07:00.0    1-edge      nvme0q1
         60:  \(nic60)  0  IR-PCI-MSIX-0000:03:00.0    0-edge      ixgbe-TxRx-0
        """
    }

    @Test func aVectorAboveTheRateIsAFloodOnItsDevice() {
        let fake = Self.machine()
        var sampler = InterruptSampler()
        sampler.floodRate = 200_000
        let inventory = Inventory.load(fake.sysRoot)
        fake.file("/proc/interrupts", Self.interrupts(nvme50: 1_000, nvme51: 10, nic60: 5_000))
        #expect(sampler.sample(fake.sysRoot, inventory: inventory, at: .seconds(10), logged: [:]).isEmpty)
        // One second later: the NVMe's queue 1 took 450,000, its admin queue 20; the NIC 80,000.
        fake.file("/proc/interrupts", Self.interrupts(nvme50: 1_020, nvme51: 450_010, nic60: 85_000))
        let events = sampler.sample(fake.sysRoot, inventory: inventory, at: .seconds(11), logged: [:])
        let expected = InterruptFlood(
            device: .pci(try! PCIAddress(parsing: Self.nvme)), irqs: [IRQNumber(51)], ratePerSecond: 450_000)
        #expect(events == [.interruptFlood(expected)])
    }

    /// Through the daemon's loop: three samples above the rate in 5 s is a storm, reported (the
    /// class is not contained by default), and nothing is written.
    @Test func aSustainedFloodIsReportedNotContained() {
        let fake = Self.machine()
        var policy = WatcherTests.policy(.enforce)
        policy.interruptFloodRate = 100_000
        var watcher = Watcher(root: fake.sysRoot, policy: policy, startedAt: .zero)
        var nothing = FakeKmsg([])
        var count: UInt64 = 0
        for second in 10...14 {
            fake.file("/proc/interrupts", Self.interrupts(nvme50: 0, nvme51: count, nic60: 0))
            watcher.step(&nothing, now: .seconds(Int64(second)))
            count += 300_000
        }
        let nvme = DeviceAddress.pci(try! PCIAddress(parsing: Self.nvme))
        #expect(watcher.engine.status(of: nvme)?.totals[.interruptFlood] ?? 0 >= 3)
        let report = watcher.decisions.first { $0.subject == .device(nvme) && $0.reason.contains("interrupt-flood") }
        #expect(report != nil, "\(watcher.decisions.map(\.reason))")
        #expect(!watcher.host.log.contains { $0.hasPrefix("did") })
    }

    /// A vector turned on after the inventory was read (a VMM enabling MSI) is found at once.
    @Test func aVectorNewerThanTheInventoryIsStillAttributed() {
        let fake = FakeSysfs.machine()
        var sampler = InterruptSampler()
        let inventory = Inventory.load(fake.sysRoot)  // no msi_irqs yet
        // Before: no line 60 at all (the vector did not exist).
        fake.file("/proc/interrupts", "           CPU0\n 50:  0  IR-PCI-MSIX-0000:07:00.0    0-edge      nvme0q0\n")
        _ = sampler.sample(fake.sysRoot, inventory: inventory, at: .seconds(10), logged: [:])
        // MSI enabled since: the line is new, its whole count is this sample's.
        fake.file("/sys/bus/pci/devices/\(Self.nic)/msi_irqs/60", "msi")
        fake.file("/proc/interrupts", Self.interrupts(nvme50: 0, nvme51: 0, nic60: 300_000))
        let events = sampler.sample(fake.sysRoot, inventory: inventory, at: .seconds(11), logged: [:])
        let expected = InterruptFlood(
            device: .pci(try! PCIAddress(parsing: Self.nic)), irqs: [IRQNumber(60)], ratePerSecond: 300_000)
        #expect(events == [.interruptFlood(expected)])
    }

    /// A legacy line shared by two functions is nobody's alone: no flood is pinned on either.
    @Test func aSharedLegacyLineIsNotAttributed() {
        let fake = FakeSysfs.machine()
        fake.file("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/irq", "40")
        fake.file("/sys/bus/pci/devices/\(Self.nic)/irq", "40")
        var sampler = InterruptSampler()
        let inventory = Inventory.load(fake.sysRoot)
        fake.file("/proc/interrupts", "           CPU0\n 40:        100  IO-APIC  40-fasteoi   amdgpu, ixgbe\n")
        fake.file("/proc/irq/40/spurious", "count 100\nunhandled 0\nlast_unhandled 0 ms\n")
        _ = sampler.sample(fake.sysRoot, inventory: inventory, at: .seconds(10), logged: [:])
        fake.file("/proc/interrupts", "           CPU0\n 40:     900100  IO-APIC  40-fasteoi   amdgpu, ixgbe\n")
        let events = sampler.sample(fake.sysRoot, inventory: inventory, at: .seconds(11), logged: [:])
        #expect(!events.contains { if case .interruptFlood = $0 { true } else { false } })
    }
}
