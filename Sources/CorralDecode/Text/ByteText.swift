import CorralCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The scanners every family reads fields with, on `ByteText` (TextView.swift).

extension ByteText {
    /// The text as a `String` (invalid UTF-8 is repaired, never fatal).
    var string: String { withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) } }

    /// First index at or after `from` where `needle` starts. The first byte is found with
    /// `memchr` (vectorised in libc): most searches run over text that has no match at all.
    func find(_ needle: [UInt8], from: Int? = nil) -> Int? {
        needle.withUnsafeBufferPointer { find(bytes: $0, from: from) }
    }

    func find(bytes needle: UnsafeBufferPointer<UInt8>, from: Int?) -> Int? {
        guard let first = needle.first else { return from ?? startIndex }
        let start = Swift.max(from ?? startIndex, startIndex)
        let last = endIndex - needle.count
        guard start <= last else { return nil }
        return withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            // `buffer` starts at `startIndex`; positions in it are offsets from there.
            var offset = start - startIndex
            let lastOffset = last - startIndex
            // A short text (a driver name, a word) is compared in place: a call to memchr costs
            // more than the bytes it would skip.
            if lastOffset - offset < 32 {
                while offset <= lastOffset {
                    if base[offset] == first {
                        var index = 1
                        while index < needle.count, base[offset + index] == needle[index] { index += 1 }
                        if index == needle.count { return startIndex + offset }
                    }
                    offset += 1
                }
                return nil
            }
            while offset <= lastOffset {
                guard let found = memchr(base + offset, Int32(first), lastOffset - offset + 1) else { return nil }
                offset = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                var matched = true
                var index = 1
                while index < needle.count {
                    if base[offset + index] != needle[index] {
                        matched = false
                        break
                    }
                    index += 1
                }
                if matched { return startIndex + offset }
                offset += 1
            }
            return nil
        }
    }

    /// Whether `byte` occurs anywhere (`memchr`).
    func contains(byte: UInt8) -> Bool {
        withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            return memchr(base, Int32(byte), buffer.count) != nil
        }
    }

    /// Whether `needle` occurs anywhere.
    func contains(_ needle: [UInt8]) -> Bool { find(needle) != nil }

    /// Whether the bytes at `at` are `needle`.
    func matches(_ needle: [UInt8], at: Int) -> Bool {
        needle.withUnsafeBufferPointer { matches(bytes: $0, at: at) }
    }

    @inline(__always)
    func matches(bytes needle: UnsafeBufferPointer<UInt8>, at: Int) -> Bool {
        guard at >= startIndex, at + needle.count <= endIndex, let needleBase = needle.baseAddress else {
            return needle.isEmpty && at >= startIndex && at <= endIndex
        }
        // Bounds checked once above: the bytes are compared through the pointers.
        checkAlive()
        let here = base + at
        var offset = 0
        while offset < needle.count {
            if here[offset] != needleBase[offset] { return false }
            offset += 1
        }
        return true
    }

    /// Whether the text starts with `needle`.
    func starts(with needle: [UInt8]) -> Bool { matches(needle, at: startIndex) }

    /// Whether the text ends with `needle`.
    func ends(with needle: [UInt8]) -> Bool { matches(needle, at: endIndex - needle.count) }

    // The same with a literal needle (`text.contains("DPC")`): a `StaticString` is read in
    // place, where `[UInt8](ascii:)` in a function body allocated an array per call (per line,
    // in the families' gates).

    /// First index at or after `from` where the literal `needle` starts.
    func find(_ needle: StaticString, from: Int? = nil) -> Int? {
        needle.withUTF8Buffer { find(bytes: $0, from: from) }
    }

    /// Whether the literal `needle` occurs anywhere.
    func contains(_ needle: StaticString) -> Bool { find(needle) != nil }

    /// Whether the literal `needle` occurs anywhere in a long text (a whole block of lines),
    /// stepping with memchr from one occurrence of its *last* byte to the next: `find` steps by
    /// its first, and the `=` of `=3D` is in most lines of some logs, its `D` in few.
    func containsInLongText(_ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { needle in
            guard let lastByte = needle.last else { return true }
            return withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress, buffer.count >= needle.count else { return false }
                var offset = needle.count - 1
                while offset < buffer.count,
                    let found = memchr(base + offset, Int32(lastByte), buffer.count - offset)
                {
                    let end = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    let start = end - (needle.count - 1)
                    if (0..<needle.count).allSatisfy({ base[start + $0] == needle[$0] }) { return true }
                    offset = end + 1
                }
                return false
            }
        }
    }

    /// Whether the bytes at `at` are the literal `needle`.
    /// Inlined: the needle is a literal, so its length and bytes are constants where it is used
    /// (every gate asks a few of these per line).
    @inline(__always)
    func matches(_ needle: StaticString, at: Int) -> Bool {
        needle.withUTF8Buffer { matches(bytes: $0, at: at) }
    }

    /// Whether the text starts with the literal `needle`.
    @inline(__always)
    func starts(with needle: StaticString) -> Bool { matches(needle, at: startIndex) }

    /// Whether the text ends with the literal `needle`.
    func ends(with needle: StaticString) -> Bool { matches(needle, at: endIndex - needle.utf8CodeUnitCount) }

    /// Index of the first byte at or after `from` that is not a space or tab.
    func skippingBlanks(from: Int) -> Int {
        var index = from
        while index < endIndex, self[index] == 0x20 || self[index] == 0x09 { index += 1 }
        return index
    }

    /// The text without leading and trailing blanks (space, tab, CR).
    var trimmed: ByteText {
        var start = startIndex
        var end = endIndex
        while start < end, self[start].isBlank { start += 1 }
        while end > start, self[end - 1].isBlank || self[end - 1] == 0x0D { end -= 1 }
        return self[start..<end]
    }
}

extension UInt8 {
    var isBlank: Bool { self == 0x20 || self == 0x09 }
    var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isUpper: Bool { self >= 0x41 && self <= 0x5A }
    var isLower: Bool { self >= 0x61 && self <= 0x7A }
    var isLetter: Bool { isUpper || isLower }

    /// The value of a hex digit, or nil.
    var hexValue: UInt8? {
        switch self {
        case 0x30...0x39: self - 0x30
        case 0x61...0x66: self - 0x61 + 10
        case 0x41...0x46: self - 0x41 + 10
        default: nil
        }
    }
}

/// A number read from text, with the index just after it.
struct ScannedNumber {
    var value: UInt64
    var end: Int
}

extension ByteText {
    /// Reads hex digits at `at` (an optional `0x`/`0X` is skipped). At most 16 digits: longer
    /// runs are not a number a kernel printed with `%llx`, so they fail instead of wrapping.
    func hexNumber(at: Int, allowPrefix: Bool = true) -> ScannedNumber? {
        var index = at
        if allowPrefix, index + 1 < endIndex, self[index] == 0x30, self[index + 1] | 0x20 == 0x78,
            index + 2 < endIndex, self[index + 2].hexValue != nil
        {
            index += 2
        }
        var value: UInt64 = 0
        var digits = 0
        while index < endIndex, let digit = self[index].hexValue {
            guard digits < 16 else { return nil }
            value = value << 4 | UInt64(digit)
            digits += 1
            index += 1
        }
        return digits == 0 ? nil : ScannedNumber(value: value, end: index)
    }

    /// Reads decimal digits at `at` (optional leading `-` is not accepted here).
    func decimalNumber(at: Int) -> ScannedNumber? {
        // Up to 19 digits cannot overflow 64 bits: read those unchecked (every line's
        // timestamp passes here), and only a longer run the careful way.
        if at >= startIndex, at < endIndex {
            checkAlive()
            let limit = Swift.min(endIndex, at + 19)
            var index = at
            var value: UInt64 = 0
            while index < limit {
                let digit = base[index] &- 0x30
                guard digit < 10 else { break }
                value = value &* 10 &+ UInt64(digit)
                index += 1
            }
            if index < limit || index == endIndex || !self[index].isDigit {
                return index == at ? nil : ScannedNumber(value: value, end: index)
            }
        }
        var index = at
        var value: UInt64 = 0
        var digits = 0
        while index < endIndex, self[index].isDigit {
            let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(UInt64(self[index] - 0x30))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            digits += 1
            index += 1
        }
        return digits == 0 ? nil : ScannedNumber(value: value, end: index)
    }

    /// Reads a number written `0x…` (hex) or plain digits (decimal) — the two ways the kernel
    /// prints codes across versions (`%02d` then `0x%02x` in VT-d's fault reason).
    func hexOrDecimalNumber(at: Int) -> ScannedNumber? {
        if at + 1 < endIndex, self[at] == 0x30, self[at + 1] | 0x20 == 0x78 {
            return hexNumber(at: at)
        }
        return decimalNumber(at: at)
    }

    /// The value after the literal `key` (e.g. `flags=`), read as hex, searching from `from`.
    func hexField(_ key: StaticString, from: Int? = nil) -> ScannedNumber? {
        guard let at = find(key, from: from) else { return nil }
        return hexNumber(at: skippingBlanks(from: at + key.utf8CodeUnitCount))
    }

    /// Whether the text is exactly the literal `other`.
    func equals(_ other: StaticString) -> Bool {
        count == other.utf8CodeUnitCount && matches(other, at: startIndex)
    }

    /// Reads a PCI address at `at`: `SSSS:BB:DD.F`, `BB:DD.F` or the short-lived VT-d form
    /// `0xBB:0xDD.F`. Returns the address and the index after it.
    func pciAddress(at: Int, segment defaultSegment: UInt32 = 0) -> (PCIAddress, Int)? {
        // Up to four fields and the separators after the first three, without arrays: this
        // runs for every message with a device prefix.
        var fields: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var fieldCount = 0
        var colons = 0
        var dots = 0
        var lastSeparator: UInt8 = 0
        var index = at
        while fieldCount < 4 {
            guard let number = hexNumber(at: index) else { return nil }
            let width = number.end - index
            guard width <= 10 else { return nil }
            switch fieldCount {
            case 0: fields.0 = number.value
            case 1: fields.1 = number.value
            case 2: fields.2 = number.value
            default: fields.3 = number.value
            }
            fieldCount += 1
            index = number.end
            guard index < endIndex, self[index] == 0x3A || self[index] == 0x2E, lastSeparator != 0x2E else { break }
            lastSeparator = self[index]
            if lastSeparator == 0x3A { colons += 1 } else { dots += 1 }
            index += 1
        }
        // Either bus:dev.fn (":" ".") or seg:bus:dev.fn (":" ":" "."): the dot comes last, and
        // a field follows every separator.
        let segment: UInt64
        let bus: UInt64
        let device: UInt64
        let function: UInt64
        switch (fieldCount, colons, dots, lastSeparator) {
        case (3, 1, 1, 0x2E):
            (segment, bus, device, function) = (UInt64(defaultSegment), fields.0, fields.1, fields.2)
        case (4, 2, 1, 0x2E):
            (segment, bus, device, function) = (fields.0, fields.1, fields.2, fields.3)
        default:
            return nil
        }
        guard segment <= UInt32.max, bus <= 0xFF, device < 32, function < 8,
            let address = PCIAddress(
                segment: UInt32(segment), bus: UInt8(bus), device: UInt8(device), function: UInt8(function))
        else { return nil }
        // A following hex digit or '.' means this was something longer (a version, an address).
        if index < endIndex, self[index].hexValue != nil { return nil }
        return (address, index)
    }

    /// The first whitespace-free token at `at`, and the index after it.
    /// The index after the word starting at `at` (the first blank or the end): `token` without
    /// the slice, for the per-line checks that only need where the word ends.
    func wordEnd(from at: Int) -> Int {
        var end = at
        while end < endIndex, !self[end].isBlank { end += 1 }
        return end
    }

    func token(at: Int) -> (ByteText, Int) {
        let end = wordEnd(from: at)
        return (self[at..<end], end)
    }
}

/// Byte strings for the patterns below, written once.
extension Array where Element == UInt8 {
    init(ascii text: StaticString) {
        self = text.withUTF8Buffer { Array($0) }
    }
}

extension StaticString {
    /// Bytes in the needle: the families measure what they matched to step past it.
    var count: Int { utf8CodeUnitCount }
}
