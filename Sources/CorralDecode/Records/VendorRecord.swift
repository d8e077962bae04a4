import CorralCore

/// A vendor's raw fault record: one file per vendor behind this protocol, each with its encoder
/// (the simulator emits real layouts through it) and its normalized `LogEvent`.
public protocol VendorRecord: Hashable, Sendable {
    /// Name used in errors and by `corral decode --vendor`.
    static var recordName: String { get }
    /// Size of the record in bytes, and its natural words (bytes each, in record order), so it
    /// can be given as the words the kernel prints (`0x...` per word) or as raw bytes.
    static var byteCount: Int { get }
    static var wordWidths: [Int] { get }

    /// Decodes exactly `byteCount` little-endian bytes; reserved bits set or undefined codes throw.
    /// Read in place from the caller's buffer (a queue or a read buffer holds many records): no
    /// array per record, nothing retained (benchmarks/ANALYSIS.md §1).
    init(raw bytes: UnsafeRawBufferPointer) throws(DecodeError)
    /// The record's bytes, little-endian, as the hardware writes them.
    var bytes: [UInt8] { get }
    /// The fields by name, for people (`corral decode --vendor ...`).
    var fields: [(name: String, value: String)] { get }
    /// The record as a normalized event (line 0: it did not come from a log).
    var event: LogEvent { get }
    /// The record as the engine's event, read from the queue or registers of `iommu`. The same
    /// as `event` with that unit, then `deviceEvent` (tested so); the hot vendors build it
    /// directly, without the `LogEvent` in between (benchmarks/ANALYSIS.md §1).
    func deviceEvent(iommu: IOMMUInstance?) -> DeviceEvent?
}

extension VendorRecord {
    /// Decodes exactly `byteCount` little-endian bytes (see `init(raw:)`).
    public init(bytes: [UInt8]) throws(DecodeError) {
        let decoded = bytes.withUnsafeBytes { raw in Result { () throws(DecodeError) in try Self(raw: raw) } }
        self = try decoded.get()
    }

    public func deviceEvent(iommu: IOMMUInstance?) -> DeviceEvent? { deviceEventViaLogEvent(iommu: iommu) }

    /// The reference path: the normalized event with the unit filled in, then its mapping.
    func deviceEventViaLogEvent(iommu: IOMMUInstance?) -> DeviceEvent? {
        var event = event
        if event.iommu == nil { event.iommu = iommu }
        return event.deviceEvent
    }
}

/// Why a raw record could not be decoded.
public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(record: String, expected: Int, got: Int)
    case oversized(record: String, expected: Int, got: Int)
    case reservedBitsSet(record: String, field: String, mask: UInt64, value: UInt64)
    case undefinedCode(record: String, field: String, value: UInt64)
    case badHex(String)

    public var description: String {
        switch self {
        case .truncated(let record, let expected, let got):
            "\(record): truncated: \(got) byte\(got == 1 ? "" : "s"), a record is \(expected)"
        case .oversized(let record, let expected, let got):
            "\(record): \(got) bytes, a record is \(expected) (give one record at a time)"
        case .reservedBitsSet(let record, let field, let mask, let value):
            "\(record): reserved bits set in \(field): 0x\(Hex.string(value & mask)) (reserved mask 0x\(Hex.string(mask)))"
        case .undefinedCode(let record, let field, let value):
            "\(record): \(field) 0x\(Hex.string(value)) is not defined"
        case .badHex(let text):
            "'\(text)' is not hex"
        }
    }
}

extension VendorRecord {
    /// Checks the length of `bytes` for this record.
    @inline(__always)
    static func checkLength(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        if bytes.count < byteCount { throw .truncated(record: recordName, expected: byteCount, got: bytes.count) }
        if bytes.count > byteCount { throw .oversized(record: recordName, expected: byteCount, got: bytes.count) }
    }

    /// Parses command-line hex: one `0x`-prefixed value per natural word (in record order), or
    /// the record's bytes in memory order (`0a1b...`, spaces, `:` and `-` allowed).
    public static func parse(hex arguments: [String]) throws(DecodeError) -> Self {
        let words = arguments.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "," }) }
        if words.count == wordWidths.count, words.allSatisfy({ $0.hasPrefix("0x") || $0.hasPrefix("0X") }) {
            var bytes: [UInt8] = []
            for (word, width) in zip(words, wordWidths) {
                let digits = word.dropFirst(2)
                guard !digits.isEmpty, digits.count <= width * 2, let value = UInt64(digits, radix: 16) else {
                    throw .badHex(String(word))
                }
                for index in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
            }
            return try Self(bytes: bytes)
        }
        var digits: [UInt8] = []
        for word in words {
            var text = Substring(word)
            if text.hasPrefix("0x") || text.hasPrefix("0X") { text = text.dropFirst(2) }
            for scalar in text.utf8 where scalar != UInt8(ascii: ":") && scalar != UInt8(ascii: "-") {
                guard let value = scalar.hexValue else { throw .badHex(String(word)) }
                digits.append(value)
            }
        }
        guard digits.count % 2 == 0 else { throw .badHex(arguments.joined(separator: " ")) }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) { bytes.append(digits[index] << 4 | digits[index + 1]) }
        return try Self(bytes: bytes)
    }
}

/// Little-endian field access on raw record bytes.
enum LittleEndian {
    /// One unaligned load (the per-record path; a byte loop was 12 % of decode + engine time).
    @inline(__always)
    static func load<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, at offset: Int, as: T.Type = T.self) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count, "record shorter than its layout")
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    static func store<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8]) {
        for index in 0..<(T.bitWidth / 8) { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }
}

/// Bit-field helpers: `bits(value, 15, 8)` is bits 15:8 as in the specs' tables.
@inline(__always) func bits<T: FixedWidthInteger>(_ value: T, _ high: Int, _ low: Int) -> T {
    (value >> T(low)) & mask(T.self, high - low + 1)
}

@inline(__always) func bit<T: FixedWidthInteger>(_ value: T, _ index: Int) -> Bool { (value >> T(index)) & 1 == 1 }

@inline(__always) func mask<T: FixedWidthInteger>(_: T.Type, _ width: Int) -> T {
    width >= T.bitWidth ? ~0 : (T(1) << T(width)) - 1
}

@inline(__always) func field<T: FixedWidthInteger>(_ value: T, _ high: Int, _ low: Int) -> T {
    (value & mask(T.self, high - low + 1)) << T(low)
}

@inline(__always) func flag<T: FixedWidthInteger>(_ set: Bool, _ index: Int) -> T { set ? T(1) << T(index) : 0 }
