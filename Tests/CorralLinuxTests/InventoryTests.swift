import CorralCore
import CorralTestSupport
import Testing

@testable import CorralLinux

@Suite struct InventoryTests {
    @Test func realisticTree() throws {
        let fake = FakeSysfs.machine()
        let inventory = Inventory.load(fake.sysRoot)
        #expect(inventory.devices.count == 11)
        let nvme = try #require(inventory.device(try PCIAddress(parsing: "0000:07:00.0")))
        #expect(nvme.driver == "nvme" && nvme.vendorID == 0x144d && nvme.deviceID == 0xa808)
        #expect(nvme.serial == "00-25-38-56-81-b0-2a-11" && nvme.config.functionLevelReset)
        #expect(nvme.parent?.description == "0000:06:01.0" && nvme.slot == "7" && nvme.slotPower)
        #expect(nvme.iommuGroup == 14 && nvme.iommuGroupType == "DMA" && nvme.resetMethods == [.flr])
        let profile = nvme.profile
        #expect(profile.serial == SerialNumber("00-25-38-56-81-b0-2a-11") && profile.slotPowerControl)
        #expect(profile.transactionsPending && profile.resetMethods == [.flr])
        // The switch: upstream port with its downstream port as child.
        #expect(
            inventory.device(try PCIAddress(parsing: "0000:05:00.0"))?.children.map(\.description) == ["0000:06:01.0"])
        // The PCIe-to-PCI bridge and the conventional device behind it share IOMMU group 20.
        let legacy = try #require(inventory.device(try PCIAddress(parsing: "0000:09:01.0")))
        #expect(
            legacy.parent?.description == "0000:08:00.0" && legacy.iommuGroup == 20
                && legacy.config.transactionsPending == nil)
        #expect(inventory.device(try PCIAddress(parsing: "0000:08:00.0"))?.isBridge == true)
        #expect(inventory.device(try PCIAddress(parsing: "0000:0a:00.0"))?.profile.untrusted == true)
        #expect(inventory.device(try PCIAddress(parsing: "0000:01:00.0"))?.profile.driver == "amdgpu")
        #expect(
            inventory.device(try PCIAddress(parsing: "0000:01:00.0"))?.profile.pciClass?.name == "display controller")
        #expect(inventory.thunderbolt.count == 1 && inventory.thunderbolt[0].authorized)
        #expect(inventory.platformDevices.map(\.name) == ["fd5c0000.dma"])
        #expect(inventory.commandLine?.contains("intel_iommu=on") == true)
    }

    @Test func configSpaceWithoutCapabilitiesIsSafe() {
        let empty = ConfigSpace([])
        #expect(
            empty.vendorID == nil && !empty.functionLevelReset && empty.serialNumber == nil
                && empty.transactionsPending == nil)
        var looping = [UInt8](repeating: 0, count: 256)
        looping[6] = 0x10
        looping[0x34] = 0x40
        looping[0x40] = 0x01
        looping[0x41] = 0x40  // points at itself
        #expect(ConfigSpace(looping).capability(0x10) == nil)
    }
}

/// QEMU's arm64 `virt,iommu=smmuv3` board, as its device tree appears in sysfs: the PCIe host
/// bridge maps every requester ID to the same stream ID on the SMMUv3 at 0x9050000.
@Suite struct StreamMapTests {
    static func be(_ cells: [UInt32]) -> [UInt8] {
        cells.flatMap { [UInt8($0 >> 24), UInt8($0 >> 16 & 0xFF), UInt8($0 >> 8 & 0xFF), UInt8($0 & 0xFF)] }
    }

    static func virtBoard(map: [UInt32], mask: UInt32? = nil) -> FakeSysfs {
        let fake = FakeSysfs()
        _ = fake.pci(
            "0000:00:02.0", under: "/sys/devices/platform/4010000000.pcie/pci0000:00", driver: "pci-stub",
            classCode: "0x00ff00", vendor: 0x1234, device: 0x11e8)
        let smmu = "\(StreamMap.deviceTree)/smmuv3@9050000"
        fake.bytes("\(smmu)/phandle", be([0x8002]))
        fake.link("/sys/devices/platform/9050000.smmuv3/of_node", to: smmu)
        fake.link("/sys/bus/platform/devices/9050000.smmuv3", to: "/sys/devices/platform/9050000.smmuv3")
        fake.bytes("\(StreamMap.deviceTree)/pcie@10000000/iommu-map", be(map))
        if let mask { fake.bytes("\(StreamMap.deviceTree)/pcie@10000000/iommu-map-mask", be([mask])) }
        return fake
    }

    /// `count` F_TRANSLATION events from StreamID 0x10 as arm-smmu-v3 prints them, 1 ms apart:
    /// the lab's record (shared/lab/qemu FINDINGS §4), with the tab before each dword escaped
    /// as /dev/kmsg writes it.
    static func translationFaults(count: Int, startMicros: Int) -> [String] {
        (0..<count).flatMap { index in
            let at = startMicros + index * 1000
            return [
                "3,\(index * 5 + 1),\(at),-;arm-smmu-v3 9050000.smmuv3: event 0x10 received:",
                "3,\(index * 5 + 2),\(at),-;arm-smmu-v3 9050000.smmuv3: \\x090x0000001000000010",
                "3,\(index * 5 + 3),\(at),-;arm-smmu-v3 9050000.smmuv3: \\x090x0000000000000000",
                "3,\(index * 5 + 4),\(at),-;arm-smmu-v3 9050000.smmuv3: \\x090x0000000000100000",
                "3,\(index * 5 + 5),\(at),-;arm-smmu-v3 9050000.smmuv3: \\x090x0000000000000000",
            ]
        }
    }

    @Test func identityMapGivesEduStream0x10() throws {
        let fake = Self.virtBoard(map: [0, 0x8002, 0, 0x10000])
        let map = StreamMap.load(fake.sysRoot, inventory: Inventory.load(fake.sysRoot))
        #expect(map.count == 1)
        #expect(
            map.first?.stream.description
                == SMMUStream(iommu: IOMMUInstance("9050000.smmuv3"), streamID: StreamID(0x10)).description)
        #expect(map.first?.device == (try PCIAddress(parsing: "0000:00:02.0")))
    }

    @Test func offsetMaskAndRangesAreApplied() throws {
        // IDs 0x00-0x0f unmapped; from 0x10 on, stream = 0x200 + (rid - 0x10); function bits masked.
        let fake = Self.virtBoard(map: [0, 0x8002, 0, 0x10, 0x10, 0x8002, 0x200, 0x100], mask: 0xFFF8)
        let map = StreamMap.load(fake.sysRoot, inventory: Inventory.load(fake.sysRoot))
        #expect(map.first?.stream.streamID == StreamID(0x200))
    }

    @Test func decodedSMMUv3EventIsPinnedOnThePCIFunction() throws {
        let fake = Self.virtBoard(map: [0, 0x8002, 0, 0x10000])
        var policy = WatcherTests.policy(.enforce)
        policy.classes[.dmaFault].thresholds.storm = RateThreshold(5, per: .seconds(1))
        var watcher = Watcher(root: fake.sysRoot, policy: policy, startedAt: .zero)
        let lines = Self.translationFaults(count: 10, startMicros: 1_661_710)
        var kmsg = FakeKmsg(lines)
        var subjects: Set<Subject> = []
        watcher.step(&kmsg, now: .seconds(2), observe: { _, _, subject in subjects.insert(subject) })
        #expect(watcher.host.log.contains("did clear bus master of 0000:00:02.0"), "\(watcher.decisions.map(\.reason))")
        #expect(subjects == ["0000:00:02.0"], "the journal files the events under the PCI function")
    }
}
