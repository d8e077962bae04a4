import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux
@testable import CorralStore

/// Do no harm, rule (c): what must never be written to, found the way the kernel sees it, and
/// every port above it covered for bus-level actions.
@Suite struct ProtectionTests {
    static let nvme = "/sys/devices/pci0000:00/0000:00:1d.0/0000:05:00.0/0000:06:01.0/0000:07:00.0"
    static let nvmeAddress = DeviceAddress.pci(try! PCIAddress(parsing: "0000:07:00.0"))
    static let nicAddress = DeviceAddress.pci(try! PCIAddress(parsing: "0000:03:00.0"))

    /// The machine booted with `root=UUID=...`: nothing on the command line names a device.
    static func machine(mountinfo: String) -> FakeSysfs {
        let fake = FakeSysfs.machine()
        fake.file("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=UUID=5f0c1a2b-77e4-4c0e-9d7a-1d2c3e4f5a6b ro quiet")
        fake.file("/proc/self/mountinfo", mountinfo)
        fake.file("\(nvme)/nvme/nvme0/nvme0n1/nvme0n1p2/dev", "259:2")
        fake.file("\(nvme)/nvme/nvme0/nvme0n1/nvme0n1p3/dev", "259:3")
        fake.link("/sys/dev/block/259:2", to: "\(nvme)/nvme/nvme0/nvme0n1/nvme0n1p2")
        fake.link("/sys/class/block/nvme0n1p3", to: "\(nvme)/nvme/nvme0/nvme0n1/nvme0n1p3")
        return fake
    }

    static let rootOnPartition = """
        22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
        23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
        """

    @Test func rootByUUIDIsResolvedThroughMountinfo() {
        let fake = Self.machine(mountinfo: Self.rootOnPartition)
        let watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        #expect(watcher.protection.reasons[Self.nvmeAddress] == [.storage("/")])
    }

    @Test func rootOnLVMOverDMCryptIsResolvedThroughSlaves() {
        // / on dm-1 (LVM) over dm-0 (dm-crypt) over nvme0n1p3.
        let fake = Self.machine(
            mountinfo: "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw\n")
        fake.file("/sys/devices/virtual/block/dm-1/dev", "253:1")
        fake.file("/sys/devices/virtual/block/dm-0/dev", "253:0")
        fake.link("/sys/dev/block/253:1", to: "/sys/devices/virtual/block/dm-1")
        fake.link("/sys/devices/virtual/block/dm-1/slaves/dm-0", to: "/sys/devices/virtual/block/dm-0")
        fake.link("/sys/class/block/dm-0", to: "/sys/devices/virtual/block/dm-0")
        fake.link("/sys/devices/virtual/block/dm-0/slaves/nvme0n1p3", to: "\(Self.nvme)/nvme/nvme0/nvme0n1/nvme0n1p3")
        let protection = ProtectedDevices.detect(fake.sysRoot, Inventory.load(fake.sysRoot))
        #expect(protection.reasons[Self.nvmeAddress] == [.storage("/")])
    }

    @Test func rootOnAnNVMeMultipathHeadIsResolvedToItsController() {
        let head = "/sys/devices/virtual/nvme-subsystem/nvme-subsys0"
        let fake = Self.machine(mountinfo: "22 1 259:5 / / rw shared:1 - xfs /dev/nvme0n1p1 rw\n")
        fake.file("\(head)/nvme0n1/nvme0n1p1/dev", "259:5")
        fake.link("/sys/dev/block/259:5", to: "\(head)/nvme0n1/nvme0n1p1")
        fake.link("\(head)/nvme0", to: "\(Self.nvme)/nvme/nvme0")
        fake.file("\(Self.nvme)/nvme/nvme0/dev", "242:0")
        let protection = ProtectedDevices.detect(fake.sysRoot, Inventory.load(fake.sysRoot))
        #expect(protection.reasons[Self.nvmeAddress] == [.storage("/")])
    }

    @Test func swapBootDisplayAndJournalAreProtected() {
        let fake = Self.machine(
            mountinfo: Self.rootOnPartition + "\n30 22 8:1 / /var/lib/corral rw shared:2 - ext4 /dev/sda1 rw\n")
        // A SATA controller with two disks: swap on sda2, the journal's file system on sda1.
        let sata = fake.pci("0000:00:17.0", under: "/sys/devices/pci0000:00", driver: "ahci", classCode: "0x010601")
        fake.file("\(sata)/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1/dev", "8:1")
        fake.file("\(sata)/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2/dev", "8:2")
        fake.link("/sys/dev/block/8:1", to: "\(sata)/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1")
        fake.link("/sys/class/block/sda2", to: "\(sata)/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2")
        fake.file("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition 8388604 0 -2\n")
        fake.file("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/boot_vga", "1")
        let protection = ProtectedDevices.detect(
            fake.sysRoot, Inventory.load(fake.sysRoot), paths: ["/var/lib/corral/journal.sqlite"])
        let sataAddress = DeviceAddress.pci(try! PCIAddress(parsing: "0000:00:17.0"))
        #expect(
            protection.reasons[sataAddress] == [
                .storage("/var/lib/corral/journal.sqlite (Corral's journal)"), .storage("swap /dev/sda2"),
            ])
        #expect(protection.reasons[.pci(try! PCIAddress(parsing: "0000:01:00.0"))] == [.bootDisplay])
    }

    @Test func defaultRouteThroughABondIsProtected() {
        let fake = Self.machine(mountinfo: Self.rootOnPartition)
        fake.file(
            "/proc/net/route",
            """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            bond0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
            bond0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            """)
        fake.file("/sys/devices/virtual/net/bond0/type", "1")
        fake.link("/sys/class/net/bond0", to: "/sys/devices/virtual/net/bond0")
        fake.file("/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth0/type", "1")
        fake.link("/sys/class/net/eth0", to: "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth0")
        fake.link(
            "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth0/device",
            to: "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0")
        fake.link(
            "/sys/devices/virtual/net/bond0/lower_eth0",
            to: "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth0")
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        #expect(watcher.protection.reasons[Self.nicAddress] == [.defaultRoute("bond0")])
        // A storm from the NIC: recommended, with the reason, never written.
        var kmsg = FakeKmsg(WatcherTests.storm(count: 3_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
        #expect(!watcher.host.log.contains { $0.hasPrefix("did ") })
        #expect(
            watcher.decisions.contains {
                $0.action?.isRecommendation == true && $0.reason.contains("default route via bond0")
            })
    }

    /// A DPC storm at the root port above the protected root NVMe: clearing the port's bus
    /// master would cut the root disk off; it is recommended, never done.
    @Test func portAboveTheRootDiskIsNeverWritten() throws {
        let fake = Self.machine(mountinfo: Self.rootOnPartition)
        var policy = WatcherTests.policy(.enforce)
        policy.classes[.dpc].thresholds = StormThresholds(
            elevated: RateThreshold(1, per: .seconds(1)), storm: RateThreshold(3, per: .seconds(60)))
        var watcher = Watcher(root: fake.sysRoot, policy: policy, startedAt: .zero)
        let records = (0..<5).map { index in
            "3,\(index + 1),\(10_000_000 + index * 1000),-;pcieport 0000:00:1d.0: DPC: containment event, status:0x1f01 source:0x0000"
        }
        var kmsg = FakeKmsg(records)
        watcher.step(&kmsg, now: .seconds(11))
        #expect(WatcherTests.command(fake, "0000:00:1d.0").map { $0 & 0x4 } == 0x4, "the port keeps bus master")
        #expect(!watcher.host.log.contains { $0.hasPrefix("did ") })
        let recommendation = try #require(watcher.decisions.first { $0.action?.isRecommendation == true })
        #expect(
            recommendation.reason.contains("would reach protected 0000:07:00.0: holds /"), "\(recommendation.reason)")
        // The boot device is named as such in the recommendation (issue 17).
        #expect(recommendation.reason.contains("the boot device"), "\(recommendation.reason)")
    }

    /// Defence in depth: the host refuses a write whose reach holds a protected device, even
    /// when asked directly.
    @Test func hostRefusesAWriteReachingAProtectedDevice() {
        let fake = Self.machine(mountinfo: Self.rootOnPartition)
        let inventory = Inventory.load(fake.sysRoot)
        var host = LinuxHost(
            root: fake.sysRoot, mode: .enforce, inventory: inventory,
            protection: ProtectedDevices.detect(fake.sysRoot, inventory))
        host.perform(.clearBusMaster(try! PCIAddress(parsing: "0000:05:00.0")), at: .seconds(1))
        #expect(
            host.log.last?.hasPrefix("refused clear bus master of 0000:05:00.0: would reach protected device") == true)
        #expect(WatcherTests.command(fake, "0000:05:00.0").map { $0 & 0x4 } == 0x4)
    }

    @Test func auditAndStatusListTheProtectedDevices() throws {
        let fake = Self.machine(mountinfo: Self.rootOnPartition)
        let findings = Audit.run(fake.sysRoot)
        #expect(
            findings.contains {
                $0.check == "protected device"
                    && $0.evidence == "0000:07:00.0: holds / (the boot device: stopping it stops the machine)"
            })
        let journal = try Journal(path: fake.root + "/j.sqlite")
        let run = try journal.run(kind: "daemon", name: "boot", startedUTC: 0)
        try journal.recordProtection(run: run, [("0000:07:00.0", "holds /"), ("0000:07:00.0", "holds swap /dev/x")])
        let listed = try journal.protectedDevices()
        #expect(listed.count == 1 && listed[0].device == "0000:07:00.0" && listed[0].reasons.count == 2)
    }
}
