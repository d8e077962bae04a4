/// Hex and decimal rendering without Foundation (CorralCore depends on the stdlib only).
public enum Hex {
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
