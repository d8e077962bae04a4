import CorralCore
import CorralDecode
import CorralLinux
import CorralRuntime
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
    /// The journal and hooks side of the loop, shared with the watcher's loop.
    let recorder: DaemonRecorder
    public var writer: JournalWriter { recorder.journal.writer }
    public var hooks: HookRunner { recorder.hooks }
    let bootID: String
    let logger: Logger
    /// Host log lines already passed to the logger.
    private var reported = 0
    /// `Watcher.inventoryReads` when the device identities were last given to the journal.
    private var journaledInventoryReads = 0

    public init(watcher: Watcher, writer: JournalWriter, hooks: HookRunner, bootID: String, logger: Logger) {
        self.watcher = watcher
        recorder = DaemonRecorder(journal: JournalRecorder(writer: writer), hooks: hooks, logger: logger)
        self.watcher.recorder = recorder
        self.bootID = bootID
        self.logger = logger
    }

    /// One pass at `now` (the kernel log's clock; `utc` for the journal's wall-clock columns).
    /// Returns the decisions it made. Decisions and outcomes reach the journal, the hooks and
    /// the log from inside the loop (`DaemonRecorder`); the pass adds what the sources saw and
    /// where they stopped.
    @discardableResult
    public mutating func step(_ kmsg: inout some KmsgSource, now: Instant, utc: Int64) -> [Decision] {
        let journal = recorder.journal
        recorder.clockOffset = utc &- now.nanoseconds
        let decisions = watcher.step(
            &kmsg, now: now,
            observe: { event, at, subject in journal.writer.observe(event.observation(subject: subject, at: at)) },
            counted: { event, at in
                if let observation = event.observation(at: at) { journal.writer.observe(observation) }
            })
        // How long after the event that decided it each action was carried out (the start
        // marker, read during the pass, puts kernel times on the loop's clock).
        if let ahead = watcher.kernelClockAhead {
            for (action, decided, at) in recorder.carriedOut {
                logger.info(
                    "\(action) carried out \(Self.milliseconds(at - (decided - ahead))) ms after the event that decided it"
                )
            }
        }
        recorder.carriedOut.removeAll()
        for line in watcher.host.log.appended(after: reported) { logger.notice("\(line)") }
        reported = watcher.host.log.total
        if let sequence = watcher.follower.lastSequence {
            // kmsg sequence numbers are u64, the journal's column SQLite's signed 64 bits: the
            // bits are kept as they are both ways.
            journal.writer.record(
                cursor: CursorRow(source: "kmsg", bootID: bootID, sequence: Int64(bitPattern: sequence), updated: utc))
        }
        journal.writer.record(clockAt: now.nanoseconds, utc: utc)
        // What the devices are, when the inventory was read again (not on every pass: a storm
        // turns the loop many times a second).
        if watcher.inventoryReads != journaledInventoryReads {
            journaledInventoryReads = watcher.inventoryReads
            journal.writer.record(devices: watcher.host.inventory.devices.map(DeviceIdentity.init), atUTC: utc)
        }
        journal.writer.record(states: watcher.engine.devices, at: now)
        journal.writer.record(counters: Self.counters(watcher), atUTC: utc)
        journal.writer.flushIfDue(at: now.nanoseconds)
        return decisions
    }

    /// Called with each decision as it is made, in `history --json`'s shape (`watch --json`).
    public var onDecision: ((Journal.DecisionEntry) -> Void)? {
        get { recorder.onDecision }
        nonmutating set { recorder.onDecision = newValue }
    }

    /// A new policy (SIGHUP): thresholds, mode, protection, and the hooks it names.
    public mutating func reload(_ policy: Policy, hooks: HookRunner) {
        watcher.reload(policy)
        recorder.hooks = hooks
    }

    /// Writes what is pending; returns whether it reached the journal.
    @discardableResult
    /// Gives the kernel back the storms Corral claimed (the daemon stopping).
    public mutating func releaseKernelStormClaims() { watcher.releaseKernelStormClaims() }

    public mutating func flush(at now: Int64) -> Bool { recorder.journal.writer.flush(at: now) }

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
            .traceRecords: value(watcher.trace?.recordsRead ?? 0),
            .traceRecordsLost: value(watcher.trace?.lostRecords ?? 0),
            .tracePagesAfterLoss: value(watcher.trace?.pagesAfterLoss ?? 0),
            .tracePagesMalformed: value(watcher.trace?.malformedPages ?? 0),
        ]
    }

    /// A duration as milliseconds with three decimals ("54.870"); negative ones as 0.
    public static func milliseconds(_ duration: Duration) -> String {
        let micros = max(0, duration.nanosecondsClamped / 1_000)
        let fraction = String(micros % 1_000)
        return "\(micros / 1_000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

extension DeviceIdentity {
    /// What the inventory read from sysfs, for the journal's `devices` table.
    init(_ device: PCIDeviceInfo) {
        self.init(
            address: device.address.description, vendorID: device.vendorID, deviceID: device.deviceID,
            subsystem: device.subsystem, classCode: device.classCode, serial: device.serial, slot: device.slot,
            driver: device.driver)
    }
}
