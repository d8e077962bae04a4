import CorralCore
import Testing

@testable import CorralDecode

/// Message variants from reference/kernel-anchors.md that the corpus does not contain.
@Suite struct FamilyTests {
    static func events(_ text: String) -> [LogEvent] { KernelLogParser.parse(text).0 }

    @Test func vtdGenerations() throws {
        let lines = [
            "DMAR: [DMA Read NO_PASID] Request device [0x00:0x02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set",
            "DMAR: [DMA Write PASID 0x1f] Request device [00:02.0] fault addr 0x2000 [fault reason 0x05] PTE Write access is not set",
            "DMAR: [DMA Write NO_PASID] Request device [0001:00:02.0] fault addr 0x3000 [fault reason 0x79] SM: Read/Write permission error in second-level paging entry",
            "DMAR: [INTR-REMAP] Request device [42:00.2] fault index 0x1600 [fault reason 0x25] Blocked a compatibility format interrupt request",
            "DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr 9c000000 [fault reason 06] PTE Read access is not set",
        ]
        let found = Self.events(lines.joined(separator: "\n"))
        #expect(found.map(\.kind) == [.dmaFault, .dmaFault, .dmaFault, .interruptRemapFault, .dmaFault])
        #expect(found[0].device?.description == "0000:00:02.0" && found[0].access == .read)
        #expect(found[1].pasid == PASID(0x1f) && found[1].access == .write)
        #expect(found[2].device?.description == "0001:00:02.0" && found[2].reason == 0x79)
        #expect(found[3].reason == 0x25 && found[3].address == nil)
        #expect(found[4].pasid == nil && found[4].reason == 6 && found[4].address == IOVA(0x9c00_0000))
    }

    /// Logs as bug trackers have them (issue 16): a vendor kernel's task prefix, a 3.x
    /// interrupt-remapping line with its doubled bracket, SMMUv2 lines without `fsr=`.
    @Test func oldAndDownstreamFormats() {
        let found = Self.events(
            """
            [  123.456789] [pid:123,cpu2,kworker/2:1]DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set
            INTR-REMAP: Request device [[f0:1f.0] fault index 15
            INTR-REMAP:[fault reason 34] Present field in the IRTE entry is clear
            [   10.0] arm-smmu 12000000.iommu: Unhandled context fault: iova=0x00001000, fsynr=0x11, cb=3, sid=25(0x19 - AFI)
            [   11.0] arm-smmu 5040000.smmu: Unexpected context fault (fsr 0x2)
            """)
        #expect(found.map(\.kind) == [.dmaFault, .interruptRemapFault, .dmaFault, .dmaFault])
        #expect(found[0].device?.description == "0000:03:00.0" && found[0].reason == 5)
        // 3.x printed the reason on a second line, in decimal (`%02d`): 34 = 0x22.
        #expect(found[1].device?.description == "0000:f0:1f.0" && found[1].reason == 0x22)
        #expect(found[1].reasonText == "Present field in the IRTE entry is clear" && found[1].lastLine == 3)
        #expect(found[2].streamID == StreamID(25) && found[2].reason == nil && found[2].access == .write)
        #expect(found[3].reason == 2 && found[3].iommu?.name == "5040000.smmu")
        #expect(KernelLogParser.parse("arm-smmu 1.smmu: Unhandled context fault: fsr=zz, iova=0x1").1.malformed == 1)
    }

    /// The other IOMMUs the kernel has (issue 16): each fault line is a fault of its unit, and
    /// of the stream or master it names; the units' own errors are iommu errors.
    @Test func otherIOMMUsAreFaultsOfTheirUnit() {
        let found = Self.events(
            """
            [   11.0] riscv,iommu 10001000.iommu: Fault 15 devid: 0x8 iotval: 80001000 iotval2: 0
            [   11.1] riscv,iommu 10001000.iommu: Fault 258 devid: 0x10 iotval: 0 iotval2: 0
            [   12.0] mtk-iommu 10205000.iommu: bank(0) fault type=0x5 iova=0x2000 pa=0x0 master=0x11(larb=1 port=2) layer=1 read
            [   12.1] mtk-iommu 10205000.iommu: fault type=0x5 iova=0x3000 pa=0x0 larb=1 port=2 layer=0 write
            [   13.0] ipmmu-vmsa e67b0000.iommu: Unhandled fault: status 0x00000101 iova 0x7000
            [   13.1] ipmmu-vmsa e67b0000.iommu: Page Table Walk Abort @0x7000
            [   14.0] rk_iommu ff900800.iommu: Page fault at 0x00000000ff800000 of type write
            [   14.1] rk_iommu ff900800.iommu: iova = 0x00000000ff800000: dte_index: 0x3fe pte_index: 0x0
            [   14.2] rk_iommu ff900800.iommu: BUS_ERROR occurred at 0x00000000ff800000
            [   15.0] apple-dart 382f00000.dart: translation fault: status:0x1 stream:3 code:0x2 (WRITE FAULT) at 0x12345000
            """)
        #expect(
            found.map(\.kind) == [
                .dmaFault, .iommuError, .dmaFault, .dmaFault, .dmaFault, .iommuError, .dmaFault, .iommuError, .dmaFault,
            ])
        #expect(
            found.map(\.vendor) == [
                .riscv, .riscv, .mediatek, .mediatek, .renesasIPMMU, .renesasIPMMU, .rockchip, .rockchip, .appleDART,
            ])
        #expect(found[0].streamID == StreamID(8) && found[0].address == IOVA(0x8000_1000) && found[0].access == .write)
        #expect(found[1].reason == 258 && found[1].address == nil)
        #expect(found[2].streamID == StreamID(0x11) && found[2].access == .read && found[2].address == IOVA(0x2000))
        #expect(found[3].streamID == nil && found[3].access == .write, "no master= before 5.13: the unit's fault")
        #expect(found[4].iommu?.name == "e67b0000.iommu" && found[4].reason == 0x101)
        #expect(found[6].address == IOVA(0xff80_0000) && found[6].access == .write)
        #expect(found[8].streamID == StreamID(3) && found[8].reasonText == "WRITE FAULT" && found[8].access == .write)
        // Held against the stream where one is named, else the unit: never against nobody.
        #expect(LogReplay.subject(found[0]).description == "10001000.iommu/sid=0x8")
        #expect(LogReplay.subject(found[6]).description == "iommu ff900800.iommu")
    }

    /// Qualcomm's `qcom_iommu` (issue 16): each context bank prints from its own device, in the
    /// SMMUv2 format before `cbfrsynra`; the bank is the fault's unit, its FSR the reason.
    @Test func qualcommIOMMUContextBankFault() {
        let found = Self.events(
            """
            [   30.0] qcom-iommu-ctx 1ef4000.iommu-ctx: Unhandled context fault: fsr=0x402, iova=0x0000000012345000, fsynr=0x11, cb=3
            [   30.1] qcom-iommu-ctx 1ef5000.iommu-ctx: Unhandled context fault: fsr=0x2, iova=0x0000000000001000, fsynr=0x0, cb=4
            [   30.2] qcom-iommu 1ef0000.iommu: Unhandled context fault: fsr=0x2, iova=0x1000, fsynr=0x0, cb=1
            [   30.3] qcom-camss 1b00000.camss: Unhandled context fault: fsr=0x2, iova=0x1000, fsynr=0x0, cb=1
            """)
        #expect(found.map(\.kind) == [.dmaFault, .dmaFault, .dmaFault])
        #expect(found.map(\.vendor) == [.armSMMU, .armSMMU, .armSMMU])
        #expect(found[0].iommu?.name == "1ef4000.iommu-ctx" && found[0].reason == 0x402)
        #expect(found[0].address == IOVA(0x1234_5000) && found[0].access == .write)
        #expect(found[1].iommu?.name == "1ef5000.iommu-ctx" && found[1].access == .read)
        #expect(LogReplay.subject(found[0]).description == "iommu 1ef4000.iommu-ctx")
        // A driver that is neither an SMMU nor a qcom_iommu bank does not print this line.
        #expect(KernelLogParser.parse("qcom-camss 1b00000.camss: Unhandled context fault: fsr=0x2").0.isEmpty)
    }

    /// A forum paste joins dmesg lines: each stamp starts its own line again, and a bracketed
    /// number inside a message ("[fault reason 05]", "[ 12.3]") does not split one.
    @Test func joinedDmesgLinesAreSplit() {
        let joined =
            "[    1.000000] DMAR: [DMA Write] Request device [03:00.0] fault addr 1000 [fault reason 05] PTE Write "
            + "access is not set [    1.100000] DMAR: [DMA Write] Request device [03:00.0] fault addr 2000 "
            + "[fault reason 05] PTE Write access is not set [    1.200000] pcieport 0000:00:1c.0: AER: "
            + "Corrected error received: 0000:01:00.0\n[    2.000000] nvme nvme0: took [ 12.3] s, [1.000000]"
        let (found, statistics) = KernelLogParser.parse(joined, pasted: true)
        #expect(found.map(\.kind) == [.dmaFault, .dmaFault, .aer])
        #expect(found.map(\.address) == [IOVA(0x1000), IOVA(0x2000), nil])
        #expect(found.allSatisfy { $0.line == 1 }, "numbered as the physical line")
        #expect(found[1].time?.nanoseconds == 1_100_000_000)
        #expect(statistics.splitJoinedLines == 2 && statistics.lines == 2)
        #expect(KernelLogParser.parse(joined).0.count == 1, "not split unless asked")
    }

    /// Older NVMe and PCI-core wordings of a device that no longer answers (issue 16).
    @Test func olderDeviceLostWordings() {
        let found = Self.events(
            """
            [    3.0] nvme 0000:05:00.0: Failed status: 0xffffffff, reset controller.
            [    3.1] nvme 0000:05:00.0: Failed status: 0x3, reset controller.
            [    3.2] nvme nvme1: Device not ready; aborting reset, CSTS=0xffffffff
            [    3.3] nvme nvme1: Device not ready; aborting reset, CSTS=0x1
            """)
        #expect(found.map(\.kind) == [.deviceLost, .deviceLost])
        #expect(found.map(\.device?.description) == ["0000:05:00.0", nil])
        #expect(found.map(\.line) == [1, 3])
    }

    /// A fault reporter's line in a format no family knows is shown, not passed over in
    /// silence; noise and the known lines without an event (AER recovery) are not.
    @Test func unknownFormatsFromFaultReportersAreCounted() {
        let (found, statistics) = KernelLogParser.parse(
            """
            [    1.0] arm-smmu 15000000.iommu: Unhandled context fault: fsr=0x402, iova=0x1000, fsynr=0x11, cb=3
            [    1.1] s390-iommu 0001: some future fault wording 0x1000
            [    1.2] DMAR: a wording from a newer kernel
            [    1.3] pcieport 0000:00:1c.0: AER: device recovery failed
            [    1.4] pcieport 0000:00:1c.0: AER: a new AER line
            [    1.5] usb 1-1: new high-speed USB device number 2 using xhci_hcd
            [    1.6] arm-smmu 15000000.iommu: FSYNR0 = 007c0020 [S1CBNDX=124 PNU PLVL=0]
            """)
        #expect(found.count == 1)
        #expect(statistics.unrecognized == 3 && statistics.unrecognizedLines == [2, 3, 5])
        #expect(statistics.knownWithoutEvent >= 1)
    }

    /// Asked for (`--pasted`), a kernel line pasted into prose is found in plain text; not by
    /// default, and never in a prefixed log (and so in /dev/kmsg), where a format must start
    /// the message: text inside a message is never read.
    @Test func pastedLinesInsideProse() {
        let prose =
            "I keep getting this: DMAR: [DMA Write] Request device [04:00.0] fault addr 3000 [fault reason 05] "
            + "PTE Write access is not set, any ideas?"
        let (found, statistics) = KernelLogParser.parse(prose, pasted: true)
        #expect(found.map(\.device?.description) == ["0000:04:00.0"] && statistics.foundInProse == 1)
        #expect(KernelLogParser.parse(prose).0.isEmpty, "off by default")
        let (inLog, _) = KernelLogParser.parse(
            "[    5.000000] usb 1-1: Product: DMAR: [DMA Write] Request device [04:00.0] fault addr 3000 "
                + "[fault reason 05] PTE Write access is not set", pasted: true)
        #expect(inLog.isEmpty, "device-controlled text in a kernel record is never a fault report")
    }

    /// Qualcomm's downstream report: the stream comes from the `SID=` line after
    /// `soft iova-to-phys=`, not from the first line's `cbfrsynra=`.
    @Test func qualcommSIDLineWinsOverCbfrsynra() {
        let found = Self.events(
            """
            [   20.0] arm-smmu 15000000.iommu: Unhandled context fault: fsr=0x402, iova=0x00001000, fsynr=0x3a0001, cbfrsynra=0x0, cb=5
            [   20.0] arm-smmu 15000000.iommu: FAR    = 0x0000000000001000
            [   20.0] arm-smmu 15000000.iommu: soft iova-to-phys=0x0000000000000000
            [   20.0] arm-smmu 15000000.iommu: SID=0x1c40
            [   20.0] arm-smmu 15000000.iommu: Client info: BID=0x5, PID=0x0, MID=0x1
            """)
        #expect(found.count == 1 && found.first?.streamID == StreamID(0x1c40) && found.first?.lastLine == 5)
    }

    @Test func vtdStatusRegisterOnlyWithOverflowIsAnEvent() {
        let found = Self.events("DMAR: DRHD: handling fault status reg 2\nDMAR: DRHD: handling fault status reg 103")
        #expect(found.count == 1 && found[0].kind == .queueOverflow && found[0].status == 0x103)
    }

    @Test func amdSplitRecordAndUnknownWords() {
        let found = Self.events(
            """
            [    1.0] AMD-Vi: Event logged [
            [    1.1] IO_PAGE_FAULT device=0001:05:00.0 domain=0x0012 address=0xff6101b0 flags=0x0050]
            [    2.0] iommu ivhd0: AMD-Vi: Event logged [UNKNOWN event[0]=0x00000500 event[1]=0x70000000 event[2]=0x1000 event[3]=0x0]
            [    3.0] AMD-Vi: Event logged [Device not attached to domain properly]
            [    4.0] AMD-Vi: IOMMU event log overflow
            [    5.0] AMD-Vi: Completion-Wait loop timed out
            """)
        #expect(found.map(\.kind) == [.dmaFault, .iommuError, .queueOverflow, .iommuError])
        #expect(found[0].line == 1 && found[0].device?.description == "0001:05:00.0" && found[0].access == .read)
        #expect(found[1].reason == 7 && found[1].reasonText == "IOTLB_INV_TIMEOUT")
        #expect(found[3].reason == nil)
    }

    @Test func amdEventWithNoBodyIsCountedMalformed() {
        let (events, statistics) = KernelLogParser.parse("[ 1.0] AMD-Vi: Event logged [\n[ 2.0] usb 1-1: reset")
        #expect(events.isEmpty && statistics.malformed == 1)
    }

    @Test func smmuv3DecodedLineAloneAndOverflow() {
        let found = Self.events(
            """
            arm-smmu-v3 fc900000.iommu: event: F_PERMISSION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x1000 ipa: 0x0
            arm-smmu-v3 fc900000.iommu: priv data read s1 "Input address caused fault" stag: 0x0
            arm-smmu-v3 fc900000.iommu: EVTQ overflow detected -- events lost
            """)
        #expect(found.map(\.kind) == [.dmaFault, .queueOverflow])
        #expect(found[0].reason == 0x13 && found[0].device?.description == "0000:01:00.0" && found[0].access == .read)
        #expect(found[0].streamID == StreamID(0x100) && found[0].lastLine == 2)
    }

    @Test func smmuv2BlockedStreamIsAGlobalFaultWithItsStream() {
        let found = Self.events(
            """
            arm-smmu 5040000.smmu: Blocked unknown Stream ID 0x800; boot with "arm-smmu.disable_bypass=0" to allow, but this may have security implications
            arm-smmu 5040000.smmu: \tGFSR 0x80000002, GFSYNR0 0x00000000, GFSYNR1 0x00000800, GFSYNR2 0x00000000
            arm-smmu 5040000.smmu: Unhandled context fault: fsr=0x408, iova=0x00001000, fsynr=0x11, cb=0
            """)
        #expect(found.map(\.kind) == [.iommuError, .dmaFault])
        #expect(found[0].streamID == StreamID(0x800) && found[0].iommu == IOMMUInstance("5040000.smmu"))
        #expect(found[1].access == .write && found[1].reason == 0x408 && found[1].streamID == nil)
    }

    @Test func aerHeadersOfEveryGeneration() {
        let found = Self.events(
            """
            pcieport 0000:00:1c.0: AER: Uncorrectable (Non-Fatal) error message received from 0000:03:00.0 (no details found)
            pcieport 0000:00:1c.0: AER: Multiple Uncorrected (Fatal) error received: 0000:04:00.0
            pcieport 0000:04:00.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Receiver ID)
            pcieport 0000:04:00.1: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Receiver ID)
            pcieport 0000:00:1c.0: AER: Corrected error received: 0000:05:00.0
            pcieport 0000:05:00.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)
            pcieport 0000:05:00.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)
            """)
        #expect(found.map(\.severity) == [.nonFatal, .fatal, .corrected, .corrected])
        #expect(
            found.map { $0.device?.description ?? "-" } == [
                "0000:03:00.0", "0000:04:00.0", "0000:05:00.0", "0000:05:00.0",
            ])
        #expect(
            found.map(\.line) == [1, 2, 5, 7],
            "Multiple absorbs its details; a second detail after a single header is its own error")
    }

    @Test func dpcHotplugLostAndStorms() {
        let found = Self.events(
            """
            pcieport 0000:00:1c.0: DPC: containment event, status:0x1f05 source:0x0300
            pcieport 0000:00:1c.0: DPC: ERR_FATAL detected
            pciehp 0000:00:1c.0:pcie004: Card not present on Slot(3)
            pcieport 0000:00:1c.0: pciehp: Slot(3): Attention button pressed
            nvme 0000:03:00.0: Removing after probe failure status: -19
            nvme nvme0: controller is down; will reset: CSTS=0x3, PCI_STATUS=0x10
            Disabling IRQ #44
            kernel: dmar_fault: 12 callbacks suppressed
            """)
        #expect(found.map(\.kind) == [.dpc, .hotplug, .hotplug, .deviceLost, .irqStorm, .suppressed])
        #expect(found[0].severity == .fatal && found[0].status == 0x1f05)
        #expect(found[1].slotChange == .cardNotPresent && found[2].slotChange == .attentionButton)
        #expect(found[3].device?.description == "0000:03:00.0")
        #expect(found[4].irq == IRQNumber(44) && found[5].count == 12 && found[5].function == "dmar_fault")
    }

    @Test func malformedFieldsAreCountedNotFatal() {
        let (events, statistics) = KernelLogParser.parse(
            """
            DMAR: [DMA Read NO_PASID] Request device [zz:02.0] fault addr 0x1000 [fault reason 0x06]
            arm-smmu 1.smmu: Unhandled context fault: fsr=, iova=0x1
            irq : nobody cared (try booting with the "irqpoll" option)
            """)
        #expect(events.isEmpty)
        #expect(statistics.malformed == 3 && statistics.malformedExamples.map(\.line) == [1, 2, 3])
    }
}
