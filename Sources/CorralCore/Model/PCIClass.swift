/// A PCI function's class code (`/sys/bus/pci/devices/D/class`: base class 23:16, subclass
/// 15:8, programming interface 7:0; PCI Code and ID Assignment Specification §1). Corral names
/// the classes whose loss an operator feels at once, so a recommendation to stop, reset or
/// remove such a device says what goes with it (issue 17).
public struct PCIClass: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(_ rawValue: UInt32) { self.rawValue = rawValue & 0xFF_FFFF }

    public var base: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 16) }
    public var subclass: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }

    /// The class in words (the base classes of the specification's table; a few subclasses that
    /// matter here), nil for the rest.
    public var name: String? {
        switch (base, subclass) {
        case (0x01, 0x08): "NVMe storage controller"
        case (0x01, _): "storage controller"
        case (0x02, _): "network controller"
        case (0x03, _): "display controller"
        case (0x04, _): "multimedia controller"
        case (0x06, _): "bridge"
        case (0x08, 0x06): "IOMMU"
        case (0x0C, 0x03): "USB controller"
        case (0x0C, _): "serial bus controller"
        case (0x12, _): "processing accelerator"
        default: nil
        }
    }

    /// What stops working with the device, for the classes where that is not obvious from a
    /// PCI address: said next to a recommendation to stop, reset or remove it.
    public var consequence: String? {
        switch (base, subclass) {
        case (0x01, _): "the disks behind it go away, and any file system on them with them"
        case (0x02, _): "its network links go down (remote sessions through it too)"
        case (0x03, _): "the screens it drives go dark"
        case (0x06, _): "every device below it is cut off"
        case (0x0C, 0x03): "every USB device on it is cut off, keyboards included"
        default: nil
        }
    }

    public var description: String { name ?? "class 0x\(Hex.padded(rawValue, width: 6))" }
}
