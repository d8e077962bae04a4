/// A leaky bucket (mcelog `leaky-bucket.c`): each event adds one unit, the bucket drains at
/// `count / window`, and the threshold is reached by the event that brings it above
/// `count - 1` units: the `count`-th event of a burst, whatever tiny drain happened between.
///
/// Short bursts under the threshold drain away; a sustained rate at or above `count / window`
/// fills it. The level saturates at the capacity so that, once a storm stops, the bucket is
/// empty again within one window however long the storm lasted.
///
/// - Complexity: O(1) time and 24 bytes per bucket, whatever the number of events.
public struct LeakyBucket: Hashable, Sendable {
    /// Units currently held, in `0...capacity`.
    public private(set) var level: Double = 0
    /// When ``level`` was last brought up to date.
    public private(set) var updatedAt: Instant = .zero
    /// The threshold's count, remembered from the last pour.
    private var capacity: Double = 1

    public init() {}

    /// Drains the bucket up to `now`, then pours in `amount` units. Returns whether the
    /// threshold is reached.

    public mutating func pour(_ amount: UInt64, at now: Instant, threshold: RateThreshold) -> Bool {
        capacity = Double(threshold.count)
        let current = level(at: now, threshold: threshold)
        setLevel(min(capacity, current + Double(amount)), at: now)
        return isFull
    }

    /// The threshold is reached (see the type's discussion).
    public var isFull: Bool { level > Double(levelCapacityMinusOne) }

    private var levelCapacityMinusOne: Double { capacity - 1 }

    /// The level at `now` without changing the bucket. Time running backwards (a replay with
    /// reordered timestamps) drains nothing.

    public func level(at now: Instant, threshold: RateThreshold) -> Double {
        let elapsed = now.nanoseconds - updatedAt.nanoseconds
        guard elapsed > 0 else { return level }
        let drained = Double(elapsed) * threshold.drainPerNanosecond
        return max(0, level - drained)
    }

    /// Whether the threshold is reached at `now`, without pouring.
    public func isFull(at now: Instant, threshold: RateThreshold) -> Bool {
        level(at: now, threshold: threshold) > Double(threshold.count) - 1
    }

    /// Empties the bucket (a containment step starts a fresh measurement).
    public mutating func empty(at now: Instant) {
        setLevel(0, at: now)
    }

    mutating func setLevel(_ newLevel: Double, at now: Instant) {
        level = newLevel
        if now > updatedAt { updatedAt = now }
    }
}
