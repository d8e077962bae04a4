import CorralCore
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
