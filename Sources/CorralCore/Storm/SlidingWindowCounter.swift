/// An O(1) estimate of how many events happened in the last `window`: the count of the
/// current fixed window plus the previous window's count weighted by how much of it still
/// overlaps (the sliding-window approximation used by rate limiters).
///
/// - Complexity: O(1) time, 24 bytes.
public struct SlidingWindowCounter: Hashable, Sendable {
    private var windowStart: Instant = .zero
    private var current: UInt64 = 0
    private var previous: UInt64 = 0

    public init() {}

    public mutating func add(_ count: UInt64, at now: Instant, window: Duration) {
        add(count, at: now, windowNanoseconds: window.nanosecondsClamped)
    }

    public func estimate(at now: Instant, window: Duration) -> Double {
        estimate(at: now, windowNanoseconds: window.nanosecondsClamped)
    }

    // The per-event path takes the window in nanoseconds (`RateThreshold.windowNanoseconds`):
    // converting a `Duration` costs 128-bit arithmetic on every call.
    @inline(__always)
    public mutating func add(_ count: UInt64, at now: Instant, windowNanoseconds length: Int64) {
        if now.nanoseconds >= windowStart.nanoseconds &+ length { roll(to: now, length: length) }
        current &+= count
    }

    public func estimate(at now: Instant, windowNanoseconds length: Int64) -> Double {
        var copy = self
        copy.roll(to: now, length: length)
        let intoWindow = Double(now.nanoseconds - copy.windowStart.nanoseconds) / Double(length)
        return Double(copy.current) + Double(copy.previous) * max(0, 1 - intoWindow)
    }

    private mutating func roll(to now: Instant, length: Int64) {
        guard now.nanoseconds >= windowStart.nanoseconds &+ length else { return }
        let windowsPassed = (now.nanoseconds - windowStart.nanoseconds) / length
        previous = windowsPassed == 1 ? current : 0
        current = 0
        windowStart = Instant(nanoseconds: windowStart.nanoseconds + windowsPassed * length)
    }
}
