import Testing

@testable import CorralCore

@Suite("Model values: addresses, durations, rates")
struct ModelTests {
    @Test(arguments: [
        ("0000:03:00.0", "0000:03:00.0"), ("03:00.0", "0000:03:00.0"), ("0001:a0:1f.7", "0001:a0:1f.7"),
        ("10000:e0:06.0", "10000:e0:06.0"), ("00:1C.5", "0000:00:1c.5"),
    ])
    func pciAddressRoundTrip(input: String, canonical: String) throws {
        #expect(try PCIAddress(parsing: input).description == canonical)
    }

    @Test(arguments: ["", "03:00", "03:20.0", "03:00.8", "zz:00.0", "0000:03:00.0.1", "123:00.0", "1:2:3:4"])
    func pciAddressRejects(input: String) {
        #expect(throws: PCIAddressParseError.self) { try PCIAddress(parsing: input) }
    }

    /// Per-class state is held inline, sized by a literal: it must fit every class's index.
    @Test func perEventClassStorageFitsEveryClass() {
        let storage = PerEventClass<UInt8>(repeating: 0)
        #expect(storage.count == EventClass.allCases.count)
        #expect(Set(EventClass.allCases.map(\.index)) == Set(storage.indices))
    }

    @Test func requesterIDLayout() throws {
        let address = try PCIAddress(parsing: "0000:00:1c.5")
        #expect(address.requesterID.rawValue == 0x00e5)
        #expect(RequesterID(rawValue: 0x00e5).description == "00:1c.5")
        #expect(PCIAddress(segment: 2, requesterID: RequesterID(rawValue: 0x0308)).description == "0002:03:01.0")
    }

    @Test func deviceAddressForms() throws {
        #expect(try DeviceAddress(parsing: "03:00.0") == .pci(PCIAddress(bus: 3, device: 0, function: 0)!))
        #expect(
            try DeviceAddress(parsing: "5040000.smmu/sid=0x10")
                == .stream(SMMUStream(iommu: IOMMUInstance("5040000.smmu"), streamID: StreamID(0x10))))
        #expect(try DeviceAddress(parsing: "a600000.usb") == .platform(PlatformDeviceName("a600000.usb")))
        #expect(throws: PCIAddressParseError.self) { try DeviceAddress(parsing: "03:20.0") }
    }

    @Test func durations() throws {
        #expect(try Duration(parsing: "500ms") == .milliseconds(500))
        #expect(try Duration(parsing: " 24h") == .seconds(86_400))
        #expect(try Duration(parsing: "1d").compact == "1d")
        #expect(Duration.milliseconds(1_500).compact == "1500ms")
        #expect(throws: DurationParseError.self) { try Duration(parsing: "5") }
        #expect(throws: DurationParseError.self) { try Duration(parsing: "5 fortnights") }
        #expect(throws: DurationParseError.self) { try Duration(parsing: "1.5s") }
    }

    @Test func rates() throws {
        let rate = try RateThreshold(parsing: "1000 / 1s")
        #expect(rate.count == 1_000 && rate.window == .seconds(1))
        #expect(try RateThreshold(parsing: "5/1h").description == "5/1h")
        #expect(try RateThreshold(parsing: "10k / 24h").count == 10_000)
        #expect(throws: RateParseError.self) { try RateThreshold(parsing: "0 / 1s") }
        #expect(throws: RateParseError.self) { try RateThreshold(parsing: "1000") }
        #expect(throws: RateParseError.self) { try RateThreshold(parsing: "many / 1s") }
        #expect(throws: RateParseError.self) { try RateThreshold(parsing: "5 / 0s") }
    }

    @Test func countsAreGrouped() {
        #expect(Count.grouped(12_345) == "12,345")
        #expect(Count.grouped(999) == "999")
        #expect(Count.grouped(1_000_000) == "1,000,000")
    }
}

/// `TextTable`: every column as wide as its widest cell plus two blanks, whatever the names;
/// no trailing blanks; rows shorter than the header keep their cells where they belong.
@Suite struct TextTableTests {
    @Test func columnsNeverRunTogether() {
        let lines = TextTable.lines([
            ["device", "state", "events"],
            ["soc@0/fd500000.pcie-with-a-long-name", "stopped (release #1 pending)", "1"],
            ["0000:03:00.0", "healthy"],
        ])
        #expect(lines[0] == "device                                state                         events")
        #expect(lines[1] == "soc@0/fd500000.pcie-with-a-long-name  stopped (release #1 pending)  1")
        #expect(lines[2] == "0000:03:00.0                          healthy")
        #expect(TextTable.lines([]).isEmpty)
    }
}
