/// Byte patterns shared by the line and record layers.
enum Pattern {
    static let kernelColon = [UInt8](ascii: "kernel:")
    static let colon = [UInt8](ascii: ":")
    static let openBracket = [UInt8](ascii: "[")
    static let closeBracket = [UInt8](ascii: "]")
}
