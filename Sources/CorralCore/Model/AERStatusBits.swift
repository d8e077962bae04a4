/// The names of the bits of an AER status register, as the kernel prints them
/// (`aer_correctable_error_string[]` and `aer_uncorrectable_error_string[]` in
/// drivers/pci/pcie/aer.c; ../shared/reference/kernel-anchors.md §6.1), so a journaled union of
/// status values reads the way `dmesg` did: `0x00004020 (SDES, CmpltTO)`.
public struct AERStatusBits: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt32
    public let severity: AERSeverity

    public init(_ value: UInt32, severity: AERSeverity) {
        self.value = value
        self.severity = severity
    }

    static let correctable: [Int: String] = [
        0: "RxErr", 6: "BadTLP", 7: "BadDLLP", 8: "Rollover", 12: "Timeout", 13: "NonFatalErr", 14: "CorrIntErr",
        15: "HeaderOF",
    ]
    static let uncorrectable: [Int: String] = [
        0: "Undefined", 4: "DLP", 5: "SDES", 12: "TLP", 13: "FCP", 14: "CmpltTO", 15: "CmpltAbrt", 16: "UnxCmplt",
        17: "RxOF", 18: "MalfTLP", 19: "ECRC", 20: "UnsupReq", 21: "ACSViol", 22: "UncorrIntErr", 23: "BlockedTLP",
        24: "AtomicOpBlocked", 25: "TLPBlockedErr", 26: "PoisonTLPBlocked",
    ]

    /// The set bits' names, lowest bit first; a bit the kernel has no name for is `bit N`.
    public var names: [String] {
        let table = severity == .corrected ? Self.correctable : Self.uncorrectable
        return (0..<32).filter { value & (1 << $0) != 0 }.map { table[$0] ?? "bit \($0)" }
    }

    public var description: String {
        "0x" + Hex.padded(value, width: 8) + (value == 0 ? "" : " (" + names.joined(separator: ", ") + ")")
    }

}
