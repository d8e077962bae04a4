import CorralCore

/// Arm SMMUv2 / MMU-500 context-bank fault registers, as `arm_smmu_context_fault()` reads them
/// (drivers/iommu/arm/arm-smmu/arm-smmu.{c,h}; reference/kernel-anchors.md §4.2), packed
/// little-endian as FSR (32 bits), FSYNR0 (32), FAR (64), CBFRSYNRA (32) — 20 bytes.
///
/// FSR: MULTI 31, SS 30, FORMAT 10:9, UUT 8, ASF 7, TLBLKF 6, TLBMCF 5, EF 4, PF 3, AFF 2, TF 1;
/// bits 0 and 29:11 are reserved. FSYNR0: PLVL 1:0, WNR 4 (1 = write), PNU 5, IND 6,
/// NSATTR 8, PTWF 10, AFR 11, S1CBNDX 23:16.
public struct SMMUv2ContextFault: VendorRecord {
    public static let recordName = "SMMUv2 context fault registers"
    public static let byteCount = 20
    public static let wordWidths = [4, 4, 8, 4]
    static let fsrReserved: UInt32 = 0x3FFF_F801
    public static let fsynr0WNR: UInt64 = 1 << 4

    public var fsr: UInt32
    public var fsynr0: UInt32
    public var far: UInt64
    public var cbfrsynra: UInt32

    public init(fsr: UInt32, fsynr0: UInt32, far: UInt64, cbfrsynra: UInt32) {
        self.fsr = fsr & ~Self.fsrReserved
        self.fsynr0 = fsynr0
        self.far = far
        self.cbfrsynra = cbfrsynra
    }

    public init(raw bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        try Self.checkLength(bytes)
        fsr = LittleEndian.load(bytes, at: 0)
        fsynr0 = LittleEndian.load(bytes, at: 4)
        far = LittleEndian.load(bytes, at: 8)
        cbfrsynra = LittleEndian.load(bytes, at: 16)
        if fsr & Self.fsrReserved != 0 {
            throw .reservedBitsSet(
                record: Self.recordName, field: "FSR", mask: UInt64(Self.fsrReserved), value: UInt64(fsr))
        }
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        LittleEndian.store(fsr, into: &out)
        LittleEndian.store(fsynr0, into: &out)
        LittleEndian.store(far, into: &out)
        LittleEndian.store(cbfrsynra, into: &out)
        return out
    }

    public var write: Bool { UInt64(fsynr0) & Self.fsynr0WNR != 0 }

    static let fsrNames: [(Int, String)] = [
        (31, "MULTI"), (30, "SS"), (8, "UUT"), (7, "ASF"), (6, "TLBLKF"), (5, "TLBMCF"), (4, "EF"), (3, "PF"),
        (2, "AFF"), (1, "TF"),
    ]

    /// `TF`, `PF MULTI`, ... as the v6.11+ decode line names them.
    public static func describe(fsr: UInt32) -> String {
        // One fault bit (the usual case) names itself without building an array.
        var only: String?
        var several = false
        for (index, name) in fsrNames where bit(fsr, index) {
            if only == nil { only = name } else { several = true }
        }
        if !several { return only ?? "no fault bits" }
        let names = fsrNames.filter { bit(fsr, $0.0) }.map(\.1)
        return names.isEmpty ? "no fault bits" : names.joined(separator: " ")
    }

    /// FSYNR0's single-bit fields after WNR, by the names the kernel prints them with
    /// (`arm_smmu_print_context_fault_info()`, 6.11+). NSATTR is shown, not interpreted: see
    /// docs/decode.md, "Secure on non-secure".
    static let fsynr0Flags: [(bit: Int, name: String)] = [
        (5, "PNU"), (6, "IND"), (8, "NSATTR"), (10, "PTWF"), (11, "AFR"),
    ]

    public var fields: [(name: String, value: String)] {
        [
            ("FSR", "0x\(Hex.padded(fsr, width: 8)) [\(Self.describe(fsr: fsr)) Format=\(bits(fsr, 10, 9))]"),
            (
                "FSYNR0",
                "0x\(Hex.padded(fsynr0, width: 8)) [\(write ? "write" : "read") PLVL=\(bits(fsynr0, 1, 0)) S1CBNDX=\(bits(fsynr0, 23, 16))"
                    + Self.fsynr0Flags.filter { bit(fsynr0, $0.bit) }.map { " " + $0.name }.joined() + "]"
            ),
            ("FAR", "0x" + Hex.string(far)),
            ("CBFRSYNRA", "0x" + Hex.string(cbfrsynra)),
        ]
    }

    /// FSR as a fault kind: TF = translation (not present), PF = permission, AFF = access flag.
    static func faultKind(fsr: UInt32, access: DMAAccess?) -> DMAFaultKind {
        if fsr & 0x2 != 0 { return .notPresent }  // TF
        if fsr & 0x8 != 0 { return access == .write ? .writeToReadOnly : .readFromWriteOnly }  // PF
        if fsr & 0x4 != 0 { return .accessFlag }  // AFF
        return .other
    }

    /// The engine's event for a fault of the context bank that `stream` is attached to: the
    /// registers carry no stream ID the kernel trusts, but whoever reads a context bank knows
    /// its stream. Equal to `event` with `iommu` and `stream` filled in, then `deviceEvent`.
    public func deviceEvent(iommu: IOMMUInstance, stream: StreamID) -> DeviceEvent {
        let access: DMAAccess = write ? .write : .read
        return .dmaFault(
            DMAFault(
                source: .stream(SMMUStream(iommu: iommu, streamID: stream)), vendor: .armSMMU, iommu: iommu,
                kind: Self.faultKind(fsr: fsr, access: access), access: access, address: IOVA(far),
                recoverable: bit(fsr, 30), rawCode: fsr))
    }

    public var event: LogEvent {
        var event = LogEvent(line: 0, kind: .dmaFault)
        event.vendor = .armSMMU
        event.reason = fsr
        event.reasonText = Self.describe(fsr: fsr)
        event.address = IOVA(far)
        event.access = write ? .write : .read
        event.recoverable = bit(fsr, 30)
        return event
    }
}
