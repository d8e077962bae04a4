import GRDB

/// The clock a run's times (`first_ns`, `at_ns`, `next_deadline_ns`) are on.
public enum RunClock: String, Hashable, Sendable, Codable {
    /// The host's CLOCK_MONOTONIC (the daemon; kmsg's timestamps): converts to UTC through the
    /// run's `ClockAnchor`s.
    case host
    /// Time a simulation or a replayed log made up: there is no wall clock to convert it to, and
    /// every output says "virtual" beside it (issue 17).
    case virtual
}

/// One reading of both clocks at once: the run's clock stood at `at` when UTC stood at `utc`.
public struct ClockAnchor: Hashable, Sendable {
    public var at: Int64
    public var utc: Int64

    public init(at: Int64, utc: Int64) {
        self.at = at
        self.utc = utc
    }

    /// How far apart two readings may drift before the writer journals a new one. CLOCK_MONOTONIC
    /// stops while the machine is suspended and UTC steps when NTP or an operator sets it; slews
    /// smaller than this are within what an operator reads off a log line.
    public static let tolerance: Int64 = 1_000_000_000
}

/// Every run's clock: turns a row's time into wall-clock UTC where the run had one.
public struct JournalTimeline: Hashable, Sendable {
    public struct Run: Hashable, Sendable {
        public var id: Int64
        public var kind: String
        public var name: String
        /// When the run was first journaled (UTC nanoseconds; 0 when the writer did not know).
        public var startedUTC: Int64
        public var clock: RunClock
        /// Sorted by `at`.
        public var anchors: [ClockAnchor]
    }

    public var runs: [Int64: Run]

    public init(runs: [Int64: Run]) { self.runs = runs }

    /// UTC nanoseconds of `at` on `run`'s clock, through the latest anchor at or before it (the
    /// first for a time before every anchor: a backlog read at start); nil on a virtual clock or a
    /// run that journaled no anchor (a journal older than schema v5).
    public func utc(run: Int64, at: Int64) -> Int64? {
        guard let run = runs[run], run.clock == .host, let first = run.anchors.first else { return nil }
        let anchor = run.anchors.last(where: { $0.at <= at }) ?? first
        return at &- anchor.at &+ anchor.utc
    }

    public func clock(run: Int64) -> RunClock { runs[run]?.clock ?? .virtual }

    /// Whether a row at `at` on `run` is at or after `since` (UTC). A virtual run has no wall
    /// clock: its rows count from when the run was journaled.
    public func isAtOrAfter(_ since: Int64, run: Int64, at: Int64) -> Bool {
        (utc(run: run, at: at) ?? runs[run]?.startedUTC ?? 0) >= since
    }

    /// Read from the `runs` and `clock_anchors` tables; a journal older than schema v5 has
    /// neither the `clock` column nor the anchors: its daemon runs are on the host's clock
    /// without a way to UTC, the rest virtual.
    static func read(_ db: Database) throws -> JournalTimeline {
        let hasClock = try db.columns(in: "runs").contains { $0.name == "clock" }
        var runs: [Int64: Run] = [:]
        let sql = "SELECT id, kind, name, started_utc_ns\(hasClock ? ", clock" : "") FROM runs"
        for row in try Row.fetchAll(db, sql: sql) {
            let kind: String = row[1]
            let stored: String? = hasClock ? row[4] : nil
            let clock = stored.flatMap(RunClock.init(rawValue:)) ?? (kind == "daemon" ? .host : .virtual)
            runs[row[0]] = Run(id: row[0], kind: kind, name: row[2], startedUTC: row[3], clock: clock, anchors: [])
        }
        if try db.tableExists("clock_anchors") {
            for row in try Row.fetchAll(db, sql: "SELECT run, at_ns, utc_ns FROM clock_anchors ORDER BY run, at_ns") {
                runs[row[0]]?.anchors.append(ClockAnchor(at: row[1], utc: row[2]))
            }
        }
        return JournalTimeline(runs: runs)
    }
}

extension Journal {
    /// Every run's clock and anchors (`JournalTimeline`).
    public func timeline() throws(JournalError) -> JournalTimeline {
        try read { db in try JournalTimeline.read(db) }
    }
}
