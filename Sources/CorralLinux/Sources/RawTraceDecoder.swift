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

    /// One event's fields the decoder reads, found once in its format (a record is read by
    /// offset, never by looking a name up). Plain values: it is read for every record, and a
    /// copy holding the format's names and dictionary was reference counted each time.
    struct Layout: Sendable {
        var kind: Kind
        /// The device string (`device`, `dev_name`, `port_name`) and the two numbers read:
        /// iova and flags, severity, or the hot-plug event.
        var device: TraceEventFormat.Slot
        var first: TraceEventFormat.Slot
        var second: TraceEventFormat.Slot?
    }

    /// The layouts with their event IDs (the record's `common_type`): three at most, so a
    /// scan, not a hash, finds a record's.
    private var layouts: [(id: UInt16, layout: Layout)] = []

    /// The event IDs the decoder reads.
    public var eventIDs: [UInt16] { layouts.map(\.id) }
    public let faultVendor: IOMMUVendor
    /// The last device string read and its address: a storm is one device, so its name is
    /// parsed once, not per record.
    private let lastDevice = DeviceNameCache()

    public init(faultVendor: IOMMUVendor) { self.faultVendor = faultVendor }

    /// Adds an event's format; false when it lacks a field the decoder reads.
    @discardableResult
    public mutating func add(_ format: TraceEventFormat) -> Bool {
        let kind: Kind
        let names: (String, String, String?)
        switch format.name {
        case "io_page_fault": (kind, names) = (.pageFault, ("device", "iova", "flags"))
        case "aer_event": (kind, names) = (.aer, ("dev_name", "severity", nil))
        case "pci_hp_event": (kind, names) = (.hotplug, ("port_name", "event", nil))
        default: return false
        }
        guard let device = format.fields[names.0], let first = format.fields[names.1], first.location == .inline
        else { return false }
        var second: TraceEventFormat.Field?
        if let name = names.2 {
            guard let field = format.fields[name], field.location == .inline else { return false }
            second = field
        }
        let layout = Layout(kind: kind, device: device.slot, first: first.slot, second: second?.slot)
        layouts.removeAll { $0.id == format.id }
        layouts.append((format.id, layout))
        return true
    }

    /// The engine event of one record; nil for another event or a record that cannot be read.
    public func event(_ record: UnsafeRawBufferPointer) -> DeviceEvent? {
        guard let type = TraceEventFormat.load(record, at: 0, size: 2),
            let layout = layouts.first(where: { $0.id == UInt16(type) })?.layout,
            let name = TraceEventFormat.bytes(at: layout.device, in: record), let device = lastDevice.address(name),
            let first = TraceEventFormat.load(record, at: layout.first.offset, size: layout.first.size)
        else { return nil }
        switch layout.kind {
        case .pageFault:
            guard let field = layout.second,
                let flags = TraceEventFormat.load(record, at: field.offset, size: field.size)
            else { return nil }
            return .dmaFault(
                DMAFault(
                    source: .requester(segment: device.segment, device.requesterID), vendor: faultVendor,
                    kind: .other, access: flags & 0x1 != 0 ? .write : .read, address: IOVA(first)))
        case .aer:
            return .aerError(
                AERError(device: device, severity: first == 2 ? .corrected : first == 1 ? .fatal : .nonFatal))
        case .hotplug:
            switch first {
            case 0: return .linkChanged(port: device, up: true)
            case 1: return .linkChanged(port: device, up: false)
            case 2: return .presenceChanged(port: device, present: true)
            case 3: return .presenceChanged(port: device, present: false)
            default: return nil
            }
        }
    }
}

/// The last device name a decoder read and the address it parsed to (nil: not an address).
/// A class so that `event(_:)` stays non-mutating; one decoder is read from one thread.
final class DeviceNameCache: @unchecked Sendable {
    private var name: [UInt8] = []
    private var parsed: PCIAddress?

    func address(_ bytes: UnsafeRawBufferPointer) -> PCIAddress? {
        let same =
            bytes.count == name.count
            && name.withUnsafeBytes { name in
                // Byte by byte, without the generic sequence comparison's iterators.
                for index in 0..<name.count where name[index] != bytes[index] { return false }
                return true
            }
        if same { return parsed }
        name = Array(bytes)
        parsed = try? PCIAddress(parsing: String(decoding: bytes, as: UTF8.self))
        return parsed
    }
}
