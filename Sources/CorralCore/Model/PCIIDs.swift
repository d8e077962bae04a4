/// Vendor and device names from a `pci.ids` file, as `lspci` shows them (issue 17).
///
/// The format (https://pci-ids.ucw.cz, the header of the file itself): a vendor line is four
/// hex digits, two spaces and the name; its devices follow, each on a line starting with one tab
/// (`\t1234  name`), their subsystems with two tabs; comments start with `#`; the device classes
/// come last in a section whose lines start with `C `. Only the IDs asked for are kept: the file
/// has some 40,000 devices and a reader needs a handful.
public struct PCIIDs: Hashable, Sendable {
    public struct Key: Hashable, Sendable {
        public var vendor: UInt16
        public var device: UInt16

        public init(vendor: UInt16, device: UInt16) {
            self.vendor = vendor
            self.device = device
        }
    }

    public private(set) var vendors: [UInt16: String] = [:]
    public private(set) var devices: [Key: String] = [:]

    public init() {}

    /// The names of `wanted` (and their vendors) in `text`, a pci.ids file's bytes. Lines that do
    /// not fit the format are skipped: a damaged file gives fewer names, never wrong ones.
    public init(parsing text: some Collection<UInt8>, wanted: Set<Key>) {
        let wantedVendors = Set(wanted.map(\.vendor))
        var vendor: UInt16?
        var line: [UInt8] = []
        line.reserveCapacity(128)
        func take() {
            defer { line.removeAll(keepingCapacity: true) }
            guard let first = line.first, first != 0x23 else { return }
            if first == 0x09 {
                // A device of the current vendor (one tab), or a subsystem (two: skipped).
                guard let current = vendor, line.count > 7, line[1] != 0x09, let id = Self.hex4(line, at: 1),
                    wanted.contains(Key(vendor: current, device: id)), let name = Self.name(line, from: 5)
                else { return }
                devices[Key(vendor: current, device: id)] = name
                return
            }
            // A vendor line; the class section (`C 03  Display controller`) ends the vendors.
            guard let id = Self.hex4(line, at: 0) else {
                vendor = nil
                return
            }
            vendor = wantedVendors.contains(id) ? id : nil
            if vendor != nil, let name = Self.name(line, from: 4) { vendors[id] = name }
        }
        for byte in text {
            if byte == 0x0A {
                take()
            } else if byte != 0x0D {
                line.append(byte)
            }
        }
        take()
    }

    /// `NVIDIA Corporation GA102 [GeForce RTX 3090]`, the vendor alone when the device is not in
    /// the file, nil when neither is.
    public func name(vendor: UInt16, device: UInt16) -> String? {
        guard let vendorName = vendors[vendor] else { return nil }
        guard let deviceName = devices[Key(vendor: vendor, device: device)] else { return vendorName }
        return "\(vendorName) \(deviceName)"
    }

    static func hex4(_ line: [UInt8], at start: Int) -> UInt16? {
        guard line.count >= start + 4 else { return nil }
        var value: UInt16 = 0
        for byte in line[start..<(start + 4)] {
            guard let digit = Hex.digitValue(byte) else { return nil }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// The name after the ID's separating blanks; nil when there is none or it is not UTF-8.
    static func name(_ line: [UInt8], from start: Int) -> String? {
        var index = start
        guard index < line.count, line[index] == 0x20 || line[index] == 0x09 else { return nil }
        while index < line.count, line[index] == 0x20 || line[index] == 0x09 { index += 1 }
        guard index < line.count else { return nil }
        var end = line.count
        while end > index, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        // Printable text only: a name is shown in a terminal and a report.
        let bytes = line[index..<end]
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
