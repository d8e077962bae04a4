import CorralCore
import Testing

@testable import CorralDecode

/// Every line prefix the parser recognises, each with the same VT-d fault behind it.
@Suite struct LineFormatTests {
    static let fault =
        "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd80000 [fault reason 0x01] Present bit in root entry is clear"

    static func single(_ line: String, format: LogFormat? = nil) -> (LogEvent?, LogStatistics) {
        let (events, statistics) = KernelLogParser.parse(line, format: format)
        return (events.first, statistics)
    }

    @Test(arguments: [
        ("[  139.513963] ", LogFormat.dmesg, LogTime.Clock.sinceBoot),
        ("[  139.513963] [    T140] ", .dmesg, .sinceBoot),
        ("<3>[  139.513963] ", .dmesg, .sinceBoot),
        ("kern  :err   : [  139.513963] ", .dmesg, .sinceBoot),
        ("[Thu Oct 22 08:54:51 2020] ", .dmesgWallClock, .wallClock),
        ("[Ter Set 19 06:01:41 2017] ", .dmesgWallClock, .wallClock),
        ("Nov  9 11:20:38 debian kernel: ", .syslog, .wallClock),
        ("Nov  9 11:20:38.123456 debian kernel: ", .syslog, .wallClock),
        ("фев 12 00:48:02 kernel: ", .syslog, .wallClock),
        ("Mar 15 13:15:29 brusnica kernel: [  170.631400] ", .syslog, .sinceBoot),
        ("2024-01-15T10:23:45.123456+01:00 host kernel: ", .rfc3339, .wallClock),
        ("2024-01-15T10:23:45Z host kernel: ", .rfc3339, .wallClock),
        ("2024-01-15T10:23:45,123456+0100 ", .rfc3339, .wallClock),
        ("3,1557,460720104,-;", .kmsg, .sinceBoot),
        ("[   12.345678] myhost kernel: ", .dmesg, .sinceBoot),
        ("kernel: [   13.134460] ", .dmesg, .sinceBoot),
        ("mestuary:/$ [12508.408576] ", .dmesg, .sinceBoot),
        ("> > [  139.513963] ", .dmesg, .sinceBoot),
        // A log viewer's offset column (Qualcomm tool exports in bug reports).
        ("0x000000000277BBFA |   1263.468579:   ", .dmesg, .sinceBoot),
        ("0x00001F00 | [  139.513963] ", .dmesg, .sinceBoot),
    ])
    func prefixIsRecognised(_ prefix: String, _ format: LogFormat, _ clock: LogTime.Clock) throws {
        let (event, statistics) = Self.single(prefix + Self.fault)
        let fault = try #require(event, "no event from \(prefix)")
        #expect(fault.kind == .dmaFault && fault.device?.description == "0000:00:02.0" && fault.reason == 1)
        #expect(fault.time?.clock == clock)
        #expect(statistics.formats[format] == 1, "\(statistics.formats)")
    }

    /// An SMMU report under an offset column: without the column read as a prefix, its lines
    /// were joined into one wrapped record and no event came out, with no warning.
    @Test func anOffsetColumnKeepsAReportsLinesApart() throws {
        let (events, statistics) = KernelLogParser.parse(
            """
            0x00000000001A2B3C |    812.004211:   arm-smmu 15000000.iommu: Unhandled context fault: fsr=0x402, iova=0x80001000, fsynr=0x10003, cbfrsynra=0x1c0, cb=3
            0x00000000001A2C10 |    812.004290:   arm-smmu 15000000.iommu: FSR    = 00000402 [TF ], SID=0x1c0
            0x00000000001A2C88 |    812.004302:   some_driver 2000000.remoteproc: unrelated message that is long enough to wrap
            """)
        let fault = try #require(events.first)
        #expect(events.count == 1)
        #expect(fault.kind == .dmaFault && fault.streamID == StreamID(0x1c0) && fault.address == IOVA(0x8000_1000))
        #expect(fault.time == LogTime(clock: .sinceBoot, nanoseconds: 812_004_211_000))
        #expect(statistics.formats[.dmesg] == 3 && statistics.joinedLines == 0)
    }

    @Test func bootTimeIsExact() throws {
        let (event, _) = Self.single("[  139.513963] " + Self.fault)
        #expect(event?.time == LogTime(clock: .sinceBoot, nanoseconds: 139_513_963_000))
        let (kmsg, _) = Self.single("3,1557,460720104,-;" + Self.fault)
        #expect(kmsg?.time == LogTime(clock: .sinceBoot, nanoseconds: 460_720_104_000))
    }

    @Test func otherProgramsAreNotKernelMessages() {
        let (event, statistics) = Self.single("Nov  9 11:20:38 debian rasdaemon[812]: " + Self.fault)
        #expect(event == nil && statistics.nonKernel == 1)
        let (traced, traceStatistics) = Self.single(
            "irq/26-aerdrv-47 [000] ..... 3.865734: aer_event: 0000:00:04.0 PCIe Bus Error: severity=Corrected, Receiver Error"
        )
        #expect(traced == nil && traceStatistics.nonKernel == 1)
    }

    @Test func forcedFormatTakesOtherPrefixesAsText() {
        let (event, statistics) = Self.single("[  139.513963] " + Self.fault, format: .kmsg)
        #expect(event?.time == nil && statistics.formats[.bare] == 1)
    }

    @Test func kmsgDictionaryAndWrappedLinesJoinTheirRecord() {
        let text = """
            3,1557,460720104,-;pcieport 0000:00:1c.0: pciehp: Slot(1): 
            Link Down
             SUBSYSTEM=pci
             DEVICE=+pci:0000:00:1c.0
            6,1558,460720200,-;usb 1-1: new device
            """
        let (events, statistics) = KernelLogParser.parse(text)
        #expect(events.count == 1 && events.first?.slotChange == .linkDown && events.first?.lastLine == 4)
        #expect(statistics.records == 2 && statistics.dictionaryLines == 2 && statistics.joinedLines == 1)
    }

    @Test func quotedPrintableIsDecoded() {
        let text = """
            May 27 14:24:22 youpi kernel: AMD-Vi: Event logged [IO_PAGE_FAULT device=3D0000:03:00.0 domain=3D0x0000 addr=
            ess=3D0xfc189000 flags=3D0x0020]
            """
        let (events, _) = KernelLogParser.parse(text)
        #expect(events.count == 1)
        #expect(events.first?.device?.description == "0000:03:00.0" && events.first?.access == .write)
        #expect(events.first?.address == IOVA(0xfc18_9000))
    }

    @Test func wrappedLinesWithoutPrefixesJoinOnlyAfterALongLine() {
        let wrapped = """
            DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd80000 [fault
            reason 0x01] Present bit in root entry is clear
            Dazed and confused
            but trying to continue
            Disabling IRQ #16
            """
        let (events, statistics) = KernelLogParser.parse(wrapped)
        #expect(events.map(\.kind) == [.dmaFault, .irqStorm])
        #expect(events.first?.reason == 1 && events.first?.lastLine == 2)
        #expect(statistics.records == 4, "the short 'Dazed and confused' line does not swallow the next")
    }

    @Test func journalJSONAndColourEscapes() throws {
        let json =
            #"{"__REALTIME_TIMESTAMP":"1700000000000000","__MONOTONIC_TIMESTAMP":"139513963","_TRANSPORT":"kernel","MESSAGE":"DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd80000 [fault reason 0x01] Present bit in root entry is clear","PRIORITY":"3"}"#
        let (event, statistics) = Self.single(json)
        #expect(event?.device?.description == "0000:00:02.0" && event?.reason == 1)
        #expect(event?.time == LogTime(clock: .sinceBoot, nanoseconds: 139_513_963_000))
        #expect(statistics.formats[.journalJSON] == 1)
        let (other, otherStatistics) = Self.single(#"{"_TRANSPORT":"syslog","MESSAGE":"DMAR: nothing"}"#)
        #expect(other == nil && otherStatistics.nonKernel == 1)
        let coloured = "\u{1B}[32m[  139.513963] \u{1B}[0m\u{1B}[33mDMAR: \u{1B}[0m" + Self.fault.dropFirst(6)
        let (colourEvent, _) = Self.single(coloured)
        #expect(colourEvent?.time?.clock == .sinceBoot && colourEvent?.reason == 1)
    }
}
