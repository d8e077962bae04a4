/// Where a DMA master lives: the identity the engine keeps state under.
///
/// PCI functions are named by their address. Platform masters behind an Arm SMMU have no PCI
/// address: they are known by a stream on an SMMU instance, or by their platform device name
/// (`a600000.usb`) when the host has mapped the stream to one.
public enum DeviceAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case pci(PCIAddress)
    case stream(SMMUStream)
    case platform(PlatformDeviceName)

    /// Parses `0000:03:00.0` / `03:00.0` as PCI, `<smmu>/sid=0x10` as a stream, anything else
    /// non-empty without whitespace as a platform device name.
    public init(parsing text: String) throws(PCIAddressParseError) {
        if let slash = text.firstIndex(of: "/"), text[slash...].hasPrefix("/sid=") {
            let iommu = text[..<slash]
            let sidText = text[text.index(slash, offsetBy: 5)...]
            let digits = sidText.hasPrefix("0x") ? sidText.dropFirst(2) : sidText
            let radix = sidText.hasPrefix("0x") ? 16 : 10
            guard !iommu.isEmpty, let sid = UInt32(digits, radix: radix) else {
                throw PCIAddressParseError(text: text, problem: "stream must read <smmu>/sid=<id>")
            }
            self = .stream(SMMUStream(iommu: IOMMUInstance(String(iommu)), streamID: StreamID(sid)))
            return
        }
        if let pci = try? PCIAddress(parsing: text) {
            self = .pci(pci)
            return
        }
        let looksLikePCI = text.contains(":") && text.contains(".") && text.count <= 16
        if looksLikePCI || text.isEmpty || text.contains(where: { $0 == " " || $0 == "\t" }) {
            // Re-throw the precise PCI error for things that were meant as PCI addresses.
            _ = try PCIAddress(parsing: text)
            throw PCIAddressParseError(text: text, problem: "empty or contains whitespace")
        }
        self = .platform(PlatformDeviceName(text))
    }

    public var pciAddress: PCIAddress? {
        if case .pci(let address) = self { return address }
        return nil
    }

    public var isPCI: Bool { pciAddress != nil }

    public var description: String {
        switch self {
        case .pci(let address): address.description
        case .stream(let stream): stream.description
        case .platform(let name): name.description
        }
    }

    public static func < (lhs: DeviceAddress, rhs: DeviceAddress) -> Bool {
        lhs.sortKey < rhs.sortKey
    }

    private var sortKey: (Int, String) {
        switch self {
        case .pci(let a): (0, a.description)
        case .stream(let s): (1, s.description)
        case .platform(let p): (2, p.name)
        }
    }
}

/// A platform (non-PCI) device's name in `/sys/bus/platform/devices`.
///
/// An index into a process-wide `NameTable`, like `IOMMUInstance`: a device address is in every
/// event the engine handles, and a plain word copies without reference counting.
public struct PlatformDeviceName: Hashable, Sendable, CustomStringConvertible {
    let index: UInt32
    public init(_ name: String) { self.index = NameTable.platformDevices.index(of: name) }
    public var name: String { NameTable.platformDevices.name(at: index) }
    public var description: String { name }
}
