/// Counts events over a sliding window kept as 16 sub-windows plus the current one, so that a
/// threshold written `N / W` means what it says: it fires on the event that makes N events
/// within any W.
///
/// Tolerance (docs/engine.md, "Thresholds"): the count covers the current sub-window and the 16
/// before it, a span between W and W·(1 + 1/16). So N events within any W always fire; N events
/// spread over up to 1/16 longer than W may fire too; fewer than N within W·(1 + 1/16) never do.
/// (The leaky bucket it replaces drained while a burst arrived: 1,500 faults in 750 ms never
/// reached `1000/1s`.)
///
/// - Complexity: O(1) amortised per event (a sub-window is cleared once per lap); fixed size
///   (17 × 4 bytes of counts and three words), whatever the number of events.
public struct WindowCounter: Sendable {
    /// Sub-windows per window: the tolerance is one of them.
    public static let subWindows: Int64 = 16
    static let ring = 17

    private var counts = InlineArray<17, UInt32>(repeating: 0)
    /// Index of the newest sub-window (`now / width`), or nil before the first event.
    private var newest: Int64?
    /// Width of a sub-window in nanoseconds (a policy reload can change it: then it starts over).
    private var width: Int64 = 0
    /// Sum of `counts`.
    private var sum: UInt64 = 0
    /// Where the newest sub-window is in `counts` (`newest % 17`), and the first nanosecond of
    /// the one after it: an event before that boundary needs no division (three 64-bit
    /// divisions per event were a large part of the engine's time; benchmarks/ANALYSIS.md §1).
    private var newestSlot = 0
    private var nextBoundary: Int64 = 0

    public init() {}

    /// Events in the window ending at `now` (the current sub-window and the 16 before it).
    public func count(at now: Instant, threshold: RateThreshold) -> UInt64 {
        var copy = self
        return copy.settle(at: now, threshold: threshold)
    }

    /// `count(at:threshold:)` without the copy: moves the window to `now` (which the next
    /// `add` at `now` would do anyway) and returns its count. For the per-event path.
    public mutating func settle(at now: Instant, threshold: RateThreshold) -> UInt64 {
        advance(to: now, width: threshold.subWindowNanoseconds)
        return sum
    }

    /// Whether the window ending at `now` holds the threshold's count.
    public func isFull(at now: Instant, threshold: RateThreshold) -> Bool {
        count(at: now, threshold: threshold) >= threshold.count
    }

    /// Adds `amount` events at `now`; returns whether the window now holds the threshold's count.
    /// An event earlier than the newest sub-window (a replay with reordered timestamps) counts
    /// in the newest.
    public mutating func add(_ amount: UInt64, at now: Instant, threshold: RateThreshold) -> Bool {
        add(amount, at: now, subWindowNanoseconds: threshold.subWindowNanoseconds).after >= threshold.count
    }

    /// Adds `amount` at `now` and returns the count in the window before it was added: the
    /// detector's per-event path, which needs both and so moves the window once.
    @inline(__always)
    mutating func add(_ amount: UInt64, at now: Instant, subWindowNanoseconds: Int64) -> (before: UInt64, after: UInt64)
    {
        advance(to: now, width: subWindowNanoseconds)
        let before = sum
        let room = UInt64(UInt32.max - counts[newestSlot])
        let added = min(amount, room)
        counts[newestSlot] += UInt32(added)
        sum &+= added
        return (before, sum)
    }

    /// Forgets every count (a containment step starts a fresh measurement).
    public mutating func empty(at now: Instant) {
        for index in 0..<Self.ring { counts[index] = 0 }
        sum = 0
        if width > 0 {
            setNewest(max(0, now.nanoseconds) / width)
        } else {
            newest = nil
        }
    }

    /// Makes sub-window `index` the newest (the slow path: one division, on a new sub-window).
    private mutating func setNewest(_ index: Int64) {
        newest = index
        newestSlot = Int(index % Int64(Self.ring))
        let (end, overflow) = (index + 1).multipliedReportingOverflow(by: width)
        nextBoundary = overflow ? .max : end
    }

    @inline(__always)
    private mutating func advance(to now: Instant, width newWidth: Int64) {
        // Most events fall in the newest sub-window (or before it, reordered): nothing moves.
        if newWidth == width && newest != nil && max(0, now.nanoseconds) < nextBoundary { return }
        move(to: now, width: newWidth)
    }

    /// The rest of `advance`, out of line: a new sub-window, or a new width.
    private mutating func move(to now: Instant, width newWidth: Int64) {
        let time = max(0, now.nanoseconds)
        if newWidth != width {
            width = newWidth
            for index in 0..<Self.ring { counts[index] = 0 }
            sum = 0
            setNewest(time / width)
            return
        }
        let index = time / width
        guard let last = newest else {
            setNewest(index)
            return
        }
        guard index > last else { return }
        let steps = index - last
        if steps >= Int64(Self.ring) {
            for slot in 0..<Self.ring { counts[slot] = 0 }
            sum = 0
        } else {
            var step: Int64 = 1
            while step <= steps {
                let slot = Int((last + step) % Int64(Self.ring))
                sum -= UInt64(counts[slot])
                counts[slot] = 0
                step += 1
            }
        }
        setNewest(index)
    }
}
