import CorralCore

/// The CPU that takes the IOMMU's fault interrupts. Handling costs (from `CostModel`) are
/// booked as busy time in 1 ms buckets of virtual time; whatever is left of a bucket is what
/// the CPU had for other work. Fixed memory per simulated second (1,000 buckets).
struct CPUModel {
    static let bucket: Duration = .milliseconds(1)
    private(set) var busy: [Int64] = []
    /// The CPU is busy until then (work queues behind work).
    private(set) var freeAt = Instant.zero

    /// Books `cost` of work that becomes ready at `ready`; returns when it is done.
    mutating func run(_ cost: Duration, readyAt ready: Instant) -> Instant {
        let start = max(ready, freeAt)
        let end = start + cost
        book(from: start, to: end)
        freeAt = end
        return end
    }

    private mutating func book(from start: Instant, to end: Instant) {
        let width = Self.bucket.nanosecondsClamped
        var cursor = start.nanoseconds
        while cursor < end.nanoseconds {
            let index = Int(cursor / width)
            let bucketEnd = Int64(index + 1) * width
            let slice = min(end.nanoseconds, bucketEnd) - cursor
            if busy.count <= index { busy.append(contentsOf: repeatElement(0, count: index + 1 - busy.count)) }
            busy[index] += slice
            cursor += slice
        }
    }

    /// Share of each 1 ms bucket left for other work, over `[from, from + length)`.
    func otherWork(from: Instant, length: Duration) -> [Double] {
        let width = Self.bucket.nanosecondsClamped
        let first = Int(from.nanoseconds / width)
        let count = Int(length.nanosecondsClamped / width)
        return (first..<(first + count)).map { index in
            let used = index < busy.count ? busy[index] : 0
            return 1 - Double(min(used, width)) / Double(width)
        }
    }

    var totalBusy: Int64 { busy.reduce(0, +) }
}
