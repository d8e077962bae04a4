/// A rate written the way mcelog writes its thresholds: `N / <duration>` (`1000 / 1s`,
/// `5 / 1h`, `10 / 5s`). Count suffixes `k`, `m`, `g` are accepted like mcelog's.
public struct RateThreshold: Hashable, Sendable, CustomStringConvertible {
    /// Events allowed per window before the threshold is reached (≥ 1).
    public let count: UInt64
    /// The window (> 0).
    public let window: Duration
    /// `window` in nanoseconds, computed once: the per-event path would otherwise convert the
    /// `Duration` (128-bit arithmetic) on every event (benchmarks/ANALYSIS.md §1).
    public let windowNanoseconds: Int64
    /// One sixteenth of the window (``WindowCounter``'s resolution), at least 1 ns.
    public let subWindowNanoseconds: Int64

    public init(count: UInt64, per window: Duration) throws(RateParseError) {
        guard count >= 1 else {
            throw RateParseError(text: "\(count) / \(window.compact)", problem: "count must be ≥ 1")
        }
        guard window > .zero else {
            throw RateParseError(text: "\(count) / \(window.compact)", problem: "window must be > 0")
        }
        self.count = count
        self.window = window
        self.windowNanoseconds = window.nanosecondsClamped
        self.subWindowNanoseconds = max(1, window.nanosecondsClamped / WindowCounter.subWindows)
    }

    /// For literals in code whose values are known to be valid.
    public init(_ count: UInt64, per window: Duration) {
        precondition(count >= 1 && window > .zero, "invalid literal threshold")
        self.count = count
        self.window = window
        self.windowNanoseconds = window.nanosecondsClamped
        self.subWindowNanoseconds = max(1, window.nanosecondsClamped / WindowCounter.subWindows)
    }

    /// Parses `N / duration`, spaces optional.
    public init(parsing text: some StringProtocol) throws(RateParseError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw RateParseError(text: String(text), problem: "expected 'N / duration', e.g. '1000 / 1s'")
        }
        var countText = parts[0].trimmingASCIIWhitespace()
        var multiplier: UInt64 = 1
        switch countText.last {
        case "k": multiplier = 1_000
        case "m": multiplier = 1_000_000
        case "g": multiplier = 1_000_000_000
        default: break
        }
        if multiplier > 1 { countText = countText.dropLast() }
        guard let base = UInt64(countText) else {
            throw RateParseError(text: String(text), problem: "'\(parts[0].trimmingASCIIWhitespace())' is not a count")
        }
        let window: Duration
        do {
            window = try Duration(parsing: parts[1])
        } catch {
            throw RateParseError(text: String(text), problem: error.problem)
        }
        let (count, overflow) = base.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw RateParseError(text: String(text), problem: "count too large") }
        try self.init(count: count, per: window)
    }

    /// Events per second this threshold stands for.
    public var perSecond: Double { Double(count) / window.secondsDouble }

    /// `1000/1s`.
    public var description: String { "\(count)/\(window.compact)" }
}

/// Why a text is not a rate threshold.
public struct RateParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let text: String
    public let problem: String
    public var description: String { "'\(text)' is not a rate: \(problem)" }
}
