/// Hex and decimal rendering without Foundation (CorralCore depends on the stdlib only).
public enum Hex {
    /// The value of one ASCII hex digit (either case), nil for any other byte.
    @inline(__always)
    public static func digitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }

    /// Lowercase hex without leading zeros.
    public static func string<T: BinaryInteger>(_ value: T) -> String {
        String(value, radix: 16, uppercase: false)
    }

    /// Lowercase hex, left-padded with zeros to `width` digits.
    public static func padded<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: false)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// Renders counts the way operators read them: `12,345`.
public enum Count {
    public static func grouped<T: BinaryInteger>(_ value: T) -> String {
        let digits = String(value.magnitude)
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }
}
