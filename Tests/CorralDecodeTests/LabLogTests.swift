import CorralCore
import Foundation
import Testing

@testable import CorralDecode

/// Serial logs of a real Linux 6.1 kernel under QEMU (emulated VT-d, SMMUv3, AER, pciehp,
/// interrupt storms): every event the kernel printed is found once, counted against an
/// independent count of its anchor lines.
@Suite struct LabLogTests {
    static func load(_ name: String) -> (text: String, events: [LogEvent], statistics: LogStatistics) {
        let text = Fixtures.text(Fixtures.root.appendingPathComponent("qemu-lab/\(name)"))
        let (events, statistics) = KernelLogParser.parse(text)
        return (text, events, statistics)
    }

    /// dmesg lines (`[  s.us] ...`) containing `needle`: the lab logs also hold script output.
    static func lines(_ text: String, containing needle: String) -> Int {
        text.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("[") && $0.contains(needle) }.count
    }

    @Test(arguments: Fixtures.files("qemu-lab", suffix: ".log").map(\.lastPathComponent))
    func nothingMalformed(_ name: String) {
        let (_, _, statistics) = Self.load(name)
        #expect(statistics.lines > 100)
        #expect(statistics.malformed == 0, "\(statistics.malformedExamples)")
    }

    @Test func vtdStormEveryFaultAndEveryDrop() {
        let (text, events, _) = Self.load("dmar-storm.log")
        let faults = events.filter { $0.kind == .dmaFault }
        #expect(faults.count == Self.lines(text, containing: "Request device ["))
        #expect(faults.allSatisfy { $0.device?.description == "0000:00:03.0" && $0.vendor == .intelVTd })
        #expect(faults.allSatisfy { $0.access == .write && $0.reason == 5 })
        let reads = Self.load("dmar.log").events.filter { $0.access == .read }
        #expect(reads.count == 2 && reads.allSatisfy { $0.reason == 6 && $0.address == IOVA(0x200000) })
        let dropped = events.filter { $0.kind == .suppressed }.compactMap(\.count).reduce(0, +)
        let printed = text.split(whereSeparator: \.isNewline).filter {
            $0.hasPrefix("[") && $0.contains("callbacks suppressed")
        }
        .compactMap { line in line.split(separator: " ").reversed().dropFirst(2).first.flatMap { UInt64($0) } }
        #expect(dropped == printed.reduce(0, +) && dropped > 0)
        #expect(events.filter { $0.kind == .suppressed }.count == Self.lines(text, containing: "callbacks suppressed"))
    }

    @Test func smmuv3RawRecordsDecodedThroughTheBinaryDecoder() {
        let (text, events, _) = Self.load("arm64-smmuv3-stub.log")
        let faults = events.filter { $0.kind == .dmaFault }
        #expect(faults.count == Self.lines(text, containing: "event 0x10 received"))
        #expect(faults.allSatisfy { $0.streamID == StreamID(0x10) && $0.address != nil && $0.raw?.count == 4 })
        #expect(faults.allSatisfy { $0.iommu == IOMMUInstance("9050000.smmuv3") })
        let unbound = Self.load("arm64-smmuv3-unbound.log").events
        #expect(!unbound.isEmpty && unbound.allSatisfy { $0.kind == .iommuError && $0.reason == 2 })
    }

    @Test func aerBurstOneEventPerReportedError() {
        let (text, events, _) = Self.load("aer-burst-rp2.log")
        #expect(events.count == Self.lines(text, containing: "error message received from"))
        #expect(events.allSatisfy { $0.kind == .aer && $0.severity != nil && $0.device != nil })
    }

    @Test func hotplugSlotEvents() {
        let (text, events, _) = Self.load("hotplug.log")
        let slotLines = ["Link Down", "Link Up", "Card present", "Card not present", "Attention button pressed"]
            .map { Self.lines(text, containing: "): " + $0) }.reduce(0, +)
        #expect(events.filter { $0.kind == .hotplug }.count == slotLines)
        #expect(events.allSatisfy { $0.device?.description == "0000:00:03.0" })
    }

    @Test func interruptStormOncePerReport() {
        let (text, events, _) = Self.load("irq-storm.log")
        #expect(events.count == Self.lines(text, containing: "nobody cared"))
        #expect(events.allSatisfy { $0.kind == .irqStorm && $0.irq == IRQNumber(21) })
    }
}
