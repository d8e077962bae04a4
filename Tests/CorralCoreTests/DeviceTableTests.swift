import Testing

@testable import CorralCore

/// The engine's record table: slots stay consistent through removals (the last record moves
/// into the freed slot), and in-place updates land on the right device.
@Suite struct DeviceTableTests {
    static func device(_ bus: UInt8) -> DeviceAddress { .pci(PCIAddress(bus: bus, device: 0, function: 0)!) }

    @Test func removalMovesTheLastRecordAndKeepsEveryAddressFindable() throws {
        var table = DeviceTable()
        for bus in UInt8(1)...5 {
            let slot = table.insert(DeviceRecord(address: Self.device(bus)), for: Self.device(bus))
            table.storage[slot].totals[0] = UInt64(bus) * 10
        }
        #expect(table.removeValue(forKey: Self.device(2))?.totals[0] == 20)
        #expect(table.removeValue(forKey: Self.device(2)) == nil)
        #expect(table.count == 4)
        for bus in [UInt8(1), 3, 4, 5] {
            let slot = try #require(table.slot(of: Self.device(bus)))
            #expect(table.storage[slot].address == Self.device(bus))
            #expect(table[Self.device(bus)]?.totals[0] == UInt64(bus) * 10)
        }
        #expect(Set(table.keys) == Set([1, 3, 4, 5].map { Self.device($0) }))
        // Removing the record in the last slot, then setting through the subscript.
        let last = try #require(table.keys.last)
        table[last] = nil
        #expect(table[last] == nil && table.count == 3)
        table[Self.device(9)] = DeviceRecord(address: Self.device(9))
        table[Self.device(9)]?.lost = 7
        #expect(table[Self.device(9)]?.lost == 7 && table.count == 4)
    }

    /// A stream found once is remembered; when a removal moves it to another slot, `find`
    /// follows it.
    @Test func rememberedStreamFollowsItsRecordThroughRemovals() throws {
        var table = DeviceTable()
        let stream = DeviceAddress.stream(SMMUStream(iommu: IOMMUInstance("smmu0"), streamID: StreamID(0x10)))
        _ = table.insert(DeviceRecord(address: Self.device(1)), for: Self.device(1))
        _ = table.insert(DeviceRecord(address: stream), for: stream)
        let first = table.find(stream)
        let again = table.find(stream)
        #expect(first == 1 && again == 1, "the second from the remembered slot")
        table.removeValue(forKey: Self.device(1))  // the stream's record moves to slot 0
        let found = table.find(stream)
        let slot = try #require(found)
        #expect(slot == 0 && table.storage[slot].address == stream)
        table.removeValue(forKey: stream)
        let gone = table.find(stream)
        #expect(gone == nil && table.count == 0)
    }

    /// The PCI slot index against a dictionary, through many inserts, updates and removals
    /// (tombstones, growth and rebuilds included).
    @Test func pciSlotIndexAgreesWithADictionary() {
        var index = PCISlotIndex()
        var model: [PCIAddress: Int] = [:]
        var random = SplitMix64(seed: 7)
        for step in 0..<50_000 {
            let value = random.next()
            // Few buses and segments, so that keys collide and come back after removal.
            let address = PCIAddress(
                segment: UInt32(value % 3), bus: UInt8(truncatingIfNeeded: value >> 8) % 12,
                device: UInt8(truncatingIfNeeded: value >> 16) % 32,
                function: UInt8(truncatingIfNeeded: value >> 24) % 8)!
            if value >> 40 % 3 == 0 {
                index[address] = nil
                model[address] = nil
            } else {
                index[address] = step
                model[address] = step
            }
            if step % 1_000 == 0 {
                for (known, slot) in model { #expect(index[known] == slot) }
            }
            #expect(index[address] == model[address])
        }
        #expect(model.count > 100)
    }
}
