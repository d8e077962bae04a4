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
    }

    /// Closes the pipe and removes the instance (tracefs frees its buffers on rmdir).
    deinit {
        close(descriptor)
        rmdir(root.resolve(Self.instance))
    }

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
        var events: [DeviceEvent] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            carry += buffer[0..<count]
            while let newline = carry.firstIndex(of: 0x0A) {
                let line = String(decoding: carry[..<newline], as: UTF8.self)
                carry.removeSubrange(...newline)
                if let event = Self.parse(line, faultVendor: faultVendor) { events.append(event) }
            }
        }
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
