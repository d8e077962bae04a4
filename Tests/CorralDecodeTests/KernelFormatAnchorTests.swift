import CorralCore
import Testing

@testable import CorralDecode

/// Do no harm, rule (b): a family's format is recognised only where the kernel's own format
/// starts. The kernel prints text that devices and users control inside its messages (USB
/// strings, SCSI inquiry data, input device names, firmware names); none of it is a record.
@Suite struct KernelFormatAnchorTests {
    static let vtd =
        "DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set"

    /// Each real format of each family, placed where a device or user controls the text.
    static let forged: [String] = [
        "usb 1-1: Product: \(vtd)",
        "usb 1-1: Manufacturer: \(vtd)",
        "usb 1-1: SerialNumber: \(vtd)",
        "input: \(vtd) as /devices/pci0000:00/0000:00:14.0/usb1/1-1/input/input7",
        "scsi 0:0:0:0: Direct-Access     \(vtd) PQ: 0 ANSI: 5",
        "hid-generic 0003:046D:C52B.0001: input,hidraw0: USB HID v1.11 Keyboard [\(vtd)] on usb-0000:00:14.0-1",
        "usb 1-1: Product: dmar: DMAR:[DMA Read] Request device [03:00.0] fault addr 1a45aa9000",
        "usb 1-1: Product: DMAR: DRHD: handling fault status reg 3",
        "usb 1-1: Product: AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x0000 address=0x1000 flags=0x0020]",
        "usb 1-1: Product: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x0000 address=0x1000 flags=0x0020]",
        "usb 1-1: Product: AMD-Vi: IOMMU event log overflow",
        "usb 1-1: Product: arm-smmu 15000000.iommu: Unhandled context fault: fsr=0x402, iova=0x1000, fsynr=0x11, cb=0",
        "usb 1-1: Unhandled context fault: fsr=0x402, iova=0x1000, fsynr=0x11, cbfrsynra=0x800, cb=0",
        "usb 1-1: event 0x10 received:",
        "usb 1-1: EVTQ overflow detected -- events lost",
        "usb 1-1: Product: pcieport 0000:00:1c.0: AER: Uncorrected (Fatal) error received: 0000:03:00.0",
        "usb 1-1: Product: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Receiver ID)",
        "usb 1-1: Product: DPC: containment event, status:0x1f01 source:0x0300",
        "usb 1-1: Product: Slot(7): Link Down",
        "usb 1-1: Product: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10",
        "usb 1-1: Product: irq 16: nobody cared (try booting with the \"irqpoll\" option)",
        "usb 1-1: Product: Disabling IRQ #16",
        "usb 1-1: Product: dmar_fault: 100000 callbacks suppressed",
        "Bluetooth: hci0: \(vtd)",
        "r8169 0000:02:00.0 eth0: Link is Up - \(vtd)",
    ]

    @Test(arguments: forged) func forgedTextIsNoRecord(_ line: String) {
        let (events, _) = KernelLogParser.parse(line + "\n" + line)
        #expect(events.isEmpty, "\(events)")
    }

    /// A device string holding a dmesg stamp and a fault line, in a dmesg log: by default the
    /// line is not split at the stamp (that is the opt-in `pasted` reading of forum pastes).
    @Test func forgedStampInADeviceStringSplitsNothing() {
        let line = "[    5.000000] usb 1-1: Product: x [    5.100000] \(Self.vtd)"
        #expect(KernelLogParser.parse(line).0.isEmpty)
        #expect(KernelLogParser.parse(line, format: .dmesg).0.isEmpty)
    }

    /// The same lines as the kernel prints them are still records (the anchors are not too strict).
    @Test func realRecordsStillDecode() {
        let real = [
            Self.vtd,
            "dmar: DMAR:[DMA Read] Request device [00:02.0] fault addr 1a45aa9000",
            "AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x0000 address=0x1000 flags=0x0020]",
            "nvme 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0xfbeaf000 flags=0x0000]",
            "iommu ivhd0: AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0000 address=0x1000 flags=0x0020]",
            "arm-smmu 15000000.iommu: Unhandled context fault: fsr=0x402, iova=0x1000, fsynr=0x11, cbfrsynra=0x800, cb=0",
            "pcieport 0000:00:1c.0: AER: Uncorrected (Fatal) error received: 0000:03:00.0",
            "pcieport 0000:00:1c.0: DPC: containment event, status:0x1f01 source:0x0300",
            "pcieport 0000:00:1c.0: pciehp: Slot(7): Link Down",
            "nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10",
            "irq 16: nobody cared (try booting with the \"irqpoll\" option)",
            "dmar_fault: 100000 callbacks suppressed",
        ]
        let (events, _) = KernelLogParser.parse(real.joined(separator: "\n"))
        #expect(
            events.map(\.kind) == [
                .dmaFault, .dmaFault, .dmaFault, .dmaFault, .dmaFault, .dmaFault, .aer, .dpc, .hotplug, .deviceLost,
                .irqStorm, .suppressed,
            ])
    }

    /// A kmsg record escapes a newline inside a device string as `\x0a`; undone, it must not
    /// start a record of its own.
    @Test func escapedNewlineInADeviceStringStartsNoRecord() {
        let record = "6,812,5000000,-;usb 1-1: Product: x\\x0a\(Self.vtd)"
        let (events, statistics) = KernelLogParser.parse(record, format: .kmsg)
        #expect(events.isEmpty && statistics.records == 1)
    }

    /// Finding 4: an old-form VT-d head whose reason line never comes must not swallow every
    /// later line containing `[fault reason` (a 3,000-fault storm from another device).
    @Test func malformedHeadDoesNotBlindTheParser() {
        var lines = ["dmar: DMAR:[DMA Read] Request device [00:02.0] fault addr 1a45aa9000"]
        lines += (0..<3_000).map { index in
            "DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x\(String(0x1000 * index, radix: 16)) [fault reason 0x05] PTE Write access is not set"
        }
        let (events, statistics) = KernelLogParser.parse(lines.joined(separator: "\n"))
        #expect(events.count == 3_001)
        #expect(events.filter { $0.device?.description == "0000:03:00.0" }.count == 3_000)
        #expect(events.first?.device?.description == "0000:00:02.0" && events.first?.reason == nil)
        #expect(statistics.malformed == 1)
        #expect(statistics.malformedExamples.first?.why.contains("without its '[fault reason' line") == true)
    }

    /// A continuation line printed by another emitter does not continue a report.
    @Test func continuationsComeFromTheSameEmitter() {
        let text = """
            arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:
            usb 1-1: Product: 0x0000001000000010
            arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000001000000010
            arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000020000000000
            arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000090000f04
            arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000
            """
        let (events, _) = KernelLogParser.parse(text)
        #expect(events.count == 1)
        #expect(events.first?.streamID == nil, "the report was cut by another emitter's line: no stream guessed")
    }
}

/// Do no harm, finding 8: a printed SMMUv3 event with STALL set is a fault the kernel failed
/// to resolve, not recoverable traffic.
@Suite struct PrintedStallTests {
    static func event(_ index: Int) -> String {
        let record = SMMUv3EventRecord(
            id: 0x10, streamID: StreamID(0x10), readNotWrite: false, stalled: true, stallTag: UInt16(index),
            inputAddress: 0x10_0000 + UInt64(index) * 0x1000)
        let words = [record.words.0, record.words.1, record.words.2, record.words.3]
        return
            (["arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:"]
            + words.map { "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x\(Hex.padded($0, width: 16))" })
            .joined(separator: "\n")
    }

    @Test func printedStallsAreFaultsAndAStormOfThemIsContained() {
        let text = (0..<2_000).map(Self.event).joined(separator: "\n")
        let (events, _) = KernelLogParser.parse(text)
        #expect(events.count == 2_000)
        #expect(events.allSatisfy { $0.kind == .dmaFault && $0.stalled && !$0.recoverable })
        var resolver = DeviceResolver()
        let nic = DeviceAddress.pci(PCIAddress(bus: 1, device: 0, function: 0)!)
        resolver.registerStream(
            SMMUStream(iommu: IOMMUInstance("arm-smmu-v3.0.auto"), streamID: StreamID(0x10)), device: nic)
        var policy = Policy()
        policy.mode = .enforce
        var engine = Engine(policy: policy, resolver: resolver)
        var decisions: [Decision] = []
        for (index, event) in events.enumerated() {
            guard let deviceEvent = event.deviceEvent else { continue }
            decisions += engine.handle(deviceEvent, at: .microseconds(Int64(index) * 500))
        }
        #expect(engine.status(of: nic)?.totals[.dmaFault] == 2_000)
        #expect(decisions.contains { $0.action == .clearBusMaster(PCIAddress(bus: 1, device: 0, function: 0)!) })
    }
}

/// Do no harm, finding 9: an SMMUv2 fault is held against its stream, wherever the kernel
/// printed it.
@Suite struct SMMUv2StreamTests {
    @Test(arguments: [
        // 4.x–6.10: CBFRSYNRA[15:0] is the StreamID.
        (
            "arm-smmu 15000000.iommu: Unhandled context fault: fsr=0x402, iova=0x9c4b9000, fsynr=0x7c0020, cbfrsynra=0x10800, cb=7",
            0x800
        ),
        // NVIDIA Tegra downstream.
        (
            "arm-smmu 12000000.iommu: Unhandled context fault: fsr=0x402, iova=0x1234000, fsynr=0x11, cb=3, sid=25(0x19 - HOST1X)",
            25
        ),
        // Qualcomm downstream: the SID= line comes after soft iova-to-phys=.
        (
            "arm-smmu 15000000.apps-smmu: Unhandled context fault: iova=0xa58c00d8, cb=5, fsr=0x40000402, fsynr0=0x360003, fsynr1=0x0\narm-smmu 15000000.apps-smmu: Client info: BID=0x0, PID=0x0, MID=0x0\narm-smmu 15000000.apps-smmu: soft iova-to-phys=0x0000000000000000\narm-smmu 15000000.apps-smmu: SID=0x40",
            0x40
        ),
    ])
    func streamIsFound(_ text: String, _ stream: UInt32) {
        let (events, _) = KernelLogParser.parse(text)
        #expect(events.count == 1)
        #expect(events.first?.streamID == StreamID(stream))
        guard case .dmaFault(let fault)? = events.first?.deviceEvent, case .stream(let source) = fault.source else {
            Issue.record("not held against a stream")
            return
        }
        #expect(source.streamID == StreamID(stream))
    }
}
