import CorralCore
import CorralDecode
import CorralLinux
import CorralServe
import CorralStore
import Logging

/// `corral watch`, one pass at a time: the `Watcher` (sources → `ContainmentLoop` →
/// `LinuxHost`), then what the pass produced into the journal (observations, decisions, action
/// outcomes, the kmsg cursor, device states, the daemon's own counts), the hooks, and the log.
///
/// The CLI sets it up and turns the clock: parsing flags, signals, systemd, the status
/// endpoint and the wait between passes are its job; everything a pass does is here, tested
/// in-process on a fake tree with a fake kmsg and an explicit clock (`DaemonTests`).
public struct Daemon {
    public private(set) var watcher: Watcher
    public private(set) var writer: JournalWriter
    public private(set) var hooks: HookRunner
    let bootID: String
    let logger: Logger
    /// Host log lines already passed to the logger.
    private var reported = 0

    public init(watcher: Watcher, writer: JournalWriter, hooks: HookRunner, bootID: String, logger: Logger) {
        self.watcher = watcher
        self.writer = writer
        self.hooks = hooks
        self.bootID = bootID
        self.logger = logger
    }

    /// One pass at `now` (the kernel log's clock; `utc` for the journal's wall-clock columns).
    /// Returns the decisions it made.
    @discardableResult
    public mutating func step(_ kmsg: inout some KmsgSource, now: Instant, utc: Int64) -> [Decision] {
        var writer = self.writer
        let decisions = watcher.step(
            &kmsg, now: now,
            observe: { event, at, subject in writer.observe(event.observation(subject: subject, at: at)) },
            counted: { event, at in
                if let observation = event.observation(at: at) { writer.observe(observation) }
            })
        for decision in decisions {
            writer.record(decision)
            hooks.fire(decision)
            if let action = decision.action {
                logger.log(level: action.isRecommendation ? .notice : .warning, "\(decision.reason)")
            }
        }
        // Each action's outcome (done, failed with its errno, unsupported, deferred) into its
        // journal row, and how long after the event that decided it it was carried out.
        for (outcome, decided, at) in watcher.takeOutcomes() {
            writer.record(outcome, decidedAt: decided, at: at)
            if outcome.succeeded, let ahead = watcher.kernelClockAhead {
                logger.info(
                    "\(outcome.action) carried out \(Self.milliseconds(at - (decided - ahead))) ms after the event that decided it"
                )
            }
        }
        for line in watcher.host.log.appended(after: reported) { logger.notice("\(line)") }
        reported = watcher.host.log.total
        if let sequence = watcher.follower.lastSequence {
            // kmsg sequence numbers are u64, the journal's column SQLite's signed 64 bits: the
            // bits are kept as they are both ways.
            writer.record(
                cursor: CursorRow(source: "kmsg", bootID: bootID, sequence: Int64(bitPattern: sequence), updated: utc))
        }
        writer.record(states: watcher.engine.devices, at: now)
        writer.record(counters: Self.counters(watcher), atUTC: utc)
        writer.flushIfDue(at: now.nanoseconds)
        self.writer = writer
        return decisions
    }

    /// A new policy (SIGHUP): thresholds, mode, protection, and the hooks it names.
    public mutating func reload(_ policy: Policy, hooks: HookRunner) {
        watcher.reload(policy)
        self.hooks = hooks
    }

    /// Writes what is pending; returns whether it reached the journal.
    @discardableResult
    public mutating func flush(at now: Int64) -> Bool { writer.flush(at: now) }

    /// The daemon's counts about itself, for the journal and `/metrics`.
    public static func counters(_ watcher: Watcher) -> [DaemonCounter: Int64] {
        let statistics = watcher.engine.statistics
        func value(_ count: some BinaryInteger) -> Int64 { Int64(clamping: count) }
        return [
            .kmsgRecordsLost: value(watcher.follower.lost),
            .kmsgRecordsNotKernel: value(watcher.follower.notKernel),
            .kmsgReadFailures: value(watcher.follower.readFailures),
            .kmsgRecordsMalformed: value(watcher.follower.malformed),
            .circuitBreakerDowngrades: value(statistics.breakerDowngrades),
            .actionsDeferred: value(statistics.deferredActions),
            .inventoryReadFailures: value(watcher.inventoryReadFailures),
            .historyEvents: value(statistics.historyEvents),
        ]
    }

    /// A duration as milliseconds with three decimals ("54.870"); negative ones as 0.
    public static func milliseconds(_ duration: Duration) -> String {
        let micros = max(0, duration.nanosecondsClamped / 1_000)
        let fraction = String(micros % 1_000)
        return "\(micros / 1_000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
