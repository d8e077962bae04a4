import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralStore

func temporaryJournalPath(_ name: String) -> String {
    TemporaryPath.make("journal") + "/\(name).sqlite"
}

@Suite struct EpisodeTests {
    @Test func stormOfTenMillionIsAHandfulOfEpisodes() {
        var book = EpisodeBook(gap: 60_000_000_000)
        // 10⁷ faults from one device over 10 s, then a second burst two minutes later.
        for index in 0..<10_000_000 {
            book.add(
                Observation(
                    subject: "0000:03:00.0", eventClass: "dma-fault", at: Int64(index) * 1_000,
                    address: UInt64(index % 7) << 12))
        }
        book.add(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 130_000_000_000, count: 5))
        book.add(Observation(subject: "0000:01:00.0", eventClass: "aer-corrected", at: 1, status: 0x1))
        book.add(Observation(subject: "0000:01:00.0", eventClass: "aer-corrected", at: 2, status: 0x40))
        let episodes = book.takeChanged()
        #expect(episodes.count == 3)
        let storm = episodes.first { $0.subject == "0000:03:00.0" && $0.first == 0 }
        #expect(storm?.count == 10_000_000 && storm?.last == 9_999_999_000)
        #expect(storm?.sampleAddresses.count == Episode.maximumSamples)
        #expect(episodes.first { $0.subject == "0000:01:00.0" }?.statusUnion == 0x41)
        #expect(!book.hasChanges)
    }
}

@Suite struct JournalTests {
    @Test func writesAreIdempotentAndReadBack() throws {
        let journal = try Journal(path: temporaryJournalPath("idempotent"))
        let run = try journal.run(kind: "replay", name: "a.log", startedUTC: 0)
        #expect(try journal.run(kind: "replay", name: "a.log", startedUTC: 5) == run)
        var batch = JournalBatch(run: run)
        batch.episodes = [Episode(subject: "0000:03:00.0", eventClass: "dma-fault", first: 10, last: 20, count: 100)]
        let decision = Decision(
            at: .microseconds(15), subject: .device(.pci(PCIAddress(bus: 3, device: 0, function: 0)!)),
            action: .clearBusMaster(PCIAddress(bus: 3, device: 0, function: 0)!), reason: "storm")
        batch.decisions = [DecisionRow(decision)]
        batch.actions = [ActionRow(at: 15_000, action: decision.action!)]
        try journal.write(batch)
        batch.episodes[0].last = 30
        batch.episodes[0].count = 150
        try journal.write(batch)
        let counts = try journal.counts()
        #expect(counts["episodes"] == 1 && counts["decisions"] == 1 && counts["actions"] == 1)
        let episode = try #require(try journal.episodes().first)
        #expect(episode.count == 150 && episode.last == 30)
        #expect(try journal.integrityCheck() == "ok")
        let summary = try #require(try journal.deviceSummaries().first)
        #expect(summary.device == "0000:03:00.0" && summary.events == 150)
    }

    @Test func writerBatchesAStormIntoFewTransactions() throws {
        let journal = try Journal(path: temporaryJournalPath("storm"))
        var writer = JournalWriter(journal: journal, run: try journal.run(kind: "test", name: "storm", startedUTC: 0))
        // 10⁶ events/s for 10 s of (virtual) time.
        for index in 0..<10_000_000 {
            writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: Int64(index) * 1_000))
        }
        writer.flush()
        #expect(writer.transactions <= 11, "one transaction per second of events, not per event")
        #expect(try journal.counts()["episodes"] == 1)
        #expect(try journal.episodes().first?.count == 10_000_000)
    }

    @Test func releasesAreJournaled() throws {
        let journal = try Journal(path: temporaryJournalPath("release"))
        _ = try journal.release("0000:03:00.0", by: "alice", atUTC: 42)
        let pending = try journal.pendingReleases()
        #expect(pending.count == 1 && pending[0].device == "0000:03:00.0" && pending[0].by == "alice")
    }

    /// `corral release` asks the journal first (issue 17): a device Corral holds is releasable;
    /// a healthy one is refused (a release would only reset its budget); an unknown one is
    /// unknown; a second release while one is pending is not stacked.
    @Test func releaseIsCheckedAgainstTheJournaledState() throws {
        let journal = try Journal(path: temporaryJournalPath("release-check"))
        var writer = JournalWriter(journal: journal, run: try journal.run(kind: "test", name: "release", startedUTC: 0))
        let noisy = DeviceAddress.pci(PCIAddress(bus: 3, device: 0, function: 0)!)
        let quiet = DeviceAddress.pci(PCIAddress(bus: 4, device: 0, function: 0)!)
        var policy = Policy()
        policy.mode = .enforce
        var engine = Engine(policy: policy)
        _ = engine.handle(.dmaFault(DMAFault(source: .device(quiet), vendor: .intelVTd, kind: .notPresent)), at: .zero)
        for index in 0..<5_000 {
            _ = engine.handle(
                .dmaFault(DMAFault(source: .device(noisy), vendor: .intelVTd, kind: .notPresent)),
                at: .microseconds(Int64(index) * 100))
        }
        let held = try #require(engine.status(of: noisy)?.state)
        #expect(held.isContained, "the storm was contained (\(held))")
        writer.record(states: engine.devices, at: .seconds(1))
        writer.flush(at: 1)

        #expect(try journal.releaseCheck(.device(noisy)) == .releasable(state: held.name))
        #expect(try journal.releaseCheck(.device(quiet)) == .notContained(state: "healthy"))
        #expect(try journal.releaseCheck(Subject(name: "0000:09:00.0")) == .unknown)
        let id = try journal.release(Subject.device(noisy).description, by: "alice (login uid 1000, as root)", atUTC: 5)
        #expect(try journal.releaseCheck(.device(noisy)) == .pending(id: id, by: "alice (login uid 1000, as root)"))
    }

    /// `corral status` (issue 17): a name longer than any fixed column never runs into the next
    /// one, and a pending release is shown in the state, with who and when below.
    @Test func statusColumnsNeverRunTogetherAndShowAPendingRelease() throws {
        let journal = try Journal(path: temporaryJournalPath("status-table"))
        var writer = JournalWriter(journal: journal, run: try journal.run(kind: "test", name: "status", startedUTC: 0))
        let long = "soc@0/fd500000.pcie-with-a-long-platform-name/gpu@0"
        writer.observe(Observation(subject: Subject(name: long), eventClass: "dma-fault", at: 1_000))
        writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 2_000))
        writer.observe(Observation(subject: "(kernel rate limiting)", eventClass: "suppressed", at: 3_000))
        writer.flush()
        _ = try journal.release("0000:03:00.0", by: "alice (login uid 1000, as root)", atUTC: 1_764_510_000_000_000_000)
        let pending = try journal.pendingReleases().map {
            StatusTable.PendingRelease(id: $0.id, device: Subject(name: $0.device), by: $0.by, atUTC: $0.at)
        }
        let text = StatusTable.render(
            try journal.deviceSummaries(), pending: pending, protected: ["0000:00:02.0": ["boot display"]],
            path: "j")
        let lines = text.split(separator: "\n").map(String.init)
        let header = try #require(lines.first)
        let stateColumn = try #require(header.range(of: "state")).lowerBound
        let row = try #require(lines.first { $0.hasPrefix("soc@0/") })
        #expect(row.hasPrefix(long + "  "), "two blanks after the longest name")
        // Every row's second column starts where the header's does.
        #expect(row[stateColumn...].hasPrefix("-"))
        let released = try #require(lines.first { $0.hasPrefix("0000:03:00.0") })
        #expect(released[stateColumn...].hasPrefix("- (release #1 pending)"))
        #expect(text.contains("#1  0000:03:00.0  by alice (login uid 1000, as root)  at 2025-11-30T13:40:00Z"))
        #expect(text.contains("0000:00:02.0  boot display"))
        // A pseudo-subject is not a device row: it is listed apart, as what it is.
        #expect(!lines.contains { $0.hasPrefix("(kernel rate limiting)") })
        let apart = try #require(lines.firstIndex { $0.hasPrefix("Not attributable to a device") })
        #expect(lines[apart + 1].hasPrefix("  (kernel rate limiting)  1 suppressed, last at"))
        let document = try journal.statusDocument()
        #expect(document.devices.first { $0.device == Subject(name: "0000:03:00.0") }?.pendingRelease?.id == 1)
        #expect(document.devices.first { $0.device == Subject(name: long) }?.pendingRelease == nil)
    }

    @Test func unwritableJournalIsAPreciseError() {
        #expect(throws: JournalError.self) { try Journal(path: "/proc/corral/journal.sqlite") }
    }
}

/// A writer killed by SIGKILL at seeded random points — inside a transaction, right after a
/// commit, right after reporting it — 50 times against one journal: every time the file passes
/// `PRAGMA integrity_check`, every batch reported committed is there, and no batch is half there.
/// Soak: `CORRAL_CRASH_RUNS=1000 swift test --filter JournalCrashTests`.
@Suite struct JournalCrashTests {
    static let runs = ProcessInfo.processInfo.environment["CORRAL_CRASH_RUNS"].flatMap(Int.init) ?? 50

    static var corralBinary: URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug"),
        ]
        return candidates.map { $0.appendingPathComponent("corral") }.first {
            FileManager.default.isExecutableFile(atPath: $0.path)
        }
    }

    @Test func killedWritersNeverCorruptOrLoseCommits() throws {
        let binary = try #require(Self.corralBinary, "the corral executable is built with the tests")
        let path = temporaryJournalPath("crash")
        var killed = 0
        for seed in 1...UInt64(Self.runs) {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["journal-stress", "--journal", path, "--seed", String(seed), "--batches", "30"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL { killed += 1 }
            let committed = output.split(separator: "\n").compactMap { line in
                line.hasPrefix("committed ") ? Int(line.dropFirst(10)) : nil
            }
            let journal = try Journal(path: path)
            #expect(try journal.integrityCheck() == "ok", "seed \(seed)")
            let rows = try journal.episodes(device: .unattributed("stress \(seed)"))
            var perBatch: [ObservedClass: Int] = [:]
            for row in rows { perBatch[row.eventClass, default: 0] += 1 }
            for index in committed {
                #expect(perBatch[.other("batch-\(index)")] == 20, "seed \(seed): batch \(index) was reported committed")
            }
            #expect(perBatch.values.allSatisfy { $0 == 20 }, "seed \(seed): a batch is all there or not at all")
        }
        #expect(killed == Self.runs, "every writer died by SIGKILL")
    }
}

/// A sink that fails while `failing` is set (a full disk, a locked database).
final class FlakySink: JournalSink, @unchecked Sendable {
    var failing = true
    var written: [JournalBatch] = []
    var losses = 0

    func write(_ batch: JournalBatch, midTransaction: (@Sendable () -> Void)?) throws(JournalError) {
        if failing { throw JournalError("disk full") }
        written.append(batch)
    }

    func noteLoss(rows: Int, reason: String, atUTC: Int64) { losses += rows }
}

@Suite struct JournalQuietTests {
    /// The daemon offers states and its kmsg cursor on every loop: unchanged, they are not
    /// written again (a quiet machine must not get a transaction per second).
    @Test func unchangedStatesAndCursorAreNotWrittenAgain() {
        let sink = FlakySink()
        sink.failing = false
        var writer = JournalWriter(journal: sink, run: 1)
        let nic = DeviceAddress.pci(PCIAddress(bus: 3, device: 0, function: 0)!)
        var engine = Engine()
        _ = engine.handle(
            .dmaFault(DMAFault(source: .device(nic), vendor: .intelVTd, kind: .writeToReadOnly, rawCode: 5)), at: .zero)
        for second in 0..<10 {
            let now = Instant.seconds(Int64(second))
            writer.record(states: engine.devices, at: now)
            writer.record(cursor: CursorRow(source: "kmsg", bootID: "b", sequence: 41, updated: now.nanoseconds))
            writer.flush(at: now.nanoseconds)
        }
        #expect(sink.written.count == 1, "one transaction for ten quiet loops")
        #expect(sink.written.first?.states.count == 1 && sink.written.first?.cursor?.sequence == 41)
        // The cursor moves, the state does not: only the cursor goes out.
        writer.record(states: engine.devices, at: .seconds(11))
        writer.record(cursor: CursorRow(source: "kmsg", bootID: "b", sequence: 42, updated: 11))
        writer.flush(at: 11)
        #expect(sink.written.count == 2 && sink.written.last?.states.isEmpty == true)
        #expect(sink.written.last?.cursor?.sequence == 42)
    }
}

@Suite struct JournalFailureTests {
    @Test func writerCarriesOnWhenTheDiskIsFullAndCatchesUpLater() {
        let sink = FlakySink()
        var writer = JournalWriter(journal: sink, run: 1)
        let nic = PCIAddress(bus: 3, device: 0, function: 0)!
        writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 0))
        writer.record(Decision(at: .zero, subject: .device(.pci(nic)), action: .clearBusMaster(nic), reason: "storm"))
        let firstTry = writer.flush(at: 1)
        #expect(!firstTry)
        #expect(writer.failedWrites == 1 && writer.lastError?.contains("disk full") == true && sink.losses > 0)
        #expect(writer.pendingRows == 2, "the decision and its action wait for the next try")
        writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 2))
        sink.failing = false
        let secondTry = writer.flush(at: 3)
        #expect(secondTry)
        let batch = sink.written.last
        #expect(batch?.decisions.count == 1 && batch?.actions.count == 1)
        #expect(batch?.episodes.first?.count == 2, "the episode goes out with everything it gathered meanwhile")
        #expect(writer.pendingRows == 0)
    }
}
