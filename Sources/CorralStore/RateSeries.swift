/// An episode's events over time, in at most `capacity` equal buckets from its first event, so
/// the report can draw the rate's shape — the climb, the drop after containment, a relapse —
/// rather than one average (issue 17). The bucket width starts at `baseWidth` and doubles,
/// adjacent buckets merged, whenever the episode outgrows the buckets: memory and the journaled
/// text stay bounded (256 numbers) whatever the episode's length, and an episode longer than
/// 256 base widths always keeps at least 128 buckets.
public struct RateSeries: Hashable, Sendable {
    public static let capacity = 256
    public static let baseWidth: Int64 = 1_000_000

    /// Nanoseconds per bucket: `baseWidth` × a power of two.
    public private(set) var width: Int64
    /// Events per bucket, the first starting at the episode's first event; trailing empty
    /// buckets are not kept.
    public private(set) var counts: [UInt64]

    public init() {
        width = Self.baseWidth
        counts = []
    }

    /// `count` events `offset` nanoseconds after the episode's first (negative offsets, which
    /// the book does not let in, land in the first bucket).
    public mutating func add(offset: Int64, count: UInt64) {
        var index = max(0, offset) / width
        while index >= Int64(Self.capacity) {
            widen()
            index = max(0, offset) / width
        }
        let slot = Int(index)
        if slot >= counts.count { counts.append(contentsOf: repeatElement(0, count: slot - counts.count + 1)) }
        counts[slot] &+= count
    }

    /// Doubles the width: bucket pairs merged.
    mutating func widen() {
        var merged: [UInt64] = []
        merged.reserveCapacity(Self.capacity)
        var index = 0
        while index < counts.count {
            merged.append(counts[index] &+ (index + 1 < counts.count ? counts[index + 1] : 0))
            index += 2
        }
        counts = merged
        width *= 2
    }

    /// The journal's form: `width count count …` in decimal (`1000000 12 0 40`).
    public var text: String {
        ([String(width)] + counts.map { String($0) }).joined(separator: " ")
    }

    /// Reads `text`; nil when it is not that form (a damaged row draws no series, never a wrong one).
    public init?(text: String) {
        let fields = text.split(separator: " ")
        guard let first = fields.first, let width = Int64(first), width >= Self.baseWidth,
            fields.count - 1 <= Self.capacity
        else { return nil }
        var counts: [UInt64] = []
        counts.reserveCapacity(fields.count - 1)
        for field in fields.dropFirst() {
            guard let count = UInt64(field) else { return nil }
            counts.append(count)
        }
        self.width = width
        self.counts = counts
    }

    /// Events per second in each bucket, with its start offset (nanoseconds after the first event).
    public var rates: [(offset: Int64, perSecond: Double)] {
        counts.enumerated().map { (Int64($0.offset) * width, Double($0.element) * 1e9 / Double(width)) }
    }
}
