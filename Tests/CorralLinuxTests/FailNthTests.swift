import CorralCore
import CorralDecode
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux
@testable import CorralStore

/// A kmsg that fails every `n`th read with `errno` (the record stays for the next read).
struct FailingKmsg: KmsgSource {
    var inner: FakeKmsg
    let every: Int
    let errno: Int32
    private(set) var reads = 0
    private(set) var failed = 0

    init(_ inner: FakeKmsg, every: Int, errno: Int32 = EIO) {
        self.inner = inner
        self.every = every
        self.errno = errno
    }

    mutating func read() -> KmsgRead {
        reads += 1
        if reads % every == 0 {
            failed += 1
            return .failed(errno)
        }
        return inner.read()
    }
}

/// A journal that refuses every `n`th transaction (disk full, I/O error).
final class FailingJournal: JournalSink, @unchecked Sendable {
    let journal: Journal
    let every: Int
    private(set) var writes = 0
    private(set) var refused = 0

    init(_ journal: Journal, every: Int) {
        self.journal = journal
        self.every = every
    }

    func write(_ batch: JournalBatch, midTransaction: (@Sendable () -> Void)?) throws(JournalError) {
        writes += 1
        if writes % every == 0 {
            refused += 1
            throw JournalError("\(journal.path): disk I/O error (injected: write \(writes))")
        }
        try journal.write(batch, midTransaction: midTransaction)
    }

    func noteLoss(rows: Int, reason: String, atUTC: Int64) {
        journal.noteLoss(rows: rows, reason: reason, atUTC: atUTC)
    }
}

/// Every Nth file-system call fails — sysfs reads and writes, kmsg reads, journal transactions —
/// with EMFILE, ENOSPC, EIO or EACCES in turn. The daemon's loop must keep running, count every
/// event it read, and say what it could not do.
@Suite struct FailNthTests {
    static let nic = try! PCIAddress(parsing: "0000:03:00.0")

    @Test(arguments: [3, 5, 7, 13])
    func theLoopSurvivesAndLosesNothingItCanCount(_ n: Int) throws {
        let fake = FakeSysfs.machine()
        let interposer = FileSystemInterposer.failingEvery(n)
        let root = SysRoot(fake.root, interposer: interposer)
        var policy = Policy()
        policy.mode = .enforce
        // Failures from the first step on (a start under failures is a known limit: a device
        // whose driver link cannot be read after five tries starts as driverless).
        interposer.pause(true)
        var watcher = Watcher(root: root, policy: policy, startedAt: .zero)
        interposer.pause(false)
        let path = TemporaryPath.make("failnth")
        let journal = try Journal(path: path)
        let sink = FailingJournal(journal, every: 2)
        let recorder = JournalRecorder(
            writer: JournalWriter(journal: sink, run: try journal.run(kind: "test", name: "fail-nth", startedUTC: 0)))
        watcher.recorder = recorder
        // 2,000 faults; kmsg fails every 50th read (a failed read ends a step's reading: the
        // rest waits for the next step, 100 ms later).
        let records = WatcherTests.storm(count: 2_000, start: 10)
        var kmsg = FailingKmsg(FakeKmsg(records), every: 50)
        var logged = 0
        for step in 0..<60 {
            let now = Instant.seconds(10) + .milliseconds(100 * Int64(step + 1))
            watcher.step(
                &kmsg, now: now,
                observe: { event, at, subject in
                    logged += 1
                    recorder.writer.observe(
                        Observation(
                            subject: subject, eventClass: ObservedClass(name: event.kind.rawValue), at: at.nanoseconds))
                })
            recorder.writer.flush(at: now.nanoseconds)
        }
        // Nothing the kernel said was lost to a failed read: every record was read in the end.
        #expect(kmsg.failed > 0)
        #expect(watcher.follower.records == 2_000)
        #expect(watcher.follower.readFailures == kmsg.failed)
        #expect(logged == 2_000)
        #expect(
            watcher.engine.status(of: .pci(Self.nic))?.totals[.dmaFault] == 2_000,
            "\(watcher.decisions.map { "\($0.at) \($0.subject) \($0.reason)" }.joined(separator: "\n"))")
        // The file system failed many times, and the daemon said what it could not do.
        #expect(interposer.failures > 0)
        #expect(watcher.inventoryReadFailures > 0 || watcher.engine.statistics.deferredActions > 0)
        #expect(watcher.host.log.contains { $0.hasPrefix("could not read") || $0.hasPrefix("deferred") })
        // A failed read is no removal, no unbinding and no re-enable: the storming device is held.
        let reasons = watcher.decisions.map(\.reason)
        #expect(!reasons.contains { $0.contains("gone (removed)") || $0.contains("bound again") }, "\(reasons)")
        // The engine's view and the device agree: contained means bus master off, and once the
        // storm is over and the device re-enabled, bus master is on again (a deferred re-enable is
        // tried until it is carried out) — unless a step is being tried again right now.
        let state = watcher.engine.status(of: .pci(Self.nic))?.state
        let busMaster = WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 != 0 }
        let last = watcher.decisions.last { $0.subject == .device(.pci(Self.nic)) }?.reason ?? ""
        let retrying = last.contains("again") || last.contains("could not be carried out")
        #expect(
            retrying || busMaster == !(state?.isContained ?? false),
            "\(state?.name ?? "?"): \(reasons.joined(separator: "\n"))")
        // The journal refused every second transaction; what it refused was written later.
        recorder.writer.flush(at: Instant.seconds(20).nanoseconds)
        if sink.writes % 2 == 0 { recorder.writer.flush(at: Instant.seconds(21).nanoseconds) }
        #expect(sink.refused > 0 && recorder.writer.failedWrites == sink.refused && recorder.writer.droppedRows == 0)
        let episodes = try journal.episodes()
        #expect(episodes.filter { $0.device == "0000:03:00.0" }.map(\.count).reduce(0, +) == 2_000)
        // No device other than the storming one was ever written to.
        let written = Set(
            interposer.writes.compactMap { call in
                call.failedWith == nil ? call.path.split(separator: "/").first { $0.hasPrefix("0000:") } : nil
            })
        #expect(written.isSubset(of: ["0000:03:00.0"]), "\(written)")
    }
}
