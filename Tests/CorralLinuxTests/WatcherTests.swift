import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

@Suite struct WatcherTests {
    /// `count` VT-d write faults from `device` every 100 µs from `start` (seconds), kmsg records.
    static func storm(
        _ device: String = "03:00.0", count: Int, start: Double, firstSequence: Int = 1, facility: Int = 0
    )
        -> [String]
    {
        (0..<count).map { index in
            let micros = Int(start * 1e6) + index * 100
            let prio = facility << 3 | 3
            return
                "\(prio),\(firstSequence + index),\(micros),-;DMAR: [DMA Write NO_PASID] Request device [\(device)] fault addr 0x\(String(0x1000 * index, radix: 16)) [fault reason 0x05] PTE Write access is not set"
        }
    }

    static func policy(_ mode: Policy.Mode) -> Policy {
        var policy = Policy()
        policy.mode = mode
        return policy
    }

    static func command(_ fake: FakeSysfs, _ device: String) -> UInt16? {
        ConfigSpace(fake.sysRoot.readBytes("/sys/bus/pci/devices/\(device)/config") ?? []).command
    }

    @Test func enforceClearsBusMasterThenResets() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        var kmsg = FakeKmsg(Self.storm(count: 2_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(Self.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0, "bus master cleared in config space")
        #expect(watcher.host.log.contains("did clear bus master of 0000:03:00.0"))
        #expect(watcher.engine.status(of: .pci(try! PCIAddress(parsing: "0000:03:00.0")))?.state == .stopped(.verified))
        // It keeps faulting after its DMA was stopped: the next rung is a reset through sysfs.
        var more = FakeKmsg(Self.storm(count: 200, start: 11.5, firstSequence: 2_001))
        watcher.step(&more, now: .seconds(12))
        #expect(fake.sysRoot.read("/sys/bus/pci/devices/0000:03:00.0/reset") == "1")
        #expect(watcher.host.log.contains("did flr reset of 0000:03:00.0"))
        // The device's own reset methods are back after ours was used (ResetTests has the order).
        #expect(fake.sysRoot.read("/sys/bus/pci/devices/0000:03:00.0/reset_method") == "flr bus")
        #expect(Self.command(fake, "0000:01:00.0").map { $0 & 0x4 } == 0x4, "the GPU beside it is untouched")
    }

    /// The daemon waits on kmsg until the engine, a quiescence poll or the counters need it.
    @Test func nextWakeIsTheEarliestThingDue() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        #expect(watcher.nextWake(after: .seconds(10)) == .seconds(11), "counters, every second while new")
        // A storm contained, Transactions Pending still set: its next poll is due 100 ms later.
        fake.bytes(
            "/sys/bus/pci/devices/0000:03:00.0/config",
            FakeSysfs.config(vendor: 0x8086, device: 0x10fb, serial: 0x001b_21ff_fe8a_1000, transactionsPending: true))
        var kmsg = FakeKmsg(Self.storm(count: 2_000, start: 10))
        watcher.step(&kmsg, now: .milliseconds(10_500))
        #expect(watcher.nextWake(after: .milliseconds(10_500)) <= .milliseconds(10_600))
        #expect(watcher.lastStepRecords == 2_000)
    }

    /// A function its driver enables again (`enable` 0 → 1) is a re-enable trigger on a live
    /// host too: for it, and for the port above it (a child coming back).
    @Test func aDriverEnablingAFunctionIsSeen() {
        let fake = FakeSysfs.machine()
        fake.file("/sys/bus/pci/devices/0000:03:00.0/enable", "0")
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        #expect(watcher.refreshInventory(at: .seconds(1)).isEmpty)
        fake.file("/sys/bus/pci/devices/0000:03:00.0/enable", "1")
        #expect(
            watcher.refreshInventory(at: .seconds(3)) == [
                .deviceEnabled(.pci(try! PCIAddress(parsing: "0000:03:00.0")))
            ])
        #expect(watcher.refreshInventory(at: .seconds(5)).isEmpty, "once")
        // Driverless (the bridge at 08:00.0): enabled by hand, not by a driver — no trigger.
        fake.file("/sys/bus/pci/devices/0000:08:00.0/enable", "0")
        _ = watcher.refreshInventory(at: .seconds(7))
        fake.file("/sys/bus/pci/devices/0000:08:00.0/enable", "1")
        #expect(watcher.refreshInventory(at: .seconds(9)).isEmpty)
    }

    @Test func recommendWritesNothing() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.recommend), startedAt: .zero)
        var kmsg = FakeKmsg(Self.storm(count: 2_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(Self.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
        #expect(watcher.host.log.contains { $0.hasPrefix("would clear bus master of 0000:03:00.0") })
        #expect(!watcher.host.log.contains { $0.hasPrefix("did") })
    }

    @Test func overrunIsCountedAndRestartDoesNotReact() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        var records = Self.storm(count: 2_000, start: 10)
        records.removeSubrange(500..<600)  // overwritten by the kernel before we read them
        var kmsg = FakeKmsg(records, overrunBefore: 500)
        watcher.step(&kmsg, now: .seconds(11))
        #expect(watcher.follower.overruns == 1 && watcher.follower.lost == 100)
        let cursor = watcher.follower.lastSequence
        #expect(cursor == 2_000)
        // A restart on the same boot resumes after the journaled sequence: nothing is re-acted.
        var restarted = Watcher(
            root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero, resumeAfter: cursor)
        var again = FakeKmsg(Self.storm(count: 2_000, start: 10))
        restarted.step(&again, now: .seconds(11))
        #expect(restarted.decisions.allSatisfy { $0.action == nil } && restarted.host.log.isEmpty)
    }

    @Test func replacedDeviceIsNotTouched() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        // Between inventory and action, another card appears at 03:00.0 (hot swap).
        fake.bytes(
            "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/config", FakeSysfs.config(vendor: 0x14e4, device: 0x1657)
        )
        var kmsg = FakeKmsg(Self.storm(count: 2_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(Self.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
        #expect(watcher.host.log.contains { $0.contains("is now a different device (14e4:1657)") })
    }

    @Test func protectedRootDiskIsNeverWritten() {
        let fake = FakeSysfs.machine()
        fake.link(
            "/sys/class/block/nvme0n1p2",
            to:
                "/sys/devices/pci0000:00/0000:00:1d.0/0000:05:00.0/0000:06:01.0/0000:07:00.0/nvme/nvme0/nvme0n1/nvme0n1p2"
        )
        fake.file(
            "/sys/devices/pci0000:00/0000:00:1d.0/0000:05:00.0/0000:06:01.0/0000:07:00.0/nvme/nvme0/nvme0n1/nvme0n1p2/partition",
            "2")
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        #expect(watcher.protected.contains(.pci(try! PCIAddress(parsing: "0000:07:00.0"))))
        var kmsg = FakeKmsg(Self.storm("07:00.0", count: 3_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(Self.command(fake, "0000:07:00.0").map { $0 & 0x4 } == 0x4)
        #expect(!watcher.host.log.contains { $0.hasPrefix("did") })
        #expect(watcher.decisions.contains { $0.action?.isRecommendation == true }, "protected: recommended only")
    }

    @Test func failedWriteEscalates() throws {
        let fake = FakeSysfs.machine()
        // `reset` cannot be written (a directory stands where the attribute should be).
        let device = "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0"
        try? FileManager.default.removeItem(atPath: fake.root + device + "/reset")
        try? FileManager.default.createDirectory(
            atPath: fake.root + device + "/reset", withIntermediateDirectories: true)
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        let recorder = CollectingRecorder()
        watcher.recorder = recorder
        var kmsg = FakeKmsg(Self.storm(count: 2_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        var more = FakeKmsg(Self.storm(count: 200, start: 11.5, firstSequence: 2_001))
        watcher.step(&more, now: .seconds(12))
        #expect(watcher.host.log.contains { $0.hasPrefix("failed flr reset of 0000:03:00.0") })
        // The outcomes, each with when its action was decided (the journal's key for its row),
        // told to the recorder as they came back; every decision too, once.
        let failed = try #require(recorder.outcomes.first { $0.outcome.action.kind == "reset-flr" })
        #expect("\(failed.outcome.result)" == "failed: Is a directory (errno 21)")
        let decided = try #require(watcher.decisions.first { $0.action == failed.outcome.action })
        #expect(failed.decidedAt == decided.at)
        #expect(recorder.decisions == Array(watcher.decisions), "every decision recorded once, in order")
        #expect(
            watcher.decisions.contains { $0.action.map { "\($0)".contains("bus reset") } == true },
            "next rung after the failure")
    }

    @Test func forgedUserFacilityStormIsIgnored() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: Self.policy(.enforce), startedAt: .zero)
        var kmsg = FakeKmsg(Self.storm(count: 5_000, start: 10, facility: 1))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(watcher.follower.notKernel == 5_000)
        #expect(watcher.decisions.isEmpty && watcher.host.log.isEmpty)
        #expect(Self.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
    }
}

/// QEMU's NVMe (and many consumer drives) have no Device Serial Number capability: the drive is
/// recognised by the serial the nvme driver reads, which appears only once the driver binds.
@Suite struct NVMeSerialTests {
    static let port = "/sys/devices/pci0000:00/0000:00:02.0"

    static func insert(_ fake: FakeSysfs, bound: Bool) {
        _ = fake.pci(
            "0000:0b:00.0", under: port, driver: bound ? "nvme" : nil, classCode: "0x010802", vendor: 0x1b36,
            device: 0x0010, resetMethod: "flr bus", group: 50, config: FakeSysfs.config(vendor: 0x1b36, device: 0x0010))
        if bound { fake.file("\(port)/0000:0b:00.0/nvme/nvme0/serial", "corral-pg-1  ") }
    }

    /// An NVMe known by its driver's serial (no Device Serial Number in config space) is still
    /// the same device to the host's identity check: the write goes through.
    @Test func anNVMeKnownByItsDriversSerialCanBeActedOn() throws {
        let fake = FakeSysfs.machine()
        _ = fake.pci("0000:00:02.0", under: "/sys/devices/pci0000:00", driver: "pcieport", classCode: "0x060400")
        Self.insert(fake, bound: true)
        let address = try PCIAddress(parsing: "0000:0b:00.0")
        var host = LinuxHost(root: fake.sysRoot, mode: .enforce, inventory: Inventory.load(fake.sysRoot))
        host.perform(.clearBusMaster(address), at: .seconds(1))
        #expect(host.log.last == "did clear bus master of 0000:0b:00.0", "\(host.log.last ?? "")")
    }

    @Test func reinsertedDriveIsRecognisedByItsNVMeSerial() throws {
        let fake = FakeSysfs.machine()
        _ = fake.pci("0000:00:02.0", under: "/sys/devices/pci0000:00", driver: "pcieport", classCode: "0x060400")
        Self.insert(fake, bound: true)
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        watcher.inventoryInterval = .seconds(1)
        let address = try PCIAddress(parsing: "0000:0b:00.0")
        #expect(watcher.host.inventory.device(address)?.serial == "nvme-corral-pg-1")
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(10))
        // Pulled out of the bay.
        try FileManager.default.removeItem(atPath: fake.root + "/sys/bus/pci/devices/0000:0b:00.0")
        try FileManager.default.removeItem(atPath: fake.root + "\(Self.port)/0000:0b:00.0")
        watcher.step(&nothing, now: .seconds(11))
        #expect(watcher.decisions.contains { $0.reason.contains("0000:0b:00.0") && $0.reason.contains("removed") })
        // Back in: the function appears before the driver has bound and read the serial.
        Self.insert(fake, bound: false)
        watcher.step(&nothing, now: .seconds(12))
        #expect(!watcher.decisions.contains { $0.reason.contains(": added") }, "waits for the serial")
        try FileManager.default.removeItem(atPath: fake.root + "\(Self.port)/0000:0b:00.0")
        Self.insert(fake, bound: true)
        watcher.step(&nothing, now: .seconds(13))
        let readded = watcher.decisions.first { $0.reason.contains(": added") }
        #expect(readded?.reason.contains("serial nvme-corral-pg-1") == true, "\(readded?.reason ?? "none")")
        // No containment for an orderly removal.
        #expect(!watcher.host.log.contains { $0.hasPrefix("did ") && $0.contains("0000:0b:00.0") })
    }
}
