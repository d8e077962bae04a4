/// A global cap on device-changing actions: at most `limit.count` in any `limit.window`.
///
/// When open, further actions are downgraded to recommendations (and said so), so that a bug,
/// a forged log flood or a machine-wide event can never make Corral itself the storm.
///
/// - Complexity: O(1) per check; memory is `limit.count` timestamps.
public struct CircuitBreaker: Hashable, Sendable {
    public let limit: RateThreshold
    /// Ring of the times of the last `limit.count` admitted actions.
    private var recent: [Instant]
    private var next = 0
    public private(set) var tripped: UInt64 = 0

    public init(limit: RateThreshold) {
        self.limit = limit
        let capacity = Int(clamping: min(limit.count, 100_000))
        recent = []
        recent.reserveCapacity(capacity)
    }

    /// Admits one action at `now`, or refuses it when `limit.count` were admitted within the
    /// last window.
    public mutating func admit(at now: Instant) -> Bool {
        let capacity = Int(clamping: min(limit.count, 100_000))
        if recent.count < capacity {
            recent.append(now)
            return true
        }
        // `recent[next]` is the oldest of the last `capacity` admissions.
        if now - recent[next] < limit.window {
            tripped += 1
            return false
        }
        recent[next] = now
        next = (next + 1) % capacity
        return true
    }
}
