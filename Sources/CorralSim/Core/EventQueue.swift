import CorralCore

/// The simulator's agenda: a binary min-heap of happenings ordered by virtual time, ties
/// broken by the order they were scheduled — so a seed always replays the same history.
struct EventQueue<Element> {
    private var heap: [(at: Instant, sequence: UInt64, element: Element)] = []
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var nextTime: Instant? { heap.first?.at }

    mutating func schedule(_ element: Element, at time: Instant) {
        heap.append((time, nextSequence, element))
        nextSequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (at: Instant, element: Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, Self.before(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, Self.before(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.at, top.element)
    }

    private static func before(
        _ a: (at: Instant, sequence: UInt64, element: Element), _ b: (at: Instant, sequence: UInt64, element: Element)
    ) -> Bool {
        a.at < b.at || (a.at == b.at && a.sequence < b.sequence)
    }
}
