/// A device's DMA domain: the IOVA ranges its driver mapped, with their permissions and
/// security attribute, and the input address width. Faults come from looking transactions up
/// here, as the IOMMU's page walk would: nothing mapped, a write through a read-only mapping,
/// a secure access to a non-secure mapping (SMMU), an address beyond the input width.
public struct IOMMUDomain: Hashable, Sendable {
    public struct Mapping: Hashable, Sendable {
        public var range: Range<UInt64>
        public var readable: Bool
        public var writable: Bool
        /// Mapped for secure-world accesses (SMMU NS attribute clear).
        public var secure: Bool

        public init(_ range: Range<UInt64>, readable: Bool = true, writable: Bool = true, secure: Bool = false) {
            self.range = range
            self.readable = readable
            self.writable = writable
            self.secure = secure
        }
    }

    /// What the walk found.
    public enum Lookup: String, Hashable, Sendable {
        case translated
        case notPresent = "not-present"
        case writeToReadOnly = "write-to-read-only"
        case readFromWriteOnly = "read-from-write-only"
        case secureOnNonSecure = "secure-on-non-secure"
        case addressSize = "address-size"
    }

    public var mappings: [Mapping]
    /// Input address width in bits (VT-d MGAW, SMMU IAS): 48 by default.
    public var addressWidth: Int

    public init(mappings: [Mapping], addressWidth: Int = 48) {
        self.mappings = mappings
        self.addressWidth = addressWidth
    }

    /// A driver's usual layout: receive/transmit buffers (read-write) and a descriptor ring the
    /// device only reads, non-secure.
    public static let standard = IOMMUDomain(mappings: [
        Mapping(0x1_0000_0000..<0x1_0100_0000),
        Mapping(0x2_0000_0000..<0x2_0001_0000, writable: false),
    ])

    /// A read-only buffer the device must never write (where read-only writes land).
    public var readOnlyRange: Range<UInt64>? { mappings.first { !$0.writable }?.range }
    /// A mapped, non-secure buffer (where secure accesses land).
    public var nonSecureRange: Range<UInt64>? { mappings.first { !$0.secure && $0.readable }?.range }

    public func translate(_ address: UInt64, write: Bool, secure: Bool = false) -> Lookup {
        if addressWidth < 64, address >> UInt64(addressWidth) != 0 { return .addressSize }
        guard let mapping = mappings.first(where: { $0.range.contains(address) }) else { return .notPresent }
        if secure && !mapping.secure { return .secureOnNonSecure }
        if write && !mapping.writable { return .writeToReadOnly }
        if !write && !mapping.readable { return .readFromWriteOnly }
        return .translated
    }
}
