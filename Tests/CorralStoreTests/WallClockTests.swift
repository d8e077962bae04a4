import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralStore

/// Wall-clock time beside the run's own clock (issue 17): the journal converts a daemon run's
/// times to UTC through the anchors its writer journals, outputs show RFC 3339 in local time or
/// UTC, virtual time says so, and `--since` counts from now.
@Suite struct WallClockTests {
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let newYork = TimeZone(identifier: "America/New_York")!
    /// 2026-11-30T14:00:00Z.
    static let afternoon: Int64 = 1_796_047_200 * 1_000_000_000

    @Test func rfc3339InUTCAndInAZone() {
        let time = Self.afternoon + 123_456_789
        #expect(TimeDisplay.utc.rfc3339(time) == "2026-11-30T14:00:00.123Z")
        #expect(TimeDisplay.utc.rfc3339(time, fractionDigits: 0) == "2026-11-30T14:00:00Z")
        #expect(TimeDisplay.utc.json(time) == "2026-11-30T14:00:00.123456Z")
        #expect(TimeDisplay(timeZone: Self.berlin).rfc3339(time) == "2026-11-30T15:00:00.123+01:00")
        #expect(TimeDisplay(timeZone: Self.newYork).rfc3339(time) == "2026-11-30T09:00:00.123-05:00")
        // Summer time: the offset in force at that moment, not today's.
        let july = Self.afternoon - 150 * 86_400 * 1_000_000_000
        #expect(TimeDisplay(timeZone: Self.berlin).rfc3339(july, fractionDigits: 0) == "2026-07-03T16:00:00+02:00")
        // Before 1970: floor division, not a negative second.
        #expect(TimeDisplay.utc.rfc3339(-500_000_000) == "1969-12-31T23:59:59.500Z")
    }

    /// The day arithmetic agrees with Foundation's calendar on dates spread over four centuries.
    @Test func civilDatesAgreeWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        var generator = SplitMix64(seed: 17)
        for _ in 0..<2_000 {
            let days = Int64(generator.next() % 146_097) - 40_000
            let date = Date(timeIntervalSince1970: Double(days) * 86_400)
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let civil = CivilDate.from(daysSinceEpoch: days)
            #expect(
                civil.year == Int64(parts.year!) && civil.month == Int64(parts.month!) && civil.day == Int64(parts.day!)
            )
            #expect(CivilDate.days(year: civil.year, month: civil.month, day: civil.day) == days)
        }
    }

    @Test func virtualAndBootTimesAreLabelled() {
        #expect(TimeDisplay.utc.text(utc: nil, at: 12_000_345_000, clock: .virtual) == "12.000345000s virtual")
        #expect(TimeDisplay.utc.text(utc: nil, at: 12_000_345_000, clock: .host) == "12.000345000s after boot")
        #expect(TimeDisplay.utc.text(utc: Self.afternoon, at: 1, clock: .host) == "2026-11-30T14:00:00.000Z")
    }

    @Test func sinceCountsFromNow() throws {
        let now = Self.afternoon
        let hour: Int64 = 3_600_000_000_000
        #expect(try SinceExpression.parse("1h", now: now, timeZone: Self.berlin) == now - hour)
        #expect(try SinceExpression.parse(" 30m ", now: now, timeZone: Self.berlin) == now - hour / 2)
        #expect(try SinceExpression.parse("2d", now: now, timeZone: Self.berlin) == now - 48 * hour)
        // Local midnight: 2026-11-30T00:00+01:00 is 2026-11-29T23:00Z.
        #expect(try SinceExpression.parse("today", now: now, timeZone: Self.berlin) == now - 15 * hour)
        #expect(try SinceExpression.parse("yesterday", now: now, timeZone: Self.berlin) == now - 39 * hour)
        #expect(try SinceExpression.parse("yesterday", now: now, timeZone: TimeDisplay.utc.timeZone) == now - 38 * hour)
        #expect(try SinceExpression.parse("2026-11-30 14:00", now: 0, timeZone: Self.berlin) == now - hour)
        #expect(try SinceExpression.parse("2026-11-30T14:00:00Z", now: 0, timeZone: Self.berlin) == now)
        #expect(try SinceExpression.parse("2026-11-30T15:30:00+01:30", now: 0, timeZone: Self.newYork) == now)
        #expect(try SinceExpression.parse("2026-11-30", now: 0, timeZone: TimeDisplay.utc.timeZone) == now - 14 * hour)
        #expect(
            try SinceExpression.parse("2026-11-30 14:00:00.25", now: 0, timeZone: TimeDisplay.utc.timeZone)
                == now + 250_000_000)
        // Summer: Berlin is UTC+2.
        #expect(
            try SinceExpression.parse("2026-07-03 16:00", now: 0, timeZone: Self.berlin)
                == now - 150 * 24 * hour)
        for bad in ["", "1 hour", "2026-02-30", "2026-11-30 25:00", "2026-11-30T14:00Q", "tomorrow", "h1"] {
            #expect(throws: SinceParseError.self, "\(bad)") {
                try SinceExpression.parse(bad, now: now, timeZone: Self.berlin)
            }
        }
    }

    /// A daemon run's rows come back in UTC through its anchors; a suspend (the monotonic clock
    /// stood still while UTC went on) gets an anchor of its own, so the rows after it are not an
    /// hour early, and the rows before it keep their times.
    @Test func daemonRowsConvertThroughAnchorsAcrossASuspend() throws {
        let journal = try Journal(path: temporaryJournalPath("wall-clock"))
        let run = try journal.run(kind: "daemon", name: "boot-1", startedUTC: Self.afternoon, clock: .host)
        var writer = JournalWriter(journal: journal, run: run)
        let second: Int64 = 1_000_000_000
        // At boot time 100 s it is 14:00:00Z.
        writer.record(clockAt: 100 * second, utc: Self.afternoon)
        writer.record(clockAt: 101 * second, utc: Self.afternoon + second + 300_000_000)  // within tolerance
        writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 90 * second))
        let address = PCIAddress(bus: 3, device: 0, function: 0)!
        writer.record(
            Decision(
                at: .seconds(95), subject: .device(.pci(address)), action: .recommend(.clearBusMaster(address)),
                reason: "a"))
        writer.flush(at: 101 * second)
        // Suspended for an hour: boot time 200 s is 15:01:40Z.
        writer.record(clockAt: 200 * second, utc: Self.afternoon + 3_700 * second)
        writer.observe(Observation(subject: "0000:04:00.0", eventClass: "dma-fault", at: 210 * second))
        writer.flush(at: 210 * second)
        let timeline = try journal.timeline()
        #expect(timeline.runs[run]?.anchors.count == 2)
        let episodes = try journal.episodes()
        let before = try #require(episodes.first { $0.device == "0000:03:00.0" })
        #expect(before.clock == .host && before.firstUTC == Self.afternoon - 10 * second)
        let after = try #require(episodes.first { $0.device == "0000:04:00.0" })
        #expect(after.lastUTC == Self.afternoon + 3_710 * second)
        let decision = try #require(try journal.decisions().first)
        #expect(decision.atUTC == Self.afternoon - 5 * second)
        let json = try HistoryJSONTests.object(decision)
        #expect(json["at_utc"] as? String == "2026-11-30T13:59:55.000000Z" && json["clock"] as? String == "host")
        // --since 14:30Z keeps the episode after the suspend only.
        let since = Self.afternoon + 1_800 * second
        #expect(try journal.episodes(sinceUTC: since).map(\.device) == ["0000:04:00.0"])
        #expect(try journal.decisions(sinceUTC: since).isEmpty)
    }

    /// A device's last episode is the latest by wall clock, not the largest `_ns` of runs on
    /// different clocks: a simulation journaled after the daemon's storm is the later one even
    /// though its virtual 5 s is less than the daemon's 90 s after boot.
    @Test func theLastEpisodeIsLatestByWallClock() throws {
        for simulationFirst in [false, true] {
            let journal = try Journal(path: temporaryJournalPath("latest-\(simulationFirst)"))
            let daemon = try journal.run(kind: "daemon", name: "boot", startedUTC: Self.afternoon, clock: .host)
            let simulated = try journal.run(
                kind: "simulate", name: "s",
                startedUTC: Self.afternoon + (simulationFirst ? -3_600 : 3_600) * 1_000_000_000)
            var writer = JournalWriter(journal: journal, run: daemon)
            writer.record(clockAt: 100_000_000_000, utc: Self.afternoon)
            writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 90_000_000_000))
            writer.flush(at: 100_000_000_000)
            var batch = JournalBatch(run: simulated)
            batch.episodes = [
                Episode(subject: "0000:03:00.0", eventClass: "aer-corrected", first: 5, last: 5, count: 1)
            ]
            try journal.write(batch)
            let last = try #require(try journal.deviceSummaries().first?.lastEpisode)
            #expect(
                last.run == (simulationFirst ? daemon : simulated), "simulation journaled first: \(simulationFirst)")
        }
    }

    /// A simulation's rows have no wall clock: no `*_utc`, `clock: virtual`, and `--since`
    /// keeps them by when the run was journaled.
    @Test func virtualRunsHaveNoWallClock() throws {
        let journal = try Journal(path: temporaryJournalPath("virtual-clock"))
        let old = try journal.run(kind: "simulate", name: "old", startedUTC: Self.afternoon - 86_400_000_000_000)
        let new = try journal.run(kind: "simulate", name: "new", startedUTC: Self.afternoon)
        for (run, device) in [(old, "0000:01:00.0"), (new, "0000:02:00.0")] {
            var batch = JournalBatch(run: run)
            batch.episodes = [
                Episode(subject: Subject(name: device), eventClass: "dma-fault", first: 5, last: 6, count: 2)
            ]
            try journal.write(batch)
        }
        let episodes = try journal.episodes()
        #expect(episodes.allSatisfy { $0.clock == .virtual && $0.firstUTC == nil && $0.lastUTC == nil })
        let json = try HistoryJSONTests.object(try #require(episodes.first))
        #expect(json["clock"] as? String == "virtual" && json["first_utc"] == nil)
        #expect(try journal.episodes(sinceUTC: Self.afternoon - 3_600_000_000_000).map(\.device) == ["0000:02:00.0"])
    }
}
