/// Turns a log file's bytes into UTF-8, whatever Windows or a bug tracker saved it as: UTF-16
/// (little or big endian, with or without a byte-order mark; `Out-File` and Notepad write it)
/// is converted, a UTF-8 byte-order mark is dropped. Decided once, from the first bytes; chunk
/// boundaries may fall anywhere (in a code unit, between surrogates).
///
/// Without it a UTF-16 log reads as lines with a NUL between every character: no family
/// matches, and five events became one or none, with exit 0 and no warning.
public struct TextTranscoder {
    public enum Encoding: String, Sendable {
        case utf8 = "UTF-8"
        case utf8WithBOM = "UTF-8 with byte-order mark"
        case utf16LE = "UTF-16LE"
        case utf16LEWithBOM = "UTF-16LE with byte-order mark"
        case utf16BE = "UTF-16BE"
        case utf16BEWithBOM = "UTF-16BE with byte-order mark"

        var isUTF16: Bool { self != .utf8 && self != .utf8WithBOM }
        var bigEndian: Bool { self == .utf16BE || self == .utf16BEWithBOM }
    }

    /// Nil until the first bytes arrived.
    public private(set) var encoding: Encoding?
    /// Bytes held until there are enough to decide, or half a code unit.
    private var pending: [UInt8] = []
    /// A high surrogate waiting for its low half.
    private var highSurrogate: UInt16?
    /// Code units that were not valid UTF-16 (an unpaired surrogate): written as U+FFFD.
    public private(set) var invalidUnits = 0

    /// How many bytes the decision looks at (or all of a shorter input, at `finish`).
    static let sniffBytes = 512

    public init() {}

    /// The UTF-8 bytes of the next chunk (possibly fewer or more than it holds).
    public mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        if encoding == nil {
            pending += chunk
            guard pending.count >= Self.sniffBytes else { return [] }
            return decide()
        }
        guard let encoding, encoding.isUTF16 else { return chunk }
        return transcode(chunk)
    }

    /// The last bytes, at the end of the input.
    public mutating func finish() -> [UInt8] {
        var out: [UInt8] = []
        if encoding == nil { out = decide() }
        if encoding?.isUTF16 == true {
            if !pending.isEmpty { invalidUnits += 1 }  // half a code unit at the very end
            if highSurrogate != nil {
                invalidUnits += 1
                Self.append(0xFFFD, to: &out)
            }
            pending = []
            highSurrogate = nil
        }
        return out
    }

    private mutating func decide() -> [UInt8] {
        let head = pending
        pending = []
        let found = Self.detect(head)
        encoding = found
        switch found {
        case .utf8: return head
        case .utf8WithBOM: return Array(head.dropFirst(3))
        case .utf16LEWithBOM, .utf16BEWithBOM: return transcode(Array(head.dropFirst(2)))
        case .utf16LE, .utf16BE: return transcode(head)
        }
    }

    /// A byte-order mark, else NUL bytes in one half of every code unit and not the other (ASCII
    /// text as UTF-16), else UTF-8.
    static func detect(_ head: [UInt8]) -> Encoding {
        if head.starts(with: [0xEF, 0xBB, 0xBF]) { return .utf8WithBOM }
        if head.starts(with: [0xFF, 0xFE]) { return .utf16LEWithBOM }
        if head.starts(with: [0xFE, 0xFF]) { return .utf16BEWithBOM }
        let pairs = head.count / 2
        guard pairs >= 2 else { return .utf8 }
        var evenZeros = 0
        var oddZeros = 0
        for index in 0..<pairs * 2 where head[index] == 0 {
            if index % 2 == 0 { evenZeros += 1 } else { oddZeros += 1 }
        }
        if oddZeros * 10 >= pairs * 4, evenZeros * 20 < pairs { return .utf16LE }
        if evenZeros * 10 >= pairs * 4, oddZeros * 20 < pairs { return .utf16BE }
        return .utf8
    }

    private mutating func transcode(_ chunk: [UInt8]) -> [UInt8] {
        let bigEndian = encoding?.bigEndian ?? false
        var bytes = chunk
        if !pending.isEmpty {
            bytes = pending + chunk
            pending = []
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 2 + 8)
        var index = 0
        while index + 1 < bytes.count {
            let unit =
                bigEndian
                ? UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
                : UInt16(bytes[index + 1]) << 8 | UInt16(bytes[index])
            index += 2
            switch unit {
            case 0xD800...0xDBFF:
                if highSurrogate != nil {
                    invalidUnits += 1
                    Self.append(0xFFFD, to: &out)
                }
                highSurrogate = unit
            case 0xDC00...0xDFFF:
                if let high = highSurrogate {
                    let scalar = 0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00)
                    Self.append(scalar, to: &out)
                    highSurrogate = nil
                } else {
                    invalidUnits += 1
                    Self.append(0xFFFD, to: &out)
                }
            default:
                if highSurrogate != nil {
                    invalidUnits += 1
                    Self.append(0xFFFD, to: &out)
                    highSurrogate = nil
                }
                Self.append(UInt32(unit), to: &out)
            }
        }
        if index < bytes.count { pending = [bytes[index]] }
        return out
    }

    static func append(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(0xC0 | UInt8(scalar >> 6))
            out.append(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(0xE0 | UInt8(scalar >> 12))
            out.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            out.append(0x80 | UInt8(scalar & 0x3F))
        default:
            out.append(0xF0 | UInt8(scalar >> 18))
            out.append(0x80 | UInt8((scalar >> 12) & 0x3F))
            out.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            out.append(0x80 | UInt8(scalar & 0x3F))
        }
    }
}
