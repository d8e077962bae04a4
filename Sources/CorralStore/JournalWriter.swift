import CorralCore

/// Feeds the journal without letting a storm dictate the write rate: observations coalesce
/// into episodes in memory (`EpisodeBook`), decisions and actions queue, and everything goes
/// out in one transaction per `interval` — a bounded number of transactions per second whatever
/// the event rate. If a write fails (disk full, database locked) the engine carries on: what
/// could not be written is kept up to a bound, counted, and reported.
public struct JournalWriter {
    /// Where batches go: the journal, or a test double that fails on demand.
    public let sink: any JournalSink
    public let run: Int64
    /// Longest time between transactions.
    public let interval: Int64
    /// Most decisions/actions kept while the journal cannot be written.
    public static let maximumPending = 100_000

    private var book: EpisodeBook
    private var pending: JournalBatch
    private var lastFlush: Int64?
    private var lastStates: [StateRow]?
    private var lastCursor: CursorRow?
    private var lastCounters: [DaemonCounter: Int64]?
    private var lastClockOffset: Int64?
    private var lastDevices: [DeviceIdentity]?
    /// DMA faults per (subject, kind) in this run, and which totals changed since the last write.
    private var kindTotals: [FaultKindRow.Key: UInt64] = [:]
    private var kindsChanged: Set<FaultKindRow.Key> = []
    public private(set) var transactions = 0
    public private(set) var failedWrites = 0
    public private(set) var droppedRows = 0
    public private(set) var lastError: String?

    public init(
        journal sink: any JournalSink, run: Int64, interval: Int64 = 1_000_000_000, episodeGap: Int64 = 60_000_000_000
    ) {
        self.sink = sink
        self.run = run
        self.interval = interval
        book = EpisodeBook(gap: episodeGap)
        pending = JournalBatch(run: run)
    }

    public mutating func observe(_ observation: Observation) {
        book.add(observation)
        if let kind = observation.faultKind {
            let key = FaultKindRow.Key(subject: observation.subject, kind: kind)
            kindTotals[key, default: 0] &+= observation.count
            kindsChanged.insert(key)
        }
        flushIfDue(at: observation.at)
    }

    public mutating func markLowerBound(_ subject: Subject) { book.markLowerBound(subject) }

    /// Device identities waiting for the next transaction.
    public var pendingDeviceRows: Int { pending.devices.count }

    /// Rows waiting for the next transaction (decisions and actions).
    public var pendingRows: Int { pending.decisions.count + pending.actions.count }

    public mutating func record(_ decision: Decision) {
        guard pending.decisions.count < Self.maximumPending else {
            droppedRows += 1
            return
        }
        pending.decisions.append(DecisionRow(decision))
        if let action = decision.action, action.changesDevice {
            pending.actions.append(ActionRow(at: decision.at.nanoseconds, action: action))
        }
        flushIfDue(at: decision.at.nanoseconds)
    }

    public mutating func record(_ outcome: ActionOutcome, decidedAt: Instant, at now: Instant) {
        pending.actions.append(
            ActionRow(
                at: decidedAt.nanoseconds, action: outcome.action, outcome: "\(outcome.result)",
                outcomeAt: now.nanoseconds))
    }

    /// Queues the device states if they changed since the last ones queued. The daemon offers
    /// them on every loop; a quiet machine must not write the journal every second (that was
    /// one SQLite transaction per second, and most of the idle daemon's CPU).
    public mutating func record(states: [DeviceStatus], at now: Instant) {
        let rows = states.map { StateRow($0, at: now) }
        // Compared without their times: a row is worth writing again only if more than that changed.
        let timeless = rows.map { row in
            var row = row
            row.since = 0
            row.updated = 0
            return row
        }
        guard timeless != lastStates else { return }
        lastStates = timeless
        pending.states = rows
    }

    /// Queues the daemon's own counts if they changed since the last ones queued; its own
    /// failed writes are added here (they are the writer's to know).
    public mutating func record(counters: [DaemonCounter: Int64], atUTC: Int64) {
        var counters = counters
        counters[.journalFailedWrites] = Int64(failedWrites)
        guard counters != lastCounters else { return }
        lastCounters = counters
        pending.counters = counters
        pending.countersUpdated = atUTC
    }

    /// Notes that the run's clock stood at `at` when UTC stood at `utc` (the daemon, on every
    /// pass). A reading is journaled when it is the first or the two clocks have drifted apart by
    /// more than `ClockAnchor.tolerance` since the last one (a suspend, a clock step): every row
    /// then converts to the wall-clock time it happened at (`JournalTimeline`).
    public mutating func record(clockAt at: Int64, utc: Int64) {
        let offset = utc &- at
        if let last = lastClockOffset, (offset &- last).magnitude <= ClockAnchor.tolerance { return }
        lastClockOffset = offset
        pending.anchors.append(ClockAnchor(at: at, utc: utc))
    }

    /// Queues what the inventory says the devices are, when it changed since the last ones
    /// queued (a device added, a driver bound): names for `status`, `history` and reports.
    public mutating func record(devices: [DeviceIdentity], atUTC: Int64) {
        guard devices != lastDevices else { return }
        let known = Set(lastDevices ?? [])
        lastDevices = devices
        pending.devices += devices.filter { !known.contains($0) }
        pending.devicesSeenUTC = atUTC
    }

    /// Queues the read position if it moved since the last one queued.
    public mutating func record(cursor: CursorRow) {
        if let last = lastCursor, last.source == cursor.source, last.bootID == cursor.bootID,
            last.sequence == cursor.sequence, last.offset == cursor.offset
        {
            return
        }
        lastCursor = cursor
        pending.cursor = cursor
    }

    /// Writes if `interval` has passed since the last transaction.
    public mutating func flushIfDue(at now: Int64) {
        guard let last = lastFlush else {
            lastFlush = now
            return
        }
        if now - last >= interval || pending.decisions.count >= 10_000 { flush(at: now) }
    }

    /// Writes everything pending now. Returns whether it reached the disk.
    @discardableResult
    public mutating func flush(at now: Int64? = nil) -> Bool {
        if let now { lastFlush = now }
        var batch = pending
        batch.episodes = book.takeChanged()
        batch.faultKinds = kindsChanged.sorted { ($0.subject, $0.kind.rawValue) < ($1.subject, $1.kind.rawValue) }.map {
            FaultKindRow(subject: $0.subject, kind: $0.kind, count: kindTotals[$0] ?? 0)
        }
        kindsChanged.removeAll(keepingCapacity: true)
        guard batch.rowCount > 0 else { return true }
        do {
            try sink.write(batch, midTransaction: nil)
            transactions += 1
            pending = JournalBatch(run: run)
            return true
        } catch {
            failedWrites += 1
            lastError = error.description
            // Keep decisions and actions (bounded) for the next try; put the episodes back in the
            // book's change list so their latest values go out with the next batch.
            pending.episodes = []
            book.requeue(batch.episodes)
            // Totals stay in memory: the next write carries their latest values.
            for row in batch.faultKinds { kindsChanged.insert(.init(subject: row.subject, kind: row.kind)) }
            sink.noteLoss(rows: batch.rowCount, reason: error.description, atUTC: now ?? 0)
            return false
        }
    }
}

/// Where a `JournalWriter` sends its batches.
public protocol JournalSink: Sendable {
    func write(_ batch: JournalBatch, midTransaction: (@Sendable () -> Void)?) throws(JournalError)
    func noteLoss(rows: Int, reason: String, atUTC: Int64)
}

extension Journal: JournalSink {}
