import CorralCore

/// Turns raw records of the tracepoints `TraceSource` enables into engine events — the same
/// events `TraceSource.parse` makes of their text lines — with each field found where the
/// event's `format` file says it is.
///
/// Field names and values come from the events' definitions: `iommu_error` in
/// include/trace/events/iommu.h (`__string(device)`, `__string(driver)`, `iova`, `flags`),
/// `aer_event` in include/ras/ras_event.h (`__string(dev_name)`, `severity`: 0 non-fatal,
/// 1 fatal, 2 corrected, as `AER_NONFATAL`/`AER_FATAL`/`AER_CORRECTABLE` in
/// include/linux/aer.h), `pci_hp_event` in include/trace/events/pci.h (`__string(port_name)`,
/// `event`: `PCI_HOTPLUG_LINK_UP` 0, `LINK_DOWN` 1, `CARD_PRESENT` 2, `CARD_NOT_PRESENT` 3).
public struct RawTraceDecoder: Sendable {
    public enum Kind: Sendable { case pageFault, aer, hotplug }

    /// The formats by event ID (the record's `common_type`).
    public private(set) var formats: [UInt16: (kind: Kind, format: TraceEventFormat)] = [:]
    public let faultVendor: IOMMUVendor

    public init(faultVendor: IOMMUVendor) { self.faultVendor = faultVendor }

    /// Adds an event's format; false when it lacks a field the decoder reads.
    @discardableResult
    public mutating func add(_ format: TraceEventFormat) -> Bool {
        let kind: Kind
        let needed: [String]
        switch format.name {
        case "io_page_fault": (kind, needed) = (.pageFault, ["device", "iova", "flags"])
        case "aer_event": (kind, needed) = (.aer, ["dev_name", "severity"])
        case "pci_hp_event": (kind, needed) = (.hotplug, ["port_name", "event"])
        default: return false
        }
        guard needed.allSatisfy({ format.fields[$0] != nil }) else { return false }
        formats[format.id] = (kind, format)
        return true
    }

    /// The engine event of one record; nil for another event or a record that cannot be read.
    public func event(_ record: UnsafeRawBufferPointer) -> DeviceEvent? {
        guard let type = TraceEventFormat.load(record, at: 0, size: 2), let (kind, format) = formats[UInt16(type)]
        else { return nil }
        switch kind {
        case .pageFault:
            guard let device = address(format, "device", record), let iova = format.integer("iova", in: record),
                let flags = format.integer("flags", in: record)
            else { return nil }
            return .dmaFault(
                DMAFault(
                    source: .requester(segment: device.segment, device.requesterID), vendor: faultVendor,
                    kind: .other, access: flags & 0x1 != 0 ? .write : .read, address: IOVA(iova)))
        case .aer:
            guard let device = address(format, "dev_name", record),
                let severity = format.integer("severity", in: record)
            else { return nil }
            return .aerError(
                AERError(device: device, severity: severity == 2 ? .corrected : severity == 1 ? .fatal : .nonFatal))
        case .hotplug:
            guard let port = address(format, "port_name", record), let event = format.integer("event", in: record)
            else { return nil }
            switch event {
            case 0: return .linkChanged(port: port, up: true)
            case 1: return .linkChanged(port: port, up: false)
            case 2: return .presenceChanged(port: port, present: true)
            case 3: return .presenceChanged(port: port, present: false)
            default: return nil
            }
        }
    }

    private func address(_ format: TraceEventFormat, _ field: String, _ record: UnsafeRawBufferPointer)
        -> PCIAddress?
    {
        guard let text = format.string(field, in: record) else { return nil }
        return try? PCIAddress(parsing: text)
    }
}
