import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralStore

/// `history --json`: rows read back from a journal, with names that came from devices and
/// logs, come out as the same strings; AER episodes carry the kernel's bit names.
@Suite struct HistoryJSONTests {
    static func object(_ value: some Encodable) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func episodesAndDecisionsRoundTripThroughAJournal() throws {
        let hostile = "(x\", \"class\": \"dpc\", \"\u{1}\n faults, device not named)"
        let journal = try Journal(path: temporaryJournalPath("history-json"))
        let run = try journal.run(kind: "replay", name: "a.log", startedUTC: 0)
        var batch = JournalBatch(run: run)
        batch.episodes = [
            Episode(
                subject: Subject(name: hostile), eventClass: "dma-fault", first: 1, last: 2, count: 3, lowerBound: true),
            Episode(
                subject: "0000:01:00.0", eventClass: "aer-nonfatal", first: 5, last: 5, count: 1,
                statusUnion: 0x4000),
        ]
        let address = PCIAddress(bus: 1, device: 0, function: 0)!
        batch.decisions = [
            DecisionRow(
                Decision(
                    at: .microseconds(7), subject: .device(.pci(address)), action: .recommend(.clearBusMaster(address)),
                    reason: hostile))
        ]
        try journal.write(batch)
        let episodes = try journal.episodes()
        let stormRow = try #require(episodes.first { $0.device == Subject(name: hostile) })
        let storm = try Self.object(stormRow)
        #expect(storm["device"] as? String == hostile)
        #expect(storm["class"] as? String == "dma-fault")
        #expect(storm["lower_bound"] as? Bool == true && storm["count"] as? Int == 3)
        #expect(storm["status"] == nil)
        let aerRow = try #require(episodes.first { $0.device == "0000:01:00.0" })
        let aer = try Self.object(aerRow)
        #expect((aer["status"] as? String)?.contains("CmpltTO") == true, "\(aer)")
        let decisionRow = try #require(try journal.decisions().first)
        let decision = try Self.object(decisionRow)
        #expect(decision["type"] as? String == "decision")
        #expect(decision["reason"] as? String == hostile)
        #expect(decision["recommendation"] as? Bool == true)
        #expect(decision["at_ns"] as? Int == 7_000)
    }

    /// One decision schema (issue 17): a decision read back from the journal for `history
    /// --json` is the object `replay --json` printed for it when it was made, plus `run` and the
    /// run's `clock` (a replay's is virtual: no `at_utc`).
    @Test func historyDecisionsHaveTheReplayShape() throws {
        let journal = try Journal(path: temporaryJournalPath("history-shape"))
        let run = try journal.run(kind: "replay", name: "a.log", startedUTC: 0)
        let address = PCIAddress(bus: 1, device: 0, function: 0)!
        let made = [
            Decision(
                at: .microseconds(7), subject: .device(.pci(address)), action: .recommend(.clearBusMaster(address)),
                from: .elevated, to: .stopped(.verified), reason: "storm"),
            Decision(
                at: .microseconds(9), subject: .device(.pci(address)), action: .reset(address, .flr),
                from: .stopped(.verified), to: .resetting(deadline: .seconds(1)), reason: "still"),
            Decision(at: .microseconds(11), subject: .device(.pci(address)), reason: "released by alice"),
        ]
        var batch = JournalBatch(run: run)
        batch.decisions = made.map { DecisionRow($0) }
        try journal.write(batch)
        let read = try journal.decisions()
        #expect(read.count == made.count)
        for (original, row) in zip(made, read) {
            var fromReplay = try Self.object(original)
            fromReplay["run"] = Int(run)
            fromReplay["clock"] = "virtual"
            let fromHistory = try Self.object(row)
            let history = try JSONSerialization.data(withJSONObject: fromHistory, options: [.sortedKeys])
            let replay = try JSONSerialization.data(withJSONObject: fromReplay, options: [.sortedKeys])
            #expect(String(decoding: history, as: UTF8.self) == String(decoding: replay, as: UTF8.self))
        }
        #expect(try Self.object(read[0])["action"] as? String == "clear-bus-master")
        #expect(try Self.object(read[0])["action_text"] as? String == "clear bus master of 0000:01:00.0")
    }
}

/// What a device's DMA faults were, by kind: journaled as totals per run (written again as they
/// grow, never added twice), summed over runs for history and metrics.
@Suite struct FaultKindJournalTests {
    @Test func totalsPerKindSurviveRewritesAndSumOverRuns() throws {
        let journal = try Journal(path: temporaryJournalPath("fault-kinds"))
        for name in ["a.log", "b.log"] {
            let run = try journal.run(kind: "replay", name: name, startedUTC: 0)
            var writer = JournalWriter(journal: journal, run: run)
            for index in 0..<10 {
                writer.observe(
                    Observation(
                        subject: "0000:03:00.0", eventClass: "dma-fault", at: Int64(index), count: 3,
                        faultKind: index < 7 ? .writeToReadOnly : .notPresent))
                // Written after every observation: the row is replaced by the total, not added to.
                let written = writer.flush(at: Int64(index))
                #expect(written)
            }
            writer.observe(Observation(subject: "0000:01:00.0", eventClass: "aer-corrected", at: 20))
            let written = writer.flush()
            #expect(written)
        }
        let rows = try journal.faultKinds()
        #expect(rows.map(\.kind) == [.writeToReadOnly, .notPresent], "most frequent first")
        #expect(rows.map(\.count) == [42, 18])
        let line = try #require(Journal.FaultKindsLine.lines(rows).first)
        #expect(line.summary == "42 write-to-read-only, 18 not-present")
        let snapshot = try journal.metricsSnapshot()
        #expect(snapshot.faultKinds.map(\.kind) == ["not-present", "write-to-read-only"])
        #expect(snapshot.faultKinds.map(\.count) == [18, 42])
    }
}
