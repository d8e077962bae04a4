/// A record's raw 64-bit words as the kernel printed or the hardware wrote them (SMMUv3: four
/// event dwords; AMD-Vi: two quadwords), kept inline: an array here cost one heap allocation per
/// decoded record on the engine's hot path (benchmarks/ANALYSIS.md).
public struct RawWords: RandomAccessCollection, Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64)
    public let count: Int

    public init(_ first: UInt64, _ second: UInt64) {
        words = (first, second, 0, 0)
        count = 2
    }

    public init(_ first: UInt64, _ second: UInt64, _ third: UInt64, _ fourth: UInt64) {
        words = (first, second, third, fourth)
        count = 4
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> UInt64 {
        precondition(position >= 0 && position < count, "RawWords index out of range")
        switch position {
        case 0: return words.0
        case 1: return words.1
        case 2: return words.2
        default: return words.3
        }
    }

    public static func == (lhs: RawWords, rhs: RawWords) -> Bool { lhs.elementsEqual(rhs) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for word in self { hasher.combine(word) }
    }
}
