import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

@Suite struct InterruptSamplerTests {
    @Test func parsesProcInterrupts() {
        let text = """
                       CPU0       CPU1
             16:        100        200   IO-APIC  16-fasteoi   ehci_hcd:usb1, snd_hda_intel
             24:         60          0  DMAR-MSI   0-edge      dmar0
            NMI:          0          0   Non-maskable interrupts
            """
        let lines = InterruptSampler.parse(text)
        #expect(lines.count == 2)
        #expect(lines[0].irq == 16 && lines[0].count == 300 && lines[0].names == "ehci_hcd:usb1, snd_hda_intel")
        #expect(lines[1].irq == 24 && lines[1].count == 60 && InterruptSampler.iommuVendor(lines[1].names) == .intelVTd)
    }

    /// The kernel logs 10 VT-d faults per 5 s; the dmar0 interrupt count says how many there were.
    @Test func rateLimitedVTdStormIsFoundFromTheInterruptCount() {
        let fake = FakeSysfs.machine()
        fake.file("/proc/interrupts", "           CPU0\n 24:          0  DMAR-MSI   0-edge      dmar0\n")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        // One second later: 6 lines in the log, 60,000 interrupts.
        fake.file("/proc/interrupts", "           CPU0\n 24:      60000  DMAR-MSI   0-edge      dmar0\n")
        var kmsg = FakeKmsg(WatcherTests.storm(count: 6, start: 10.5))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(watcher.decisions.contains { $0.action != nil && $0.reason.contains("0000:03:00.0") })
        #expect(watcher.host.log.contains("did clear bus master of 0000:03:00.0"))
    }

    /// A quiet machine is sampled every 5 s; a kernel message makes the watcher active, and the
    /// counters are then sampled every second.
    @Test func quietMachineIsSampledLessOftenUntilTheKernelSpeaks() {
        let fake = FakeSysfs.machine()
        fake.file("/proc/interrupts", "           CPU0\n 40:        100  IO-APIC  40-fasteoi   amdgpu\n")
        fake.file("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/irq", "40")
        fake.file("/proc/irq/40/spurious", "count 100\nunhandled 0\nlast_unhandled 0 ms\n")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        watcher.idleCounterInterval = .seconds(5)
        watcher.activityWindow = .seconds(30)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(100))
        watcher.step(&nothing, now: .seconds(131))  // quiet for longer than the activity window
        // A storm on the line from 131 s: not sampled at 132 s (idle: next sample at 136 s).
        fake.file("/proc/interrupts", "           CPU0\n 40:      50100  IO-APIC  40-fasteoi   amdgpu\n")
        fake.file("/proc/irq/40/spurious", "count 50100\nunhandled 50000\nlast_unhandled 1 ms\n")
        watcher.step(&nothing, now: .seconds(132))
        #expect(!watcher.host.log.contains("did disable INTx of 0000:01:00.0"), "idle: sampled every 5 s")
        watcher.step(&nothing, now: .seconds(136))
        #expect(watcher.host.log.contains("did disable INTx of 0000:01:00.0"), "counted once sampled: nothing lost")
        // Active now (an episode runs, and something happened): every second again.
        #expect(watcher.currentCounterInterval(at: .seconds(137), watcher.engine) == .seconds(1))
        #expect(watcher.currentCounterInterval(at: .seconds(1_000_000), Engine()) == .seconds(5))
    }

    @Test func unhandledInterruptStormMasksINTx() {
        let fake = FakeSysfs.machine()
        fake.file("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/irq", "40")
        fake.file("/proc/interrupts", "           CPU0\n 40:        100  IO-APIC  40-fasteoi   amdgpu\n")
        fake.file("/proc/irq/40/spurious", "count 100\nunhandled 0\nlast_unhandled 0 ms\n")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        fake.file("/proc/interrupts", "           CPU0\n 40:      50100  IO-APIC  40-fasteoi   amdgpu\n")
        fake.file("/proc/irq/40/spurious", "count 50100\nunhandled 50000\nlast_unhandled 1 ms\n")
        watcher.step(&nothing, now: .seconds(11))
        #expect(watcher.host.log.contains("did disable INTx of 0000:01:00.0"))
        #expect(WatcherTests.command(fake, "0000:01:00.0").map { $0 & 0x400 } == 0x400)
    }

    /// amdgpu (01:00.0, driver bound) and a driverless conventional-PCI function (09:01.0) on
    /// one legacy line, IRQ 40; returns the tree and the driverless function's sysfs path.
    static func sharedLine() -> (FakeSysfs, String) {
        let fake = FakeSysfs.machine()
        fake.file("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/irq", "40")
        let quiet = "/sys/devices/pci0000:00/0000:00:1e.0/0000:08:00.0/0000:09:01.0"
        fake.file("\(quiet)/irq", "40")
        fake.file("\(quiet)/vendor", "0x109e")
        fake.file("\(quiet)/device", "0x036e")
        return (fake, quiet)
    }

    /// The shared-line case of the proving ground (edu + virtio on one pin): the function whose
    /// PCI Status says "INTx asserted" is the suspect, not the first one listed on the line.
    @Test func sharedLineSuspectIsTheFunctionAssertingINTx() throws {
        let (fake, quiet) = Self.sharedLine()
        fake.file("/proc/interrupts", "           CPU0\n 40:        100  IO-APIC  40-fasteoi   amdgpu\n")
        fake.file("/proc/irq/40/spurious", "count 100\nunhandled 0\nlast_unhandled 0 ms\n")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        // 09:01.0 (no driver) raises its INTx and never lets go; amdgpu's handler says IRQ_NONE.
        var config = fake.sysRoot.readBytes("/sys/bus/pci/devices/0000:09:01.0/config", limit: 4096) ?? []
        config[6] |= 0x08
        fake.bytes("\(quiet)/config", config)
        fake.file("/proc/interrupts", "           CPU0\n 40:      50100  IO-APIC  40-fasteoi   amdgpu\n")
        fake.file("/proc/irq/40/spurious", "count 50100\nunhandled 50000\nlast_unhandled 1 ms\n")
        watcher.step(&nothing, now: .seconds(11))
        #expect(watcher.host.log.contains("did disable INTx of 0000:09:01.0"))
        #expect(!watcher.host.log.contains("INTx of 0000:01:00.0"), "the innocent function keeps its interrupt")
        #expect(
            InterruptSampler.suspects(on: 40, fake.sysRoot, watcher.host.inventory) == [
                try PCIAddress(parsing: "0000:09:01.0"), try PCIAddress(parsing: "0000:01:00.0"),
            ])
    }

    /// vtd-two-devices on a real kernel: the storming device is stopped, the kernel's ratelimit
    /// then drops the quiet device's lines, and only the dmar0 count shows its faults. Once the
    /// stopped device has had Bus Master Enable clear for a whole sample, they are the other's.
    @Test func stoppedDeviceNoLongerHidesAnotherDevicesFaults() throws {
        let fake = FakeSysfs.machine()
        let root = fake.sysRoot
        let inventory = Inventory.load(root)
        let stormy = try PCIAddress(parsing: "0000:03:00.0")
        let quiet = try PCIAddress(parsing: "0000:01:00.0")
        func interrupts(_ count: Int) {
            fake.file("/proc/interrupts", "           CPU0\n 24:   \(count)  DMAR-MSI   0-edge      dmar0\n")
        }
        var sampler = InterruptSampler()
        interrupts(3)
        _ = sampler.sample(root, inventory: inventory, at: .seconds(10), logged: [.intelVTd: [stormy: 2, quiet: 1]])
        var config = root.readBytes("/sys/bus/pci/devices/\(stormy)/config", limit: 4096) ?? []
        config[4] &= ~0x4
        fake.bytes("/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/config", config)
        // Cleared since the last sample: a fault in this interval may still be the stormy one's.
        interrupts(4)
        let first = sampler.sample(root, inventory: inventory, at: .seconds(11), logged: [:])
        #expect(first.count == 1)
        guard case .messagesSuppressed(let suppressed) = first.first else {
            Issue.record("expected an unattributed count, got \(first)")
            return
        }
        #expect(suppressed.count == 1)
        // Clear at both samples: the two new faults can only be the quiet device's.
        interrupts(6)
        let second = sampler.sample(root, inventory: inventory, at: .seconds(12), logged: [:])
        guard case .dmaFault(let fault) = second.first else {
            Issue.record("expected the faults attributed, got \(second)")
            return
        }
        #expect(fault.source == .requester(segment: 0, quiet.requesterID))
        #expect(fault.count == 2)
    }

    /// The kernel's own verdict comes first (it disables the line after 100,000 unhandled
    /// interrupts, ~0.5 s on a real 6.1 guest): its "nobody cared" line names only the IRQ.
    @Test func nobodyCaredLineIsPinnedOnTheAssertingFunction() throws {
        let (fake, quiet) = Self.sharedLine()
        var config = fake.sysRoot.readBytes("/sys/bus/pci/devices/0000:09:01.0/config", limit: 4096) ?? []
        config[6] |= 0x08
        fake.bytes("\(quiet)/config", config)
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        var kmsg = FakeKmsg([
            "0,1,7603648,-;irq 40: nobody cared (try booting with the \"irqpoll\" option)",
            "4,2,7613033,-;Disabling IRQ #40",
        ])
        watcher.step(&kmsg, now: .seconds(8))
        #expect(watcher.host.log.contains("did disable INTx of 0000:09:01.0"), "\(watcher.decisions.map(\.reason))")
        #expect(!watcher.decisions.contains { $0.reason.contains("no known device") })
    }

    @Test func driverSettingBusMasterAgainReenables() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        var kmsg = FakeKmsg(WatcherTests.storm(count: 2_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        var config = fake.sysRoot.readBytes("/sys/bus/pci/devices/0000:03:00.0/config", limit: 4096) ?? []
        config[4] |= 0x4
        fake.bytes("/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/config", config)
        var nothing = FakeKmsg([])
        // Half a second later, before the automatic re-enable (1 s hold) would.
        watcher.step(&nothing, now: .milliseconds(11_500))
        #expect(watcher.decisions.contains { $0.reason.contains("bus master re-enabled by its driver") })
        #expect(!watcher.host.log.contains("did set bus master of 0000:03:00.0"), "the driver already did")
    }
}

@Suite struct AERCounterTests {
    @Test func countersAddWhatTheLogDidNotShow() {
        let fake = FakeSysfs.machine()
        let path = "/sys/devices/pci0000:00/0000:00:1d.0/0000:05:00.0/0000:06:01.0/0000:07:00.0/aer_dev_correctable"
        fake.file(path, "RxErr 0\nBadTLP 0\nTOTAL_ERR_COR 0\n")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.recommend), startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        // 300 corrected errors counted; the log printed 10 of them.
        fake.file(path, "RxErr 300\nBadTLP 0\nTOTAL_ERR_COR 300\n")
        var kmsg = FakeKmsg(
            (0..<10).map {
                "4,\($0 + 1),10\($0)00000,-;pcieport 0000:06:01.0: AER: Corrected error received: 0000:07:00.0"
            })
        watcher.step(&kmsg, now: .seconds(11))
        let status = watcher.engine.status(of: .pci(try! PCIAddress(parsing: "0000:07:00.0")))
        #expect(status?.totals[.aerCorrected] == 300, "10 from the log + 290 from the counters, none twice")
        #expect(AERCounters.total("RxErr 3\nTOTAL_ERR_COR 7\n", key: "TOTAL_ERR_COR") == 7)
    }
}

@Suite struct InventoryRefreshTests {
    @Test func removalAndReinsertionAreSeenByPolling() throws {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.recommend), startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        let link = fake.root + "/sys/bus/pci/devices/0000:07:00.0"
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: link)
        try FileManager.default.removeItem(atPath: link)
        watcher.step(&nothing, now: .seconds(12))
        #expect(watcher.decisions.contains { $0.reason.contains("0000:07:00.0") && $0.reason.contains("removed") })
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        watcher.step(&nothing, now: .seconds(14))
        #expect(watcher.decisions.contains { $0.reason.contains("added (serial 00-25-38-56-81-b0-2a-11)") })
        // A driver unbinding is seen too.
        try FileManager.default.removeItem(
            atPath: fake.root + "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/driver")
        watcher.step(&nothing, now: .seconds(16))
        #expect(watcher.host.inventory.device(try PCIAddress(parsing: "0000:01:00.0"))?.driver == nil)
    }
}

@Suite struct TraceSourceTests {
    @Test func tracepointsArePreferredAndNotCountedTwice() throws {
        let fake = FakeSysfs.machine()
        let instance = TraceSource.instance
        for event in TraceSource.events { fake.file("\(instance)/events/\(event)/enable", "0") }
        fake.file("/sys/class/iommu/ivhd0/uevent", "")
        var lines = (0..<12).map {
            "irq/26-aerdrv-47 [000] ..... 10.\(100 + $0): aer_event: 0000:07:00.0 PCIe Bus Error: severity=Corrected, Receiver Error, TLP Header=Not available"
        }
        lines += (0..<3).map {
            "amdgpu-812 [002] d.h1. 10.\(200 + $0): io_page_fault: IOMMU:amdgpu 0000:01:00.0 iova=0x00000000fc189000 flags=0x0001"
        }
        lines.append("irq/27-pciehp-50 [001] ..... 10.300: pci_hp_event: 0000:06:01.0 slot:7, event:LINK_DOWN")
        fake.file("\(instance)/trace_pipe", lines.joined(separator: "\n") + "\n")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.recommend), startedAt: .zero)
        #expect(watcher.trace?.enabled.count == 3)
        #expect(fake.sysRoot.read("\(instance)/events/ras/aer_event/enable") == "1")
        // The same ten corrected errors also appear in kmsg: counted once, from the tracepoint.
        var kmsg = FakeKmsg(
            (0..<10).map {
                "4,\($0 + 1),10\($0)00000,-;pcieport 0000:06:01.0: AER: Corrected error received: 0000:07:00.0"
            })
        watcher.step(&kmsg, now: .seconds(11))
        let nvme = watcher.engine.status(of: .pci(try PCIAddress(parsing: "0000:07:00.0")))
        #expect(nvme?.totals[.aerCorrected] == 12)
        let gpu = watcher.engine.status(of: .pci(try PCIAddress(parsing: "0000:01:00.0")))
        #expect(gpu?.totals[.dmaFault] == 3)
        #expect(watcher.decisions.contains { $0.reason.contains("link of 0000:06:01.0 down") })
        #expect(
            TraceSource.parse(
                "x-1 [000] ..... 1.0: io_page_fault: IOMMU:nvme 0000:01:00.0 iova=0x1000 flags=0x0001",
                faultVendor: .armSMMU)
                == .dmaFault(
                    DMAFault(
                        source: .requester(segment: 0, RequesterID(rawValue: 0x0100)), vendor: .armSMMU, kind: .other,
                        access: .write, address: IOVA(0x1000))))
    }

    /// The byte reader of the fault line reads what the string reader reads, on good lines
    /// and on lines with fields missing, cut or garbled.
    @Test func theByteReaderOfFaultLinesAgreesWithTheStringReader() {
        let good =
            "amdgpu-812 [002] d.h1. 10.200: io_page_fault: IOMMU:amdgpu 0000:01:00.0 iova=0x00000000fc189000 flags=0x0021"
        var lines = [
            good, "x-1 [000] ..... 1.0: io_page_fault: IOMMU:nvme 0000:01:00.0 iova=0x1000 flags=0x0000",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:nvme 0000:01:00.0 iova=0x1000",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:nvme 0000:01:00.0 iova=0xZZ flags=0x0001",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:nvme 01:00.0   iova=0x10   flags=0x1 trailing words",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:nvme nodevice iova=0x10 flags=0x1",
            "x-1 [000] ..... 1.0: io_page_fault: ", "no event here at all",
            "irq/27-pciehp-50 [001] ..... 10.300: pci_hp_event: 0000:06:01.0 slot:7, event:LINK_UP",
        ]
        for cut in stride(from: 0, through: good.utf8.count, by: 7) { lines.append(String(good.prefix(cut))) }
        for line in lines {
            #expect(
                TraceSource.parse(bytes: Array(line.utf8)[...], faultVendor: .amdVi)
                    == TraceSource.parse(line, faultVendor: .amdVi), "\(line)")
        }
        #expect(TraceSource.parse(bytes: Array(good.utf8)[...], faultVendor: .amdVi) != nil)
    }
}

@Suite struct TwoDeviceAttributionTests {
    /// The whole daemon step on the vtd-two-devices timeline: 03:00.0 storms and is stopped,
    /// 01:00.0 faults rarely; the kernel's ratelimit hides two of the rare device's lines.
    @Test func hiddenFaultsAfterContainmentGoToTheQuietDevice() {
        let fake = FakeSysfs.machine()
        func interrupts(_ count: Int) {
            fake.file("/proc/interrupts", "           CPU0\n 24:   \(count)  DMAR-MSI   0-edge      dmar0\n")
        }
        interrupts(0)
        var policy = WatcherTests.policy(.enforce)
        policy.probation.automaticReenable = false
        var watcher = Watcher(root: fake.sysRoot, policy: policy, startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(8))
        // 2,000 faults from 03:00.0 (logged) and one from 01:00.0: 03:00.0 is stopped.
        var kmsg = FakeKmsg(
            WatcherTests.storm(count: 2_000, start: 8.5)
                + WatcherTests.storm("01:00.0", count: 1, start: 8.6, firstSequence: 2_001))
        interrupts(2_001)
        watcher.step(&kmsg, now: .seconds(9))
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0)
        interrupts(2_001)
        watcher.step(&nothing, now: .seconds(10))
        // Two faults nobody logged.
        interrupts(2_003)
        watcher.step(&nothing, now: .seconds(11))
        let quiet = watcher.engine.devices.first { $0.address == .pci(try! PCIAddress(parsing: "0000:01:00.0")) }
        #expect(quiet?.totals[.dmaFault] == 3, "\(String(describing: quiet))")
    }
}
