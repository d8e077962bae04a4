import CorralCore
import Foundation

/// Kernel tracepoints in a private tracefs instance (`/sys/kernel/tracing/instances/corral`), so
/// Corral never disturbs anyone else's tracing: `iommu:io_page_fault` (AMD-Vi and SMMUv2 report
/// faults through it; VT-d and SMMUv3 do not — measured in the lab), `ras:aer_event` and
/// `pci:pci_hp_event`. Tracepoints are not rate-limited, so when one is enabled the matching
/// kmsg lines are not counted again (`Watcher` de-duplicates). The instance is removed when the
/// source goes away.
public final class TraceSource {
    public static let instance = "/sys/kernel/tracing/instances/corral"
    public static let events = ["iommu/io_page_fault", "ras/aer_event", "pci/pci_hp_event"]

    let root: SysRoot
    let descriptor: Int32
    /// The tracepoints that could be enabled.
    public let enabled: Set<String>
    /// The vendor behind `io_page_fault` on this machine (AMD-Vi or SMMUv2).
    let faultVendor: IOMMUVendor
    private var carry: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// The per-CPU binary buffers (`per_cpu/cpuN/trace_pipe_raw`), used instead of the text pipe
    /// when every enabled event's `format` file could be read: a read gives a page of records
    /// in the kernel's own layout, about 85 faults, instead of a line of text per fault (the
    /// live path, issue 16). Only one of the two is ever read: both consume the same buffer.
    private var raw: RawPages?
    /// Records the kernel overwrote before they were read, as the pages said (`RB_MISSED_*`):
    /// `lostRecords` counts those whose number was stored, `pagesAfterLoss` every page that
    /// said some were lost. Pages that could not be walked are `malformedPages`.
    public private(set) var lostRecords: UInt64 = 0
    /// Records of the enabled events read and made into engine events, either way.
    public private(set) var recordsRead = 0
    public private(set) var pagesAfterLoss = 0
    public private(set) var malformedPages = 0

    struct RawPages {
        var descriptors: [Int32]
        var decoder: RawTraceDecoder
        var header: TraceRingBufferPage.Header
        var page: [UInt8]
    }

    /// Whether records come from the binary per-CPU buffers (else from the text pipe).
    public var readsRawPages: Bool { raw != nil }

    /// Sets the instance up; nil when tracefs is not there or no tracepoint could be enabled.
    public init?(root: SysRoot) {
        guard root.exists("/sys/kernel/tracing") else { return nil }
        self.root = root
        try? FileManager.default.createDirectory(atPath: root.resolve(Self.instance), withIntermediateDirectories: true)
        var enabled: Set<String> = []
        for event in Self.events where root.write("1", to: "\(Self.instance)/events/\(event)/enable") == nil {
            enabled.insert(event)
        }
        let descriptor = open(root.resolve("\(Self.instance)/trace_pipe"), O_RDONLY | O_NONBLOCK)
        guard !enabled.isEmpty, descriptor >= 0 else {
            if descriptor >= 0 { close(descriptor) }
            return nil
        }
        self.descriptor = descriptor
        self.enabled = enabled
        faultVendor = root.list("/sys/class/iommu").contains { $0.hasPrefix("ivhd") } ? .amdVi : .armSMMU
        raw = Self.rawPages(root: root, enabled: enabled, faultVendor: faultVendor)
    }

    /// Opens every CPU's `trace_pipe_raw` once each enabled event's format is known; nil (the
    /// text pipe is read) when anything is missing, so no event is ever left unread.
    static func rawPages(root: SysRoot, enabled: Set<String>, faultVendor: IOMMUVendor) -> RawPages? {
        var decoder = RawTraceDecoder(faultVendor: faultVendor)
        for event in enabled {
            guard let text = root.read("\(instance)/events/\(event)/format"),
                let format = TraceEventFormat(text: text), decoder.add(format)
            else { return nil }
        }
        guard
            let headerText = root.read("\(instance)/events/header_page")
                ?? root.read("/sys/kernel/tracing/events/header_page")
        else { return nil }
        let cpus = root.list("\(instance)/per_cpu").filter { $0.hasPrefix("cpu") }
            .sorted { (Int($0.dropFirst(3)) ?? 0) < (Int($1.dropFirst(3)) ?? 0) }
        guard !cpus.isEmpty else { return nil }
        var descriptors: [Int32] = []
        for cpu in cpus {
            let descriptor = open(root.resolve("\(instance)/per_cpu/\(cpu)/trace_pipe_raw"), O_RDONLY | O_NONBLOCK)
            guard descriptor >= 0 else {
                for open in descriptors { close(open) }
                return nil
            }
            descriptors.append(descriptor)
        }
        let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        return RawPages(
            descriptors: descriptors, decoder: decoder, header: TraceRingBufferPage.Header(text: headerText),
            page: [UInt8](repeating: 0, count: pageSize))
    }

    /// Closes the pipe and removes the instance (tracefs frees its buffers on rmdir).
    deinit {
        close(descriptor)
        for open in raw?.descriptors ?? [] { close(open) }
        rmdir(root.resolve(Self.instance))
    }

    /// What to wait on with poll(2): every CPU's `trace_pipe_raw` when pages are read, else
    /// `trace_pipe`.
    public var fileDescriptors: [Int32] { raw?.descriptors ?? [descriptor] }

    /// Whether kmsg events of this kind are already counted here.
    public func covers(_ event: DeviceEvent) -> Bool {
        switch event {
        case .dmaFault(let fault):
            enabled.contains("iommu/io_page_fault") && (fault.vendor == .amdVi || fault.vendor == .armSMMU)
        case .aerError: enabled.contains("ras/aer_event")
        case .linkChanged, .presenceChanged: enabled.contains("pci/pci_hp_event")
        default: false
        }
    }

    /// Everything available now, as engine events.
    public func read() -> [DeviceEvent] {
        if raw != nil { return readPages() }
        let events = readLines()
        recordsRead += events.count
        return events
    }

    private func readLines() -> [DeviceEvent] {
        var events: [DeviceEvent] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            carry += buffer[0..<count]
            // Lines are read in place and the consumed bytes dropped once per read: removing
            // each line from the front moved the rest of the buffer every time.
            var start = carry.startIndex
            while let newline = carry[start...].firstIndex(of: 0x0A) {
                if let event = Self.parse(bytes: carry[start..<newline], faultVendor: faultVendor) {
                    events.append(event)
                }
                start = newline + 1
            }
            carry.removeFirst(start - carry.startIndex)
        }
        return events
    }

    static let faultMarker = Array("io_page_fault: ".utf8)
    static let aerMarker = Array("aer_event: ".utf8)
    static let hotplugMarker = Array("pci_hp_event: ".utf8)

    /// One trace line as read. The fault event — the one that comes by the hundred thousand —
    /// is read from the bytes; only the rarer AER and hot-plug lines become a `String` (the
    /// live path, issue 16: 9.5 µs per event when every line went through Foundation's
    /// string search and `split` first).
    static func parse(bytes line: ArraySlice<UInt8>, faultVendor: IOMMUVendor) -> DeviceEvent? {
        if let at = find(faultMarker, in: line) {
            return pageFault(line[(at + faultMarker.count)...], faultVendor: faultVendor)
        }
        guard find(aerMarker, in: line) != nil || find(hotplugMarker, in: line) != nil else { return nil }
        return parse(String(decoding: line, as: UTF8.self), faultVendor: faultVendor)
    }

    static func find(_ needle: [UInt8], in text: ArraySlice<UInt8>) -> Int? {
        var from = text.startIndex
        while let at = text[from...].firstIndex(of: needle[0]) {
            if text[at...].starts(with: needle) { return at }
            from = at + 1
        }
        return nil
    }

    /// `IOMMU:%s %s iova=0x%016llx flags=0x%04x` (driver, device, iova, flags), as
    /// `parse(_:faultVendor:)` reads it: four blank-separated fields at least.
    static func pageFault(_ payload: ArraySlice<UInt8>, faultVendor: IOMMUVendor) -> DeviceEvent? {
        let fields = payload.split(separator: 0x20, maxSplits: 4, omittingEmptySubsequences: true)
        guard fields.count >= 4, let device = try? PCIAddress(parsing: String(decoding: fields[1], as: UTF8.self)),
            let iova = hex(fields[2].dropFirst(7)), let flags = hex(fields[3].dropFirst(8)), flags <= UInt32.max
        else { return nil }
        return .dmaFault(
            DMAFault(
                source: .requester(segment: device.segment, device.requesterID), vendor: faultVendor, kind: .other,
                access: flags & 0x1 != 0 ? .write : .read, address: IOVA(iova)))
    }

    /// Hex digits, all of them (as `UInt64(_:radix: 16)` reads them), nil if none or too many.
    static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard let digit = Hex.digitValue(byte) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// Every page available now on every CPU, in CPU order.
    private func readPages() -> [DeviceEvent] {
        guard var pages = raw else { return [] }
        var events: [DeviceEvent] = []
        for descriptor in pages.descriptors {
            while true {
                let count = pages.page.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                let decoder = pages.decoder
                let summary = pages.page.withUnsafeBytes { bytes in
                    TraceRingBufferPage.forEachRecord(
                        in: UnsafeRawBufferPointer(rebasing: bytes[0..<count]), header: pages.header
                    ) { _, record in
                        if let event = decoder.event(record) { events.append(event) }
                    }
                }
                if summary.lostSome { pagesAfterLoss += 1 }
                lostRecords &+= summary.missed ?? 0
                if summary.malformed { malformedPages += 1 }
            }
        }
        raw = pages
        recordsRead += events.count
        return events
    }

    /// One trace line: `task-pid [cpu] flags seconds: event: payload`.
    static func parse(_ line: String, faultVendor: IOMMUVendor) -> DeviceEvent? {
        if let range = line.range(of: "io_page_fault: ") {
            // TP_printk("IOMMU:%s %s iova=0x%016llx flags=0x%04x", driver, device, iova, flags)
            let fields = line[range.upperBound...].split(separator: " ")
            guard fields.count >= 4, let device = try? PCIAddress(parsing: fields[1]),
                let iova = UInt64(fields[2].dropFirst("iova=0x".count), radix: 16),
                let flags = UInt32(fields[3].dropFirst("flags=0x".count), radix: 16)
            else { return nil }
            return .dmaFault(
                DMAFault(
                    source: .requester(segment: device.segment, device.requesterID), vendor: faultVendor, kind: .other,
                    access: flags & 0x1 != 0 ? .write : .read, address: IOVA(iova)))
        }
        if let range = line.range(of: "aer_event: ") {
            // TP_printk("%s PCIe Bus Error: severity=%s, %s, TLP Header=%s", dev_name, ...)
            let payload = line[range.upperBound...]
            guard let name = payload.split(separator: " ").first, let device = try? PCIAddress(parsing: name),
                let severityRange = payload.range(of: "severity=")
            else { return nil }
            let severityText = payload[severityRange.upperBound...]
            let severity: AERSeverity =
                severityText.hasPrefix("Corrected") ? .corrected : severityText.hasPrefix("Fatal") ? .fatal : .nonFatal
            return .aerError(AERError(device: device, severity: severity))
        }
        if let range = line.range(of: "pci_hp_event: ") {
            // TP_printk("%s slot:%s, event:%s\n", port_name, slot, event)
            let payload = line[range.upperBound...]
            guard let name = payload.split(separator: " ").first, let port = try? PCIAddress(parsing: name),
                let eventRange = payload.range(of: "event:")
            else { return nil }
            let event = payload[eventRange.upperBound...].trimmingCharacters(in: .whitespaces)
            switch event {
            case "LINK_UP": return .linkChanged(port: port, up: true)
            case "LINK_DOWN": return .linkChanged(port: port, up: false)
            case "CARD_PRESENT": return .presenceChanged(port: port, present: true)
            case "CARD_NOT_PRESENT": return .presenceChanged(port: port, present: false)
            default: return nil
            }
        }
        return nil
    }
}
