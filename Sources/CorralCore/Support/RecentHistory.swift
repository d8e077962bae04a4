/// The last `capacity` elements of an append-only history, and how many were ever appended.
///
/// A daemon that runs for months, or a replay of a 10⁸-line log, must not keep every decision
/// or every host write in memory: the journal keeps them all; memory keeps the recent ones for
/// reports and tests. Trimming is amortised: the buffer grows to twice the capacity, then drops
/// its older half in one move, so `append` is O(1) on average.
public struct RecentHistory<Element>: RandomAccessCollection {
    public let capacity: Int
    /// Elements ever appended (those no longer kept included).
    public private(set) var total = 0
    private var buffer: [Element] = []

    public init(capacity: Int) {
        precondition(capacity > 0, "a history keeps at least one element")
        self.capacity = capacity
    }

    public mutating func append(_ element: Element) {
        if buffer.count == 2 * capacity { buffer.removeFirst(capacity) }
        buffer.append(element)
        total += 1
    }

    public mutating func append(contentsOf elements: some Sequence<Element>) {
        for element in elements { append(element) }
    }

    /// Elements appended after the first `count` ever appended, as far as they are still kept.
    public func appended(after count: Int) -> ArraySlice<Element> {
        let newer = Swift.max(0, total - count)
        return buffer.suffix(Swift.min(newer, self.count))
    }

    /// Elements no longer kept.
    public var dropped: Int { total - count }

    // Only the last `capacity` are visible, whatever the buffer holds.
    public var startIndex: Int { Swift.max(0, buffer.count - capacity) }
    public var endIndex: Int { buffer.count }
    public subscript(position: Int) -> Element { buffer[position] }
}

extension RecentHistory: Sendable where Element: Sendable {}
extension RecentHistory: Equatable where Element: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.total == rhs.total && lhs.elementsEqual(rhs)
    }
}
