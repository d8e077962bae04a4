/// Storm detection for one event class on one device: two window counters, one at the
/// `elevated` threshold (the kernel's own 10 / 5 s printk limit by default) and one at the
/// `storm` threshold — each fires on N events within any window (``WindowCounter``) — plus the
/// size of the current burst for reasons and reports.
///
/// - Complexity: O(1) amortised time per event; a fixed size (about 250 bytes) whatever the
///   number of events.
public struct StormDetector: Sendable {
    public private(set) var elevated = WindowCounter()
    public private(set) var storm = WindowCounter()
    /// Events since the storm bucket was last empty: "12,345 faults" in a reason.
    public private(set) var burstCount: UInt64 = 0
    /// When the current burst began.
    public private(set) var burstStart: Instant = .zero
    /// Events per storm window, for finding the noisiest device on an IOMMU.
    public private(set) var recent = SlidingWindowCounter()

    public init() {}

    /// How hot the class is after an event.
    public enum Level: Int, Comparable, Sendable {
        case quiet, elevated, storm
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Records `count` events at `now` and returns the level reached.
    public mutating func record(_ count: UInt64, at now: Instant, thresholds: StormThresholds) -> Level {
        record(count, at: now, limits: Limits(thresholds))
    }

    /// The figures of a class's thresholds that `record` reads, as plain integers. The engine
    /// keeps one per class, made when the policy is set: copying the thresholds (with their
    /// `Duration`s) out of the policy on every event read them back before the copy's stores
    /// had finished (a store-forwarding stall, ≈ 8 % of the engine's time per record).
    public struct Limits: Sendable {
        public let stormCount: UInt64
        public let stormSubWindow: Int64
        public let stormWindow: Int64
        public let elevatedCount: UInt64
        public let elevatedSubWindow: Int64
        public let elevatedWindow: Int64

        public init(_ thresholds: StormThresholds) {
            stormCount = thresholds.storm.count
            stormSubWindow = thresholds.storm.subWindowNanoseconds
            stormWindow = thresholds.storm.windowNanoseconds
            elevatedCount = thresholds.elevated.count
            elevatedSubWindow = thresholds.elevated.subWindowNanoseconds
            elevatedWindow = thresholds.elevated.windowNanoseconds
        }
    }

    @inline(__always)
    mutating func record(_ count: UInt64, at now: Instant, limits: Limits) -> Level {
        let stormCount = storm.add(count, at: now, subWindowNanoseconds: limits.stormSubWindow)
        if stormCount.before == 0 {
            burstCount = 0
            burstStart = now
        }
        burstCount &+= count
        recent.add(count, at: now, windowNanoseconds: limits.stormWindow)
        if stormCount.after >= limits.stormCount {
            _ = elevated.add(count, at: now, subWindowNanoseconds: limits.elevatedSubWindow)
            return .storm
        }
        let elevatedCount = elevated.add(count, at: now, subWindowNanoseconds: limits.elevatedSubWindow)
        return elevatedCount.after >= limits.elevatedCount ? .elevated : .quiet
    }

    /// Estimated events in the last storm window at `now`: how the noisiest device on an
    /// IOMMU is found, also below the storm rate.
    public func recentLevel(at now: Instant, thresholds: StormThresholds) -> Double {
        recent.estimate(at: now, windowNanoseconds: thresholds.storm.windowNanoseconds)
    }

    /// Whether the class is at or above its elevated rate at `now`.
    public func isElevated(at now: Instant, thresholds: StormThresholds) -> Bool {
        elevated.isFull(at: now, threshold: thresholds.elevated)
    }

    /// Forgets the current measurement: after a containment step, only new events count.
    /// The recent-rate estimate is kept: it says who was noisy, which a containment step does
    /// not change (an overflow right after containment is still the contained device's).
    public mutating func restart(at now: Instant) {
        elevated.empty(at: now)
        storm.empty(at: now)
        burstCount = 0
        burstStart = now
    }
}

/// The two thresholds of one event class.
public struct StormThresholds: Hashable, Sendable {
    /// Above this the device is `elevated`: reported in coalesced summaries; during probation
    /// this is also the relapse threshold.
    public var elevated: RateThreshold
    /// At this rate the device is contained.
    public var storm: RateThreshold

    public init(elevated: RateThreshold, storm: RateThreshold) {
        self.elevated = elevated
        self.storm = storm
    }
}
