import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

/// Do no harm, finding 2: faults that carry a DMA alias are held against the alias group and
/// contained through its bridge, never against the innocent function whose address the alias is.
@Suite struct DMAAliasTests {
    static let bridgePath = "/sys/devices/pci0000:00/0000:00:03.0"
    static let bridge = try! PCIAddress(parsing: "0000:00:03.0")
    static let innocent = try! PCIAddress(parsing: "0000:0c:00.0")
    static let culprit = try! PCIAddress(parsing: "0000:0c:01.0")

    /// A PCIe-to-PCI bridge (secondary bus 0x0c) with two conventional functions behind it:
    /// one at 0c:00.0 — exactly the alias ID the bridge gives every transaction from below —
    /// and the stormy one at 0c:01.0.
    static func machine(protectInnocent: Bool = false) -> FakeSysfs {
        let fake = FakeSysfs.machine()
        _ = fake.pci(
            "0000:00:03.0", under: "/sys/devices/pci0000:00", driver: nil, classCode: "0x060400", vendor: 0x1b36,
            device: 0x000e, group: 60,
            config: FakeSysfs.config(vendor: 0x1b36, device: 0x000e, pcieType: 0x7, secondaryBus: 0x0c))
        _ = fake.pci(
            "0000:0c:00.0", under: bridgePath, driver: "e1000", classCode: "0x020000", vendor: 0x8086, device: 0x100e,
            group: 60, config: FakeSysfs.config(vendor: 0x8086, device: 0x100e, pcie: false))
        _ = fake.pci(
            "0000:0c:01.0", under: bridgePath, driver: "edu", classCode: "0x00ff00", vendor: 0x1234, device: 0x11e8,
            group: 60, config: FakeSysfs.config(vendor: 0x1234, device: 0x11e8, pcie: false))
        if protectInnocent {
            fake.file("/proc/self/mountinfo", "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n")
            fake.file("\(bridgePath)/0000:0c:00.0/host0/block/sda/sda1/dev", "8:1")
            fake.link("/sys/dev/block/8:1", to: "\(bridgePath)/0000:0c:00.0/host0/block/sda/sda1")
        }
        return fake
    }

    @Test func aliasesAreComputedAsTheKernelDoes() {
        let fake = Self.machine()
        let groups = DMAAliases.groups(Inventory.load(fake.sysRoot))
        let group = groups.first { $0.requester == Self.innocent.requesterID }
        #expect(group?.group.members == [.pci(Self.innocent), .pci(Self.culprit)])
        #expect(group?.group.accountable == .pci(Self.bridge))
        // Devices behind root and switch ports keep their own IDs: no group for the NIC.
        #expect(!groups.contains { $0.group.members.contains(.pci(try! PCIAddress(parsing: "0000:03:00.0"))) })
    }

    @Test func aliasedStormIsContainedThroughTheBridgeNotTheInnocentMember() {
        let fake = Self.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        var kmsg = FakeKmsg(WatcherTests.storm("0c:00.0", count: 3_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(WatcherTests.command(fake, "0000:00:03.0").map { $0 & 0x4 } == 0, "the bridge stops the group")
        #expect(watcher.host.log.contains("did clear bus master of 0000:00:03.0"))
        // Every member is stopped with it (bridges that do not gate their secondary side), and
        // no member is ever written to on its own.
        #expect(watcher.host.log.contains("did clear bus master below 0000:00:03.0 too: 0000:0c:00.0, 0000:0c:01.0"))
        #expect(WatcherTests.command(fake, "0000:0c:01.0").map { $0 & 0x4 } == 0)
        #expect(
            watcher.decisions.contains { $0.reason.contains("requester ID shared by 0000:0c:00.0, 0000:0c:01.0") })
        #expect(!watcher.host.log.contains { $0.hasPrefix("did ") && $0.contains(" of 0000:0c:") })
    }

    /// Re-enabling the bridge gives its members back exactly the bus master they had.
    @Test func bridgeStopAndRestartCoverTheFunctionsBelow() {
        let fake = Self.machine()
        // The innocent member had its bus master off: it stays off after the restart.
        var config = FakeSysfs.config(vendor: 0x8086, device: 0x100e, pcie: false)
        config[4] &= ~0x4
        fake.bytes("\(Self.bridgePath)/0000:0c:00.0/config", config)
        var host = LinuxHost(root: fake.sysRoot, mode: .enforce, inventory: Inventory.load(fake.sysRoot))
        host.perform(.clearBusMaster(Self.bridge), at: .seconds(1))
        #expect(WatcherTests.command(fake, "0000:0c:01.0").map { $0 & 0x4 } == 0)
        #expect(host.log.contains("did clear bus master below 0000:00:03.0 too: 0000:0c:01.0"))
        host.perform(.setBusMaster(Self.bridge), at: .seconds(2))
        #expect(WatcherTests.command(fake, "0000:00:03.0").map { $0 & 0x4 } == 0x4)
        #expect(WatcherTests.command(fake, "0000:0c:01.0").map { $0 & 0x4 } == 0x4)
        #expect(WatcherTests.command(fake, "0000:0c:00.0").map { $0 & 0x4 } == 0, "not turned on by us")
    }

    @Test func aliasGroupHoldingAProtectedDeviceIsOnlyRecommendedFor() {
        let fake = Self.machine(protectInnocent: true)
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        #expect(watcher.protected.contains(.pci(Self.innocent)))
        var kmsg = FakeKmsg(WatcherTests.storm("0c:00.0", count: 3_000, start: 10))
        watcher.step(&kmsg, now: .seconds(11))
        #expect(!watcher.host.log.contains { $0.hasPrefix("did ") })
        #expect(WatcherTests.command(fake, "0000:00:03.0").map { $0 & 0x4 } == 0x4)
        #expect(watcher.decisions.contains { $0.reason.contains("would reach protected 0000:0c:00.0: holds /") })
    }

    /// `quirk_dma_func1_alias`: a Marvell 88SE9230 at 0d:00.0 DMAs as 0d:00.1, a function that
    /// does not exist. The faults name 0d:00.1; the controller is the one held.
    @Test func quirkAliasToAMissingFunctionNamesTheQuirkedDevice() {
        let fake = FakeSysfs.machine()
        let port = fake.pci("0000:00:1b.0", under: "/sys/devices/pci0000:00", driver: "pcieport", classCode: "0x060400")
        _ = fake.pci(
            "0000:0d:00.0", under: port, driver: "ahci", classCode: "0x010601", vendor: 0x1b4b, device: 0x9230,
            group: 70, config: FakeSysfs.config(vendor: 0x1b4b, device: 0x9230))
        let groups = DMAAliases.groups(Inventory.load(fake.sysRoot))
        let alias = try! PCIAddress(parsing: "0000:0d:00.1")
        let group = groups.first { $0.requester == alias.requesterID }
        #expect(group?.group.members == [.pci(try! PCIAddress(parsing: "0000:0d:00.0"))])
        #expect(group?.group.accountable == .pci(try! PCIAddress(parsing: "0000:0d:00.0")))
    }
}
