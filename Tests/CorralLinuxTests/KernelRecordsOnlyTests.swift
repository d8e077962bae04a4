import CorralCore
import CorralTestSupport
import Testing

@testable import CorralLinux

/// Do no harm, rule (b), through the daemon: only the kernel's own records name a device.
@Suite struct KernelRecordsOnlyTests {
    /// 3,000 kernel-facility records of a USB device whose product string is a DMAR fault line
    /// naming the NIC: nothing is decided, nothing is written.
    @Test func usbProductStringNamingTheNICDoesNothing() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        let records = WatcherTests.storm(count: 3_000, start: 10).map {
            $0.replacingOccurrences(of: ";DMAR: ", with: ";usb 1-1: Product: DMAR: ")
        }
        var kmsg = FakeKmsg(records)
        watcher.step(&kmsg, now: .seconds(11))
        #expect(watcher.follower.records == 3_000 && watcher.follower.notKernel == 0)
        #expect(watcher.decisions.isEmpty && watcher.host.log.isEmpty)
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
    }

    /// Finding 4: a VT-d head without its reason line (the GPU's) before a storm from the NIC:
    /// the storm is still seen and contained, and the GPU is not held for it.
    @Test func malformedHeadDoesNotHideAStorm() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        let head = "3,1,9000000,-;dmar: DMAR:[DMA Read] Request device [01:00.0] fault addr 1a45aa9000"
        var kmsg = FakeKmsg([head] + WatcherTests.storm(count: 3_000, start: 10, firstSequence: 2))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0, "the NIC is stopped")
        #expect(WatcherTests.command(fake, "0000:01:00.0").map { $0 & 0x4 } == 0x4, "the GPU is not")
        #expect(watcher.engine.status(of: .pci(try! PCIAddress(parsing: "0000:03:00.0")))?.totals[.dmaFault] == 3_000)
    }
}
