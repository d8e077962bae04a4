import CorralCore
import CorralTestSupport
import Testing

@testable import CorralLinux

/// Do no harm, rule (a): only live evidence is acted on, and one pass climbs at most one rung.
/// A storm left in the kernel's ring buffer from long before the daemon started is history.
@Suite struct LiveEvidenceTests {
    static let nic = try! PCIAddress(parsing: "0000:03:00.0")

    static func busMaster(_ fake: FakeSysfs) -> Bool {
        WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 != 0 } ?? false
    }

    @Test func backlogFromBeforeTheStartIsHistoryNeverActedOn() {
        let fake = FakeSysfs.machine()
        // The storm was logged 10 s after boot; corral starts at 300 s, in enforce mode.
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .seconds(300))
        var kmsg = FakeKmsg(WatcherTests.storm(count: 3_000, start: 10))
        let decisions = watcher.step(&kmsg, now: .seconds(300))
        #expect(Self.busMaster(fake), "bus master untouched")
        #expect(!watcher.host.log.contains { $0.hasPrefix("did ") || $0.hasPrefix("would ") })
        #expect(decisions.allSatisfy { $0.action?.changesDevice != true && $0.action?.isRecommendation != true })
        // Journaled, counted and reported as history.
        #expect(watcher.engine.statistics.historyEvents == 3_000)
        #expect(watcher.engine.status(of: .pci(Self.nic))?.totals[.dmaFault] == 3_000)
        #expect(decisions.contains { $0.reason.contains("history: logged before corral started") })
        #expect(watcher.engine.status(of: .pci(Self.nic))?.state.isContained == false)
        // Later passes and timers do not act on it either.
        var nothing = FakeKmsg([])
        watcher.step(&nothing, now: .seconds(400))
        #expect(Self.busMaster(fake))
    }

    @Test func historyDoesNotPrimeTheDetectorForLiveEvents() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(
            root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .milliseconds(299_900))
        // 999 faults just before the start, 5 just after: only 5 are live, far below 1000/1s.
        var kmsg = FakeKmsg(
            WatcherTests.storm(count: 999, start: 299.8) + WatcherTests.storm(count: 5, start: 300, firstSequence: 1000)
        )
        watcher.step(&kmsg, now: .milliseconds(300_100))
        #expect(Self.busMaster(fake))
        #expect(watcher.engine.status(of: .pci(Self.nic))?.totals[.dmaFault] == 1_004)
    }

    /// kmsg stamps records with `local_clock()`, which drifts from `CLOCK_MONOTONIC` over a long
    /// uptime: by the monotonic reading the daemon "started" at 300 s, but the kernel's clock is
    /// 2 s ahead. The start marker the daemon wrote into kmsg anchors "live" on the kernel's
    /// clock: the storm logged before the marker (at 300.5 s by the kernel) is history.
    @Test func startMarkerAnchorsLiveOnTheKernelsClock() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .seconds(300))
        let marker = "corral[42]: watch started at 300000000000; kernel records before this one are history"
        watcher.startMarker = Array(marker.utf8)
        var records = WatcherTests.storm(count: 2_000, start: 300.5)
        records.append("14,2001,302000000,-;\(marker)")
        var kmsg = FakeKmsg(records)
        watcher.step(&kmsg, now: .seconds(302))
        #expect(watcher.startedAt == .seconds(302))
        #expect(Self.busMaster(fake), "the backlog before the marker is history")
        #expect(watcher.engine.statistics.historyEvents == 2_000)
        // After the marker, a storm is live.
        var live = FakeKmsg(WatcherTests.storm(count: 2_000, start: 302.5, firstSequence: 2_002))
        watcher.step(&live, now: .seconds(303))
        #expect(!Self.busMaster(fake))
    }

    /// The kernel's log clock ahead of the daemon's (kmsg stamps with `local_clock()`, which
    /// drifts from CLOCK_MONOTONIC; under emulation by milliseconds): the later lines of a batch
    /// are stamped past `now`. Clamped to `now`, they counted as evidence against the step this
    /// batch decided (carried out at `now`), and one pass climbed the whole ladder to removal.
    /// Everything read in a step happened before what the step does.
    @Test func aKernelClockAheadDoesNotClimbTheLadderInOnePass() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
        // 2,000 lines from 1.0 s to 1.2 s by the kernel's clock, read at 1.1 s by the daemon's.
        var kmsg = FakeKmsg(WatcherTests.storm(count: 2_000, start: 1))
        watcher.step(&kmsg, now: .milliseconds(1_100))
        #expect(watcher.host.log.contains("did clear bus master of 0000:03:00.0"))
        #expect(!watcher.host.log.contains { $0.contains("reset") || $0.contains("remove") })
    }

    /// A step decides at `now` but writes only after handling its whole batch: on a slow
    /// machine (the arm64 proving ground runs corral under emulation) hundreds of milliseconds
    /// later. Faults the kernel logged in between were made before the write; read by the next
    /// step, they were evidence that the stop had not held, and the device was reset, then
    /// removed. The outcome is stamped when the write was done (the daemon's clock).
    @Test func faultsLoggedBeforeTheWriteAreNoEvidenceAgainstIt() {
        /// Runs the sequence; returns whether the device was reset, and the watcher.
        func run(clock: (@Sendable () -> Instant)?) -> (reset: Bool, watcher: Watcher, fake: FakeSysfs) {
            let fake = FakeSysfs.machine()
            var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .zero)
            watcher.actionClock = clock
            // Read at 1.1 s; the clear is written at 1.8 s.
            var storm = FakeKmsg(WatcherTests.storm(count: 2_000, start: 1))
            watcher.step(&storm, now: .milliseconds(1_100))
            #expect(!Self.busMaster(fake))
            // 5,000 more from 1.25 s to 1.75 s, made before the write, read at 2 s.
            var late = FakeKmsg(WatcherTests.storm(count: 5_000, start: 1.25, firstSequence: 2_001))
            watcher.step(&late, now: .seconds(2))
            return (fake.sysRoot.read("/sys/bus/pci/devices/0000:03:00.0/reset") == "1", watcher, fake)
        }
        let stampedWhenWritten = run(clock: { .milliseconds(1_800) })
        #expect(!stampedWhenWritten.reset, "faults made before the write are no evidence against it")
        #expect(stampedWhenWritten.watcher.engine.status(of: .pci(Self.nic))?.state == .stopped(.verified))
        #expect(stampedWhenWritten.watcher.engine.statistics.predatingContainment >= 5_000)
        #expect(stampedWhenWritten.watcher.engine.status(of: .pci(Self.nic))?.totals[.dmaFault] == 7_000)
        // Stamped with the step's `now` instead, the same faults climbed a rung.
        #expect(run(clock: nil).reset)
        // Faults after the write are evidence.
        var watcher = stampedWhenWritten.watcher
        var after = FakeKmsg(WatcherTests.storm(count: 2_000, start: 2.1, firstSequence: 7_001))
        watcher.step(&after, now: .seconds(3))
        #expect(stampedWhenWritten.fake.sysRoot.read("/sys/bus/pci/devices/0000:03:00.0/reset") == "1")
    }

    @Test func liveStormIsContained() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .seconds(300))
        var kmsg = FakeKmsg(WatcherTests.storm(count: 2_000, start: 300.5))
        watcher.step(&kmsg, now: .seconds(301))
        #expect(!Self.busMaster(fake))
    }

    /// The daemon read a live storm 30 s late (a stalled machine): every rung deadline had
    /// "passed" by the events' own times. Only the first rung is carried out, its deadlines
    /// count from then, and the faults read in the same batch (all before the write) are no
    /// evidence that the stop failed.
    @Test func onePassClimbsOneRungWhateverTheLag() {
        let fake = FakeSysfs.machine()
        var watcher = Watcher(root: fake.sysRoot, policy: WatcherTests.policy(.enforce), startedAt: .seconds(299))
        var kmsg = FakeKmsg(WatcherTests.storm(count: 6_000, start: 300))
        watcher.step(&kmsg, now: .seconds(330))
        #expect(!Self.busMaster(fake))
        let writes = watcher.host.log.filter { $0.hasPrefix("did ") }
        #expect(writes == ["did clear bus master of 0000:03:00.0"], "\(writes)")
        #expect(fake.sysRoot.read("/sys/bus/pci/devices/0000:03:00.0/reset") == "")
        #expect(watcher.engine.status(of: .pci(Self.nic))?.state == .stopped(.verified))
        #expect(watcher.engine.statistics.predatingContainment > 0)
        // Faults after the stop was carried out are evidence: the next pass escalates once.
        var after = FakeKmsg(WatcherTests.storm(count: 2_000, start: 330.1, firstSequence: 6_001))
        watcher.step(&after, now: .seconds(331))
        #expect(fake.sysRoot.read("/sys/bus/pci/devices/0000:03:00.0/reset") == "1")
        // (The reset's own follow-up — bus master set again, since the kernel restores it cleared —
        // is not a rung.)
        let rungs = watcher.host.log.filter { $0.hasPrefix("did ") && !$0.contains("after its reset") }
        #expect(rungs.count == 2, "one more rung, not the whole ladder: \(rungs)")
        #expect(watcher.engine.status(of: .pci(Self.nic))?.state != .retired)
    }
}
