/// Text that came from a device or its firmware (an NVMe serial, a slot's name, a name in a
/// log) made safe to print on a terminal: control characters — C0, DEL, C1, which include ESC
/// and CSI, the start of every terminal escape sequence — are shown as `\u{1b}`-style escapes
/// instead of being sent to the terminal, where they could move the cursor, rewrite a line the
/// operator is reading, or retitle the window.
public enum TerminalText {
    public static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out += "\\u{\(Hex.string(scalar.value))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
