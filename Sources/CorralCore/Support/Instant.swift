/// A point in engine time: nanoseconds since an origin the caller chooses (boot for
/// `/dev/kmsg`, zero for the simulator, the first line's timestamp for a replay).
///
/// The engine never reads a clock; every call passes `now` as one of these. Plain `Int64`
/// arithmetic keeps the per-event path cheap and exactly reproducible.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)
    /// A deadline that never comes (a measure held until something else lifts it).
    public static let never = Instant(nanoseconds: .max)

    public static func seconds(_ s: Int64) -> Instant { Instant(nanoseconds: s * 1_000_000_000) }
    public static func milliseconds(_ ms: Int64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }
    public static func microseconds(_ us: Int64) -> Instant { Instant(nanoseconds: us * 1_000) }

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &+ rhs.nanosecondsClamped)
    }

    public static func - (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &- rhs.nanosecondsClamped)
    }

    public static func - (lhs: Instant, rhs: Instant) -> Duration {
        .nanoseconds(lhs.nanoseconds &- rhs.nanoseconds)
    }

    /// `12.000345678s`, the dmesg-like rendering used in timelines.
    public var description: String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        let seconds = magnitude / 1_000_000_000
        let fraction = magnitude % 1_000_000_000
        let padded = String(fraction)
        return sign + "\(seconds)." + String(repeating: "0", count: 9 - padded.count) + padded + "s"
    }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to `Int64`.
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }

    /// Seconds as a `Double`, for rates.
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The compact form used in configuration and reasons: `500ms`, `1s`, `5m`, `1h`, `1d`.
    /// The largest unit that divides the duration exactly is chosen.
    public var compact: String {
        let ns = nanosecondsClamped
        if ns == 0 { return "0s" }
        for (unit, size) in DurationText.units.reversed() where ns % size == 0 {
            return "\(ns / size)\(unit)"
        }
        return "\(ns)ns"
    }

    /// Parses `<integer><unit>` with unit ns, us, ms, s, m, h or d (`500ms`, `24h`).
    public init(parsing text: some StringProtocol) throws(DurationParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard let unitStart = trimmed.firstIndex(where: { !$0.isASCII || !$0.isNumber }) else {
            throw DurationParseError(text: String(text), problem: "missing unit (ns, us, ms, s, m, h, d)")
        }
        let numberText = trimmed[..<unitStart]
        let unitText = trimmed[unitStart...].trimmingASCIIWhitespace()
        guard let number = Int64(numberText) else {
            throw DurationParseError(text: String(text), problem: "expected a whole number before the unit")
        }
        guard let size = DurationText.units.first(where: { $0.0 == unitText })?.1 else {
            throw DurationParseError(text: String(text), problem: "unknown unit '\(unitText)' (ns, us, ms, s, m, h, d)")
        }
        let (total, overflow) = number.multipliedReportingOverflow(by: size)
        guard !overflow else { throw DurationParseError(text: String(text), problem: "too large") }
        self = .nanoseconds(total)
    }
}

enum DurationText {
    static let units: [(String, Int64)] = [
        ("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
        ("m", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000),
    ]
}

/// Why a text is not a duration.
public struct DurationParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let text: String
    public let problem: String
    public init(text: String, problem: String) {
        self.text = text
        self.problem = problem
    }
    public var description: String { "'\(text)' is not a duration: \(problem)" }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (no Foundation, no Unicode tables).
    public func trimmingASCIIWhitespace() -> SubSequence {
        var start = startIndex
        var end = endIndex
        while start < end, self[start] == " " || self[start] == "\t" { start = index(after: start) }
        while end > start, self[index(before: end)] == " " || self[index(before: end)] == "\t" {
            end = index(before: end)
        }
        return self[start..<end]
    }
}
