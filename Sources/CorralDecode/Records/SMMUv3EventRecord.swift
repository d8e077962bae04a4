import CorralCore

/// Arm SMMUv3 event queue record, 32 bytes as four little-endian dwords — SMMUv3 architecture
/// §7.3; field macros `EVTQ_*` in drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h
/// (reference/kernel-anchors.md §3.2):
///
/// | dword | bits  | field |
/// |-------|-------|-------|
/// | 0     | 7:0   | event ID (`SMMUv3EventID`) |
/// | 0     | 11    | SSV: SubstreamID valid |
/// | 0     | 31:12 | SubstreamID (PASID) |
/// | 0     | 63:32 | StreamID |
/// | 1     | 15:0  | STAG (stall tag) |
/// | 1     | 31    | Stall: the transaction is stalled (recoverable) |
/// | 1     | 33    | PnU: privileged |
/// | 1     | 34    | InD: instruction |
/// | 1     | 35    | RnW: 1 = read |
/// | 1     | 39    | S2: stage-2 fault |
/// | 1     | 41:40 | CLASS |
/// | 1     | 44    | TT_read |
/// | 2     | 63:0  | input address |
/// | 3     | 51:3  | IPA (stage 2) / fetch address |
public struct SMMUv3EventRecord: VendorRecord {
    public static let recordName = "SMMUv3 event record"
    public static let byteCount = 32
    public static let wordWidths = [8, 8, 8, 8]

    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// Builds a record from fields (the simulator's encoder).
    public init(
        id: UInt8, streamID: StreamID, substreamID: UInt32? = nil, readNotWrite: Bool, privileged: Bool = false,
        instruction: Bool = false, stage2: Bool = false, eventClass: UInt8 = 2, stalled: Bool = false,
        stallTag: UInt16 = 0, inputAddress: UInt64, ipa: UInt64 = 0
    ) {
        var word0 = UInt64(id) | UInt64(streamID.rawValue) << 32
        if let substreamID { word0 |= flag(true, 11) | field(UInt64(substreamID), 31, 12) }
        var word1 = UInt64(stallTag) | flag(stalled, 31) | flag(privileged, 33) | flag(instruction, 34)
        word1 |= flag(readNotWrite, 35) | flag(stage2, 39) | field(UInt64(eventClass), 41, 40)
        words = (word0, word1, inputAddress, ipa & 0x000F_FFFF_FFFF_F000)
    }

    public init(raw bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        try Self.checkLength(bytes)
        words = (
            LittleEndian.load(bytes, at: 0), LittleEndian.load(bytes, at: 8), LittleEndian.load(bytes, at: 16),
            LittleEndian.load(bytes, at: 24)
        )
        guard SMMUv3EventID(rawValue: id) != nil else {
            throw .undefinedCode(record: Self.recordName, field: "event ID (bits 7:0)", value: UInt64(id))
        }
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        for word in [words.0, words.1, words.2, words.3] { LittleEndian.store(word, into: &out) }
        return out
    }

    public var id: UInt8 { UInt8(bits(words.0, 7, 0)) }
    public var substreamID: UInt32? { bit(words.0, 11) ? UInt32(bits(words.0, 31, 12)) : nil }
    public var streamID: StreamID { StreamID(UInt32(words.0 >> 32)) }
    public var stallTag: UInt16 { UInt16(bits(words.1, 15, 0)) }
    public var stalled: Bool { bit(words.1, 31) }
    public var privileged: Bool { bit(words.1, 33) }
    public var instruction: Bool { bit(words.1, 34) }
    /// RnW: 1 = read (the same polarity as VT-d's T1, the opposite of AMD's RW).
    public var readNotWrite: Bool { bit(words.1, 35) }
    public var stage2: Bool { bit(words.1, 39) }
    public var eventClass: UInt8 { UInt8(bits(words.1, 41, 40)) }
    public var inputAddress: UInt64 { words.2 }
    public var ipa: UInt64 { bits(words.3, 51, 12) << 12 }

    static let classNames = ["CD fetch", "Stage 1 translation table fetch", "Input address caused fault", "Reserved"]

    public var fields: [(name: String, value: String)] {
        [
            ("event", "0x\(Hex.padded(id, width: 2)) \(SMMUv3EventID(rawValue: id)?.name ?? "unknown")"),
            ("StreamID", streamID.description),
            ("SubstreamID", substreamID.map { "0x" + Hex.string($0) } ?? "not valid"),
            (
                "access",
                "\(privileged ? "priv" : "unpriv") \(instruction ? "inst" : "data") \(readNotWrite ? "read" : "write")"
            ),
            ("stage", stage2 ? "s2" : "s1"),
            ("CLASS", Self.classNames[Int(eventClass)]),
            ("stall", stalled ? "stalled, STAG 0x\(Hex.string(stallTag))" : "no"),
            ("input address", "0x" + Hex.string(inputAddress)),
            ("IPA", "0x" + Hex.string(ipa)),
        ]
    }

    /// A translation event's ID as a fault kind (F_TRANSLATION, F_ADDR_SIZE, F_ACCESS,
    /// F_PERMISSION; others are configuration faults).
    static func faultKind(id: UInt32, access: DMAAccess?) -> DMAFaultKind {
        switch id {
        case 0x10: .notPresent
        case 0x11: .addressSize
        case 0x12: .accessFlag
        case 0x13: access == .write ? .writeToReadOnly : .readFromWriteOnly
        default: .configuration
        }
    }

    public func deviceEvent(iommu: IOMMUInstance?) -> DeviceEvent? {
        guard SMMUv3EventID.isDMAFault(id), let iommu else { return deviceEventViaLogEvent(iommu: iommu) }
        let access: DMAAccess = readNotWrite ? .read : .write
        return .dmaFault(
            DMAFault(
                source: .stream(SMMUStream(iommu: iommu, streamID: streamID)), vendor: .armSMMUv3, iommu: iommu,
                kind: Self.faultKind(id: UInt32(id), access: access), access: access, address: IOVA(inputAddress),
                pasid: substreamID.map { PASID($0) }, recoverable: stalled, rawCode: UInt32(id)))
    }

    public var event: LogEvent {
        var event = LogEvent(line: 0, kind: SMMUv3EventID.isDMAFault(id) ? .dmaFault : .iommuError)
        event.vendor = .armSMMUv3
        event.reason = UInt32(id)
        event.reasonText = SMMUv3EventID(rawValue: id)?.name
        event.streamID = streamID
        if let substreamID { event.pasid = PASID(substreamID) }
        if SMMUv3EventID.isDMAFault(id) {
            event.address = IOVA(inputAddress)
            event.access = readNotWrite ? .read : .write
        }
        event.recoverable = stalled
        event.raw = RawWords(words.0, words.1, words.2, words.3)
        return event
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
