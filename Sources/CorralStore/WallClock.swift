import CorralCore
import Foundation

/// How times are shown (issue 17): RFC 3339, in local time by default as `journalctl` and
/// `ras-mc-ctl` show them, in UTC with `--utc`. A time with no wall clock behind it (a
/// simulation, a replayed log) is the run's own and says so: `12.000345s virtual`.
public struct TimeDisplay: Hashable, Sendable {
    public var timeZone: TimeZone

    public init(timeZone: TimeZone) { self.timeZone = timeZone }

    /// The machine's zone (TZ, /etc/localtime), or UTC with `utc`.
    public static func choose(utc: Bool) -> TimeDisplay {
        utc ? .utc : TimeDisplay(timeZone: .current)
    }

    public static let utc = TimeDisplay(timeZone: TimeZone(secondsFromGMT: 0)!)

    /// `2026-11-30T14:00:01.123+01:00` (`Z` in UTC); `fractionDigits` 0, 3, 6 or 9.
    public func rfc3339(_ utcNanoseconds: Int64, fractionDigits: Int = 3) -> String {
        let (seconds, nanos) = utcNanoseconds.floorDivided(by: 1_000_000_000)
        let offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds))))
        let local = seconds + offset
        let (days, secondOfDay) = local.floorDivided(by: 86_400)
        let (year, month, day) = CivilDate.from(daysSinceEpoch: days)
        var text =
            "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))T"
            + "\(Self.pad(secondOfDay / 3600, 2)):\(Self.pad(secondOfDay / 60 % 60, 2)):\(Self.pad(secondOfDay % 60, 2))"
        if fractionDigits > 0 {
            let digits = min(fractionDigits, 9)
            var scaled = nanos
            for _ in digits..<9 { scaled /= 10 }
            text += "." + Self.pad(scaled, digits)
        }
        if offset == 0 && Self.utcNames.contains(timeZone.identifier) { return text + "Z" }
        let sign = offset < 0 ? "-" : "+"
        return text + "\(sign)\(Self.pad(offset.magnitude / 3600, 2)):\(Self.pad(offset.magnitude / 60 % 60, 2))"
    }

    /// The JSON form: RFC 3339 with microseconds (journald's resolution), always in UTC.
    public func json(_ utcNanoseconds: Int64) -> String { TimeDisplay.utc.rfc3339(utcNanoseconds, fractionDigits: 6) }

    /// A journaled row's time: the wall clock when its run had one, else the run's own clock,
    /// labelled (`12.000345s virtual`, `12.000345s after boot` for a daemon run journaled before
    /// Corral kept the wall clock).
    public func text(utc: Int64?, at: Int64, clock: RunClock) -> String {
        if let utc { return rfc3339(utc) }
        return "\(Instant(nanoseconds: at)) \(clock == .host ? "after boot" : "virtual")"
    }

    /// Zones that are UTC by name (`Z`); a zone merely at offset 0 today (London in winter) gets
    /// `+00:00`, as RFC 3339 §4.3 reads it.
    static let utcNames: Set<String> = [
        "UTC", "GMT", "Etc/UTC", "Etc/GMT", "Etc/Universal", "Universal", "Zulu", "GMT+0000",
    ]

    static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// Proleptic Gregorian dates from days since 1970-01-01 and back (H. Hinnant's
/// `civil_from_days`/`days_from_civil`): no calendar object per row.
enum CivilDate {
    static func from(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// What `--since` takes (issue 17), always counted from now, never from the journal's last
/// entry: a duration back from now (`30m`, `1h`, `2d`), `today` or `yesterday` (local
/// midnight), a local date and time (`2026-11-30`, `2026-11-30 14:00`, `2026-11-30 14:00:05`,
/// `T` allowed for the space), or RFC 3339 with its zone (`2026-11-30T14:00:00Z`, `+01:00`).
public enum SinceExpression {
    /// UTC nanoseconds of `text`, at `now` (UTC nanoseconds) in `timeZone`.
    public static func parse(_ text: String, now: Int64, timeZone: TimeZone) throws(SinceParseError) -> Int64 {
        let trimmed = String(text.trimmingASCIIWhitespace())
        func localMidnight(daysBack: Int64) -> Int64 {
            let seconds = now.floorDivided(by: 1_000_000_000).quotient
            let offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds))))
            let today = (seconds + offset).floorDivided(by: 86_400).quotient
            return local(days: today - daysBack, secondOfDay: 0, nanos: 0, timeZone: timeZone)
        }
        switch trimmed.lowercased() {
        case "now": return now
        case "today": return localMidnight(daysBack: 0)
        case "yesterday": return localMidnight(daysBack: 1)
        default: break
        }
        if let first = trimmed.first, first.isNumber, trimmed.count <= 12,
            let window = try? Duration(parsing: trimmed)
        {
            return now &- window.nanosecondsClamped
        }
        if let time = dateTime(trimmed, timeZone: timeZone) { return time }
        throw SinceParseError(text: text)
    }

    /// `YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][Z|±HH:MM]`.
    static func dateTime(_ text: String, timeZone: TimeZone) -> Int64? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard index + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<(index + width)] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += width
            return value
        }
        func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(4), take(0x2D), let month = number(2), take(0x2D), let day = number(2),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        var secondOfDay: Int64 = 0
        var nanos: Int64 = 0
        if take(0x20) || take(0x54) || take(0x74) {
            guard let hour = number(2), hour < 24, take(0x3A), let minute = number(2), minute < 60 else { return nil }
            secondOfDay = hour * 3600 + minute * 60
            if take(0x3A) {
                guard let second = number(2), second < 61 else { return nil }
                secondOfDay += min(second, 59)
                if take(0x2E) {
                    var digits = 0
                    while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                        if digits < 9 { nanos = nanos * 10 + Int64(bytes[index] - 0x30) }
                        digits += 1
                        index += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in min(digits, 9)..<9 { nanos *= 10 }
                }
            }
        }
        let days = CivilDate.days(year: year, month: month, day: day)
        if index == bytes.count { return local(days: days, secondOfDay: secondOfDay, nanos: nanos, timeZone: timeZone) }
        var offset: Int64 = 0
        if take(0x5A) || take(0x7A) {
            offset = 0
        } else if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D {
            let negative = bytes[index] == 0x2D
            index += 1
            guard let hours = number(2), hours < 24, take(0x3A), let minutes = number(2), minutes < 60 else {
                return nil
            }
            offset = (hours * 3600 + minutes * 60) * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        return ((days * 86_400 + secondOfDay - offset) * 1_000_000_000) + nanos
    }

    /// A local date and time to UTC: the zone's offset at that moment (found by asking twice, so
    /// a time beside a daylight-saving change lands on the offset in force then).
    static func local(days: Int64, secondOfDay: Int64, nanos: Int64, timeZone: TimeZone) -> Int64 {
        let wall = days * 86_400 + secondOfDay
        var guess = wall - Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(wall))))
        guess = wall - Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(guess))))
        return guess * 1_000_000_000 + nanos
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Why a `--since` text is not a time.
public struct SinceParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var text: String
    public var description: String {
        "'\(text)' is not a time: give a duration back from now (30m, 1h, 2d), today, yesterday, "
            + "a local date and time (2026-11-30, 2026-11-30 14:00) or RFC 3339 (2026-11-30T14:00:00Z)"
    }
}

extension Int64 {
    /// Quotient rounded toward minus infinity and a remainder in 0..<divisor (times before 1970
    /// render as the dates they are).
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = self / divisor
        let remainder = self % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}
