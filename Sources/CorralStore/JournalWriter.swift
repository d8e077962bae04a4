import CorralCore

/// Feeds the journal without letting a storm dictate the write rate: observations coalesce
/// into episodes in memory (`EpisodeBook`), decisions and actions queue, and everything goes
/// out in one transaction per `interval` — a bounded number of transactions per second whatever
/// the event rate. If a write fails (disk full, database locked) the engine carries on: what
/// could not be written is kept up to a bound, counted, and reported.
public struct JournalWriter {
    public let journal: Journal
    public let run: Int64
    /// Longest time between transactions.
    public let interval: Int64
    /// Most decisions/actions kept while the journal cannot be written.
    public static let maximumPending = 100_000

    private var book: EpisodeBook
    private var pending: JournalBatch
    private var lastFlush: Int64?
    public private(set) var transactions = 0
    public private(set) var failedWrites = 0
    public private(set) var droppedRows = 0
    public private(set) var lastError: String?

    public init(journal: Journal, run: Int64, interval: Int64 = 1_000_000_000, episodeGap: Int64 = 60_000_000_000) {
        self.journal = journal
        self.run = run
        self.interval = interval
        book = EpisodeBook(gap: episodeGap)
        pending = JournalBatch(run: run)
    }

    public mutating func observe(_ observation: Observation) {
        book.add(observation)
        flushIfDue(at: observation.at)
    }

    public mutating func markLowerBound(_ subject: String) { book.markLowerBound(subject) }

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

    public mutating func record(states: [DeviceStatus], at now: Instant) {
        pending.states = states.map { StateRow($0, at: now) }
    }

    public mutating func record(cursor: CursorRow) { pending.cursor = cursor }

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
        guard batch.rowCount > 0 else { return true }
        do {
            try journal.write(batch)
            transactions += 1
            pending = JournalBatch(run: run)
            return true
        } catch {
            failedWrites += 1
            lastError = error.description
            // Keep the decisions and actions for the next try; episodes are re-sent whole when
            // they next change (the book holds them), so only their interim values are late.
            pending.episodes = []
            journal.noteLoss(rows: batch.rowCount, reason: error.description, atUTC: now ?? 0)
            return false
        }
    }
}
