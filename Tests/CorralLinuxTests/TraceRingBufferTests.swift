import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

/// The binary tracefs reader: pages of `trace_pipe_raw` walked by the layout of
/// include/linux/ring_buffer.h, records read where each event's `format` file puts its fields.
@Suite struct TraceRingBufferTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tracefs")

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: fixtures.appendingPathComponent(name))
    }

    /// A page a real kernel wrote (the proving ground's 6.12 guest, 30 `iommu:dma_fault`
    /// events): every record found, in order, with the fields its format file describes.
    @Test func aRealPageGivesItsThirtyRecords() throws {
        let format = try #require(
            TraceEventFormat(text: String(decoding: try Self.fixture("dma_fault.format"), as: UTF8.self)))
        #expect(format.name == "dma_fault")
        #expect(format.id == 325)
        #expect(format.fields["device"]?.location == .dataLoc)
        #expect(format.fields["count"] == .init(name: "count", offset: 16, size: 8, isSigned: false, location: .inline))
        let header = TraceRingBufferPage.Header(text: String(decoding: try Self.fixture("header_page"), as: UTF8.self))
        #expect(header == TraceRingBufferPage.Header())
        let page = try Self.fixture("cpu0.trace_pipe_raw")
        var counts: [UInt64] = []
        var devices: Set<String> = []
        var times: [UInt64] = []
        let summary = page.withUnsafeBytes { bytes in
            TraceRingBufferPage.forEachRecord(in: bytes, header: header) { time, record in
                #expect(TraceEventFormat.load(record, at: 0, size: 2) == 325)
                counts.append(format.integer("count", in: record) ?? 0)
                devices.insert(format.string("device", in: record) ?? "?")
                times.append(time)
            }
        }
        #expect(summary == TraceRingBufferPage.Summary(events: 30, missed: nil, lostSome: false, malformed: false))
        #expect(counts == Array(1...30))
        #expect(devices == ["0000:01:00.0"])
        #expect(times == times.sorted())
        #expect(times.first == 0x1_66e4_dc6c)
    }

    /// A page built by the documented rules: a small record, a time extension, a large record
    /// (type_len 0), a discarded event (padding with a length), then the page's end padding.
    static func page(records: [[UInt8]], missed: UInt64? = nil, truncateTo: Int? = nil) -> [UInt8] {
        var data: [UInt8] = []
        func word(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data += $0 } }
        for (index, record) in records.enumerated() {
            let padded = record + [UInt8](repeating: 0, count: (4 - record.count % 4) % 4)
            if index == 1 {
                // A time extension: 3 << 27 + 5 ns.
                word(30 | 5 << 5)
                word(3)
            }
            if index == 2 {
                // A discarded event (`rb_event_discard()`): padding whose first word says how
                // many bytes follow the header, that word included; delta 7.
                word(29 | 7 << 5)
                word(12)
                data += [UInt8](repeating: 0xEE, count: 8)
            }
            if padded.count > 112 || index == 0 {
                word(0 | 10 << 5)
                word(UInt32(padded.count + 4))
            } else {
                word(UInt32(padded.count / 4) | 10 << 5)
            }
            data += padded
        }
        var page: [UInt8] = []
        withUnsafeBytes(of: UInt64(1_000).littleEndian) { page += $0 }
        var commit = UInt64(data.count)
        if let missed {
            commit |= TraceRingBufferPage.missedEvents | TraceRingBufferPage.missedStored
            withUnsafeBytes(of: missed.littleEndian) { data += $0 }
        }
        withUnsafeBytes(of: commit.littleEndian) { page += $0 }
        page += data
        page += [UInt8](repeating: 0, count: max(0, 4096 - page.count))
        if let truncateTo { page = Array(page.prefix(truncateTo)) }
        return page
    }

    /// The fields every event starts with (`struct trace_entry`).
    static let commonFields = """
        	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
        	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
        	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
        	field:int common_pid;	offset:4;	size:4;	signed:1;
        """

    static let faultFormat = """
        name: io_page_fault
        ID: 77
        format:
        \(TraceRingBufferTests.commonFields)

        	field:__data_loc char[] device;	offset:8;	size:4;	signed:0;
        	field:__data_loc char[] driver;	offset:12;	size:4;	signed:0;
        	field:u64 iova;	offset:16;	size:8;	signed:0;
        	field:int flags;	offset:24;	size:4;	signed:1;

        print fmt: "IOMMU:%s %s iova=0x%016llx flags=0x%04x", __get_str(driver), __get_str(device), REC->iova, REC->flags
        """

    /// An `io_page_fault` record as the kernel lays it out for `faultFormat`.
    static func faultRecord(device: String, driver: String, iova: UInt64, flags: Int32) -> [UInt8] {
        var record: [UInt8] = []
        withUnsafeBytes(of: UInt16(77).littleEndian) { record += $0 }
        record += [0, 0, 1, 0, 0, 0]
        let deviceBytes = Array(device.utf8) + [0]
        let driverBytes = Array(driver.utf8) + [0]
        withUnsafeBytes(of: (UInt32(deviceBytes.count) << 16 | 28).littleEndian) { record += $0 }
        withUnsafeBytes(of: (UInt32(driverBytes.count) << 16 | UInt32(28 + deviceBytes.count)).littleEndian) {
            record += $0
        }
        withUnsafeBytes(of: iova.littleEndian) { record += $0 }
        withUnsafeBytes(of: flags.littleEndian) { record += $0 }
        return record + deviceBytes + driverBytes
    }

    @Test func recordsOfEveryEncodingAreReadAndDecodedAsTheTextIs() throws {
        var decoder = RawTraceDecoder(faultVendor: .amdVi)
        let added = decoder.add(try #require(TraceEventFormat(text: Self.faultFormat)))
        #expect(added)
        let long = "0000:01:00.0"
        let records = [
            Self.faultRecord(device: long, driver: "amdgpu", iova: 0xfc18_9000, flags: 0x21),
            Self.faultRecord(device: long, driver: "amdgpu", iova: 0x1000, flags: 0),
            // A record over 112 bytes is written with type_len 0 and its length in a word.
            Self.faultRecord(device: long, driver: String(repeating: "d", count: 120), iova: 0x2000, flags: 1),
        ]
        let page = Self.page(records: records, missed: 42)
        var events: [DeviceEvent] = []
        var times: [UInt64] = []
        let summary = page.withUnsafeBytes { bytes in
            TraceRingBufferPage.forEachRecord(in: bytes) { time, record in
                times.append(time)
                if let event = decoder.event(record) { events.append(event) }
            }
        }
        #expect(summary.events == 3)
        #expect(summary.missed == 42)
        #expect(summary.lostSome)
        #expect(!summary.malformed)
        // Deltas: 10; then 5 + 3 << 27 (extension) + 10; then 7 (discarded event) + 10.
        let first: UInt64 = 1_010
        let second: UInt64 = first + 5 + (3 << 27) + 10
        let third: UInt64 = second + 7 + 10
        #expect(times == [first, second, third])
        let text = [
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:amdgpu 0000:01:00.0 iova=0x00000000fc189000 flags=0x0021",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:amdgpu 0000:01:00.0 iova=0x0000000000001000 flags=0x0000",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:ddd 0000:01:00.0 iova=0x0000000000002000 flags=0x0001",
        ].compactMap { TraceSource.parse($0, faultVendor: .amdVi) }
        #expect(events == text)
    }

    /// A page cut short or a record claiming more bytes than the page has: counted as
    /// malformed, nothing read past the data, never a trap.
    @Test func aDamagedPageIsMalformedNotRead() {
        let record = Self.faultRecord(device: "0000:01:00.0", driver: "x", iova: 1, flags: 0)
        for cut in [0, 8, 15, 40] {
            let page = Self.page(records: [record], truncateTo: cut)
            let summary = page.withUnsafeBytes { TraceRingBufferPage.forEachRecord(in: $0) { _, _ in } }
            #expect(summary.malformed, "cut at \(cut)")
            #expect(summary.events == 0)
        }
        var page = Self.page(records: [record])
        // The large record's length word says 4,000 bytes.
        page[16 + 4] = 0xA0
        page[16 + 5] = 0x0F
        let summary = page.withUnsafeBytes { TraceRingBufferPage.forEachRecord(in: $0) { _, _ in } }
        #expect(summary.malformed)
        #expect(summary.events == 0)
    }

    @Test func formatsThatCannotBeReadAreRefused() {
        #expect(TraceEventFormat(text: "name: x\nformat:\n") == nil)
        #expect(TraceEventFormat(text: "name: x\nID: 3\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n") == nil)
        var decoder = RawTraceDecoder(faultVendor: .amdVi)
        // An io_page_fault without its iova field is not decoded at all.
        let partial = TraceEventFormat(
            text: "name: io_page_fault\nID: 9\n\tfield:__data_loc char[] device;\toffset:8;\tsize:4;\tsigned:0;\n")
        #expect(partial != nil)
        let added = decoder.add(partial!)
        #expect(!added)
        #expect(decoder.eventIDs.isEmpty)
    }
}

/// The daemon's tracepoint source reads the binary per-CPU buffers when the formats are there,
/// and makes of them what it makes of the text pipe.
@Suite struct RawTraceSourceTests {
    static let aerFormat = """
        name: aer_event
        ID: 78
        format:
        \(TraceRingBufferTests.commonFields)

        	field:__data_loc char[] dev_name;	offset:8;	size:4;	signed:0;
        	field:u32 status;	offset:12;	size:4;	signed:0;
        	field:u8 severity;	offset:16;	size:1;	signed:0;
        	field:u8 tlp_header_valid;	offset:17;	size:1;	signed:0;
        	field:u32 tlp_header[4];	offset:20;	size:16;	signed:0;
        """
    static let hotplugFormat = """
        name: pci_hp_event
        ID: 79
        format:
        \(TraceRingBufferTests.commonFields)

        	field:__data_loc char[] port_name;	offset:8;	size:4;	signed:0;
        	field:__data_loc char[] slot;	offset:12;	size:4;	signed:0;
        	field:int event;	offset:16;	size:4;	signed:1;
        """

    /// A record: the common header with `id`, `fixed` bytes of fields set by `set`, then the
    /// strings its `__data_loc` words at `strings` point to.
    static func record(id: UInt16, fixed: Int, strings: [(Int, String)], set: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: fixed)
        bytes[0] = UInt8(id & 0xFF)
        bytes[1] = UInt8(id >> 8)
        set(&bytes)
        for (offset, text) in strings {
            let value = Array(text.utf8) + [0]
            let word = UInt32(value.count) << 16 | UInt32(bytes.count)
            withUnsafeBytes(of: word.littleEndian) {
                for (index, byte) in $0.enumerated() { bytes[offset + index] = byte }
            }
            bytes += value
        }
        return bytes
    }

    @Test func pagesAreReadInsteadOfTheTextPipeWithTheSameEvents() throws {
        let fake = FakeSysfs.machine()
        let instance = TraceSource.instance
        for event in TraceSource.events { fake.file("\(instance)/events/\(event)/enable", "0") }
        fake.file("\(instance)/events/iommu/io_page_fault/format", TraceRingBufferTests.faultFormat)
        fake.file("\(instance)/events/ras/aer_event/format", Self.aerFormat)
        fake.file("\(instance)/events/pci/pci_hp_event/format", Self.hotplugFormat)
        fake.file(
            "/sys/kernel/tracing/events/header_page",
            String(decoding: try TraceRingBufferTests.fixture("header_page"), as: UTF8.self))
        fake.file("/sys/class/iommu/ivhd0/uevent", "")
        // The text pipe holds something else: it must not be read once pages are.
        fake.file(
            "\(instance)/trace_pipe", "x-1 [000] ..... 1.0: io_page_fault: IOMMU:a 0000:09:00.0 iova=0x1 flags=0x0\n")
        let aer = (0..<12).map { _ in
            Self.record(id: 78, fixed: 36, strings: [(8, "0000:07:00.0")]) { $0[16] = 2 }
        }
        let faults = (0..<3).map { index in
            TraceRingBufferTests.faultRecord(
                device: "0000:01:00.0", driver: "amdgpu", iova: 0xfc18_9000 + UInt64(index) << 12, flags: 1)
        }
        let hotplug = Self.record(id: 79, fixed: 20, strings: [(8, "0000:06:01.0"), (12, "7")]) { $0[16] = 1 }
        let cpu0 = TraceRingBufferTests.page(records: aer)
        let cpu1 = TraceRingBufferTests.page(records: faults + [hotplug], missed: 5)
        for (cpu, page) in [("cpu0", cpu0), ("cpu1", cpu1)] {
            fake.file("\(instance)/per_cpu/\(cpu)/stats", "")
            try Data(page).write(
                to: URL(fileURLWithPath: fake.sysRoot.resolve("\(instance)/per_cpu/\(cpu)/trace_pipe_raw")))
        }
        let source = try #require(TraceSource(root: fake.sysRoot))
        #expect(source.readsRawPages)
        let events = source.read()
        let expected: [DeviceEvent] =
            Array(
                repeating: .aerError(AERError(device: try PCIAddress(parsing: "0000:07:00.0"), severity: .corrected)),
                count: 12)
            + (0..<3).map { index in
                .dmaFault(
                    DMAFault(
                        source: .requester(segment: 0, RequesterID(rawValue: 0x0100)), vendor: .amdVi, kind: .other,
                        access: .write, address: IOVA(0xfc18_9000 + UInt64(index) << 12)))
            } + [.linkChanged(port: try PCIAddress(parsing: "0000:06:01.0"), up: false)]
        #expect(events == expected)
        #expect(source.lostRecords == 5)
        #expect(source.pagesAfterLoss == 1)
        #expect(source.malformedPages == 0)
        #expect(source.read().isEmpty)
    }

    /// Without a readable format for an enabled event, the text pipe is read: nothing is left
    /// unread because one event's layout is unknown.
    @Test func aMissingFormatKeepsTheTextPipe() throws {
        let fake = FakeSysfs.machine()
        let instance = TraceSource.instance
        for event in TraceSource.events { fake.file("\(instance)/events/\(event)/enable", "0") }
        fake.file("\(instance)/events/iommu/io_page_fault/format", TraceRingBufferTests.faultFormat)
        fake.file("/sys/kernel/tracing/events/header_page", "")
        fake.file("\(instance)/per_cpu/cpu0/trace_pipe_raw", "")
        fake.file(
            "\(instance)/trace_pipe",
            "x-1 [000] ..... 1.0: io_page_fault: IOMMU:a 0000:09:00.0 iova=0x1 flags=0x0\n")
        let source = try #require(TraceSource(root: fake.sysRoot))
        #expect(!source.readsRawPages)
        #expect(source.read().count == 1)
    }
}

/// The daemon's wait (`KmsgDevice.waitReadable`) with the tracepoint buffers in it: a buffer
/// poll(2) reports broken is named, so the loop stops waiting on it instead of spinning.
@Suite struct TraceWaitTests {
    @Test func brokenDescriptorsAreNamedAndLiveOnesAreNot() {
        var hungUp: [Int32] = [0, 0]
        var withData: [Int32] = [0, 0]
        var quiet: [Int32] = [0, 0]
        #expect(pipe(&hungUp) == 0 && pipe(&withData) == 0 && pipe(&quiet) == 0)
        defer { for descriptor in [hungUp[0], withData[0], quiet[0], quiet[1]] { close(descriptor) } }
        close(hungUp[1])  // nothing to read, and never will be: POLLHUP alone
        var byte: UInt8 = 7
        #expect(write(withData[1], &byte, 1) == 1)
        close(withData[1])  // POLLIN | POLLHUP: still data to read, not broken
        // Not open (POLLNVAL): a number far above any this process opens, so that a test running
        // alongside cannot have been given it.
        let closed: Int32 = 900_000
        let watched: Set<Int32> = [hungUp[0], withData[0], quiet[0], closed]
        var broken = Set<Int32>()
        let ready = KmsgDevice.waitReadable(
            [hungUp[0], withData[0], quiet[0], closed], milliseconds: 0, watching: watched, broken: &broken)
        #expect(ready)
        #expect(broken == [hungUp[0], closed])
        // A descriptor not watched is never named (kmsg's POLLERR is an overrun, not a break).
        var unwatched = Set<Int32>()
        _ = KmsgDevice.waitReadable([hungUp[0]], milliseconds: 0, watching: [], broken: &unwatched)
        #expect(unwatched.isEmpty)
        // A quiet, healthy buffer: nothing ready, nothing broken.
        var none = Set<Int32>()
        #expect(!KmsgDevice.waitReadable([quiet[0]], milliseconds: 0, watching: [quiet[0]], broken: &none))
        #expect(none.isEmpty)
    }
}
