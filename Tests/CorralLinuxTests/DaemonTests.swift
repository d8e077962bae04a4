import CorralCore
import CorralDaemon
import CorralServe
import CorralStore
import CorralTestSupport
import Foundation
import Logging
import Testing

@testable import CorralLinux

/// `corral watch`'s pass, in-process: a fake tree, a fake kmsg, an explicit clock. What the
/// subprocess tests (`WatchDaemonTests`) see from outside, checked here row by row.
@Suite struct DaemonTests {
    static func daemon(_ fake: FakeSysfs, journal: Journal, hooks: HookPolicy = HookPolicy()) throws -> (
        Daemon, JournaldLogHandlerTests.Lines
    ) {
        var policy = WatcherTests.policy(.enforce)
        policy.hooks = hooks
        let watcher = Watcher(root: fake.sysRoot, policy: policy, startedAt: .seconds(9))
        let run = try journal.run(kind: "daemon", name: "boot-1", startedUTC: 0, clock: .host)
        let lines = JournaldLogHandlerTests.Lines()
        let logger = Logger(label: "corral") { label in JournaldLogHandler(label: label, write: lines.add) }
        let daemon = Daemon(
            watcher: watcher, writer: JournalWriter(journal: journal, run: run),
            hooks: HookRunner(policy: policy.hooks, journal: journal), bootID: "boot-1", logger: logger)
        return (daemon, lines)
    }

    static func journal() throws -> Journal {
        try Journal(
            path: TemporaryPath.make("daemon") + ".sqlite")
    }

    @Test func onePassJournalsEverythingItDid() throws {
        let fake = FakeSysfs.machine()
        let journal = try Self.journal()
        var (daemon, lines) = try Self.daemon(fake, journal: journal)
        var kmsg = FakeKmsg(WatcherTests.storm(count: 2_000, start: 10))
        let decisions = daemon.step(&kmsg, now: .seconds(11), utc: 1_000)
        daemon.flush(at: Instant.seconds(11).nanoseconds)
        #expect(decisions.contains { $0.action == .clearBusMaster(try! PCIAddress(parsing: "0000:03:00.0")) })
        // Observations, decisions, the action with its outcome, the cursor, the state, the counters.
        #expect(try journal.episodes(device: "0000:03:00.0").map(\.count).reduce(0, +) == 2_000)
        #expect(try journal.decisions().contains { $0.action == "clear bus master of 0000:03:00.0" })
        #expect(
            try journal.actions().contains { $0.action == "clear bus master of 0000:03:00.0" && $0.outcome == "done" })
        #expect(try journal.cursor(source: "kmsg")?.sequence == 2_000)
        #expect(try journal.deviceSummaries().first { $0.device == "0000:03:00.0" }?.state == "stopped")
        #expect(try journal.metricsSnapshot().counters[.kmsgRecordsLost] == 0)
        // The wall clock beside the host's: at 11 s it was 1,000 ns past the epoch, so the
        // storm's first fault (10 s) was 1 s earlier (issue 17).
        let episode = try #require(try journal.episodes(device: "0000:03:00.0").first)
        #expect(episode.clock == .host && episode.firstUTC == 1_000 - 1_000_000_000)
        #expect(try journal.decisions().allSatisfy { $0.atUTC == $0.at - 11_000_000_000 + 1_000 })
        // When it comes back, in wall-clock time (`status`'s "next step at").
        let summary = try #require(try journal.deviceSummaries().first { $0.device == "0000:03:00.0" })
        let deadline = try #require(summary.nextDeadline)
        #expect(summary.stateClock == .host && summary.nextDeadlineUTC == deadline - 11_000_000_000 + 1_000)
        // What each device is, from the inventory, for names in status and history.
        let nic = try #require(try journal.deviceIdentities()["0000:03:00.0"])
        #expect(nic.vendorID == 0x8086 && nic.deviceID == 0x10fb && nic.driver == "ixgbe" && nic.classCode == 0x020000)
        // The log: the decision as a warning, the host's write as a notice.
        #expect(lines.lines.contains { $0.hasPrefix("<4>corral: 0000:03:00.0: ") && $0.contains("clear bus master") })
        #expect(lines.lines.contains("<5>corral: did clear bus master of 0000:03:00.0\n"))
    }

    /// The journal's device identities follow the inventory: a driver unbound since the last
    /// read is journaled at the next read, and passes in between journal nothing new.
    @Test func deviceIdentitiesFollowTheInventory() throws {
        let fake = FakeSysfs.machine()
        let journal = try Self.journal()
        var (daemon, _) = try Self.daemon(fake, journal: journal)
        var quiet = FakeKmsg([])
        daemon.step(&quiet, now: .seconds(11), utc: 1_000)
        daemon.flush(at: Instant.seconds(11).nanoseconds)
        #expect(try journal.deviceIdentities()["0000:07:00.0"]?.driver == "nvme")
        let nvme = try #require(
            FileManager.default.enumerator(atPath: fake.root + "/sys/devices")?.compactMap { $0 as? String }
                .first { $0.hasSuffix("0000:07:00.0/driver") })
        fake.remove("/sys/devices/" + nvme)
        daemon.step(&quiet, now: .seconds(11) + .milliseconds(10), utc: 2_000)
        #expect(daemon.writer.pendingDeviceRows == 0, "the inventory was not read again: nothing to journal")
        daemon.step(&quiet, now: .seconds(13), utc: 3_000)
        daemon.flush(at: Instant.seconds(13).nanoseconds)
        #expect(try journal.deviceIdentities()["0000:07:00.0"]?.driver == nil)
    }

    @Test func aContainmentFiresItsHook() throws {
        let fake = FakeSysfs.machine()
        let journal = try Self.journal()
        var hooks = HookPolicy()
        hooks.commands[.containment] = ["/bin/true"]
        var (daemon, _) = try Self.daemon(fake, journal: journal, hooks: hooks)
        var kmsg = FakeKmsg(WatcherTests.storm(count: 2_000, start: 10))
        daemon.step(&kmsg, now: .seconds(11), utc: 1_000)
        #expect(daemon.hooks.drain(timeout: .seconds(30)))
        #expect(try journal.hookRuns().map(\.outcome) == ["succeeded"])
        #expect(try journal.hookRuns().first?.device == "0000:03:00.0")
    }
}
