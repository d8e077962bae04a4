/// A PCI function's address: segment (domain), bus, device and function.
///
/// Printed in the kernel's canonical form `SSSS:BB:DD.F` (`pci_name()`, `dev_name()` of a
/// `pci_dev`): four or more lowercase hex digits of segment — VMD domains such as `10000` are
/// wider — then two for bus, two for device, one for function. Parsing also accepts the short
/// `BB:DD.F` form that VT-d and older AMD-Vi messages print (segment 0).
public struct PCIAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// PCI segment group (Linux "domain"); 16 bits on real hardware, wider for VMD domains.
    public let segment: UInt32
    public let bus: UInt8
    /// Device number, 0–31.
    public let device: UInt8
    /// Function number, 0–7.
    public let function: UInt8

    /// Creates an address, or returns `nil` when device > 31 or function > 7.
    public init?(segment: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        guard device < 32, function < 8 else { return nil }
        self.segment = segment
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// The address a 16-bit requester ID names within `segment`.
    public init(segment: UInt32 = 0, requesterID: RequesterID) {
        self.segment = segment
        self.bus = requesterID.bus
        self.device = requesterID.device
        self.function = requesterID.function
    }

    /// One 64-bit word (segment, bus, devfn) instead of four fields: the engine hashes the
    /// faulting device's address once per event.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(UInt64(segment) << 16 | UInt64(bus) << 8 | UInt64(device) << 3 | UInt64(function))
    }

    /// The 16-bit requester ID (`PCI_DEVID(bus, devfn)`) this function uses on the link.
    public var requesterID: RequesterID {
        RequesterID(bus: bus, device: device, function: function)
    }

    /// Parses `SSSS:BB:DD.F` or `BB:DD.F` (hex, either case).
    public init(parsing text: Substring) throws(PCIAddressParseError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let segmentText: Substring?
        let busText: Substring
        let slotText: Substring
        switch parts.count {
        case 2:
            segmentText = nil
            busText = parts[0]
            slotText = parts[1]
        case 3:
            segmentText = parts[0]
            busText = parts[1]
            slotText = parts[2]
        default:
            throw PCIAddressParseError(text: String(text), problem: "expected SSSS:BB:DD.F or BB:DD.F")
        }
        let slotParts = slotText.split(separator: ".", omittingEmptySubsequences: false)
        guard slotParts.count == 2 else {
            throw PCIAddressParseError(text: String(text), problem: "missing '.function'")
        }
        var segment: UInt32 = 0
        if let segmentText {
            guard (1...8).contains(segmentText.count), let value = UInt32(segmentText, radix: 16) else {
                throw PCIAddressParseError(text: String(text), problem: "segment '\(segmentText)' is not hex")
            }
            segment = value
        }
        guard (1...2).contains(busText.count), let bus = UInt8(busText, radix: 16) else {
            throw PCIAddressParseError(text: String(text), problem: "bus '\(busText)' is not a hex byte")
        }
        guard (1...2).contains(slotParts[0].count), let device = UInt8(slotParts[0], radix: 16), device < 32
        else {
            throw PCIAddressParseError(text: String(text), problem: "device '\(slotParts[0])' is not 00–1f")
        }
        guard slotParts[1].count == 1, let function = UInt8(slotParts[1], radix: 16), function < 8 else {
            throw PCIAddressParseError(text: String(text), problem: "function '\(slotParts[1])' is not 0–7")
        }
        self.segment = segment
        self.bus = bus
        self.device = device
        self.function = function
    }

    public init(parsing text: String) throws(PCIAddressParseError) {
        try self.init(parsing: text[...])
    }

    public var description: String {
        "\(Hex.padded(segment, width: 4)):\(Hex.padded(bus, width: 2)):\(Hex.padded(device, width: 2))."
            + "\(Hex.padded(function, width: 1))"
    }

    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        (lhs.segment, lhs.bus, lhs.device, lhs.function) < (rhs.segment, rhs.bus, rhs.device, rhs.function)
    }
}

/// Why a text is not a PCI address.
public struct PCIAddressParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let text: String
    public let problem: String
    public var description: String { "'\(text)' is not a PCI address: \(problem)" }
}

/// The 16-bit PCI requester ID carried in every TLP: bus in bits 15:8, device 7:3, function 2:0.
///
/// This is what IOMMUs record: VT-d FRCD.SID (bits 79:64), AMD-Vi event `DeviceID`
/// (bits 15:0). Devices behind a PCIe-to-PCI bridge share the bridge's ID (DMA alias), so an ID
/// is resolved to devices through a ``DeviceResolver``, not assumed to be one function.
public struct RequesterID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public init(bus: UInt8, device: UInt8, function: UInt8) {
        rawValue = UInt16(bus) << 8 | UInt16(device & 0x1f) << 3 | UInt16(function & 0x7)
    }

    public var bus: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
    public var device: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 3) & 0x1f }
    public var function: UInt8 { UInt8(truncatingIfNeeded: rawValue) & 0x7 }

    /// `bb:dd.f`, the form VT-d prints.
    public var description: String {
        "\(Hex.padded(bus, width: 2)):\(Hex.padded(device, width: 2)).\(function)"
    }

    public static func < (lhs: RequesterID, rhs: RequesterID) -> Bool { lhs.rawValue < rhs.rawValue }
}
