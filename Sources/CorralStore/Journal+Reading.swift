import CorralCore
import GRDB

/// What `corral status`, `history`, `report` and the metrics endpoint read.
extension Journal {
    public struct DeviceSummary: Hashable, Sendable {
        public var device: Subject
        public var state: String?
        public var nextDeadline: Int64?
        /// `nextDeadline` in wall-clock UTC, where the run that set the state had a wall clock.
        public var nextDeadlineUTC: Int64? = nil
        /// The clock of the run that set the state.
        public var stateClock: RunClock = .virtual
        public var budgetLeft: Int?
        public var lastEpisode: EpisodeRow?
        public var episodes: Int
        public var events: Int64
    }

    public struct EpisodeRow: Hashable, Sendable {
        public var run: Int64
        public var device: Subject
        public var eventClass: ObservedClass
        public var first: Int64
        public var last: Int64
        public var count: Int64
        public var lowerBound: Bool
        public var sampleAddresses: String
        public var statusUnion: Int64
        /// `first` and `last` in wall-clock UTC nanoseconds, where the run had a wall clock.
        public var firstUTC: Int64? = nil
        public var lastUTC: Int64? = nil
        public var clock: RunClock = .virtual
        /// Its events over time (nil for a journal older than schema v6).
        public var series: RateSeries? = nil
    }

    public struct DecisionEntry: Hashable, Sendable {
        public var run: Int64
        public var at: Int64
        public var subject: Subject
        /// The action in words, as journaled (`recommend: ` in front of a recommendation).
        public var action: String?
        public var recommendation: Bool
        public var to: String?
        public var reason: String
        /// `Action.kind` (`clear-bus-master`): the stable name scripts match on.
        public var kind: String? = nil
        /// The state it left, when it changed one.
        public var from: String? = nil
        /// `at` in wall-clock UTC nanoseconds, where the run had a wall clock.
        public var atUTC: Int64? = nil
        public var clock: RunClock = .virtual

        /// The action in words without the `recommend: ` the journal writes in front of a
        /// recommendation (`recommendation` says that).
        public var actionText: String? {
            action.map { recommendation && $0.hasPrefix("recommend: ") ? String($0.dropFirst(11)) : $0 }
        }
    }

    /// The episodes, with their wall-clock times. `sinceUTC` keeps those that lasted until then or
    /// later (a virtual run's: those journaled since then, `JournalTimeline.isAtOrAfter`).
    public func episodes(device: Subject? = nil, eventClass: ObservedClass? = nil, sinceUTC: Int64? = nil)
        throws(JournalError)
        -> [EpisodeRow]
    {
        try read { db in
            let timeline = try JournalTimeline.read(db)
            let hasSeries = try db.columns(in: "episodes").contains { $0.name == "series" }
            var sql =
                "SELECT run, device, class, first_ns, last_ns, count, lower_bound, sample_addresses, status_union"
                + (hasSeries ? ", series" : "") + " FROM episodes WHERE 1=1"
            var arguments: [any DatabaseValueConvertible] = []
            if let device {
                sql += " AND device = ?"
                arguments.append(device)
            }
            if let eventClass {
                sql += " AND class = ?"
                arguments.append(eventClass)
            }
            sql += " ORDER BY device, first_ns"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).compactMap { row in
                let (run, first, last): (Int64, Int64, Int64) = (row[0], row[3], row[4])
                if let sinceUTC, !timeline.isAtOrAfter(sinceUTC, run: run, at: last) { return nil }
                return EpisodeRow(
                    run: run, device: row[1], eventClass: row[2], first: first, last: last, count: row[5],
                    lowerBound: row[6], sampleAddresses: row[7], statusUnion: row[8],
                    firstUTC: timeline.utc(run: run, at: first), lastUTC: timeline.utc(run: run, at: last),
                    clock: timeline.clock(run: run),
                    series: hasSeries ? (row[9] as String?).flatMap(RateSeries.init(text:)) : nil)
            }
        }
    }

    /// The decisions, with their wall-clock times; `sinceUTC` as for `episodes`.
    public func decisions(subject: Subject? = nil, sinceUTC: Int64? = nil) throws(JournalError) -> [DecisionEntry] {
        try read { db in
            let timeline = try JournalTimeline.read(db)
            var sql =
                "SELECT run, at_ns, subject, action, recommendation, to_state, reason, kind, from_state FROM decisions WHERE 1=1"
            var arguments: [any DatabaseValueConvertible] = []
            if let subject {
                sql += " AND subject = ?"
                arguments.append(subject)
            }
            sql += " ORDER BY at_ns, id"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).compactMap { row in
                let (run, at): (Int64, Int64) = (row[0], row[1])
                if let sinceUTC, !timeline.isAtOrAfter(sinceUTC, run: run, at: at) { return nil }
                return DecisionEntry(
                    run: run, at: at, subject: row[2], action: row[3], recommendation: row[4], to: row[5],
                    reason: row[6], kind: row[7], from: row[8], atUTC: timeline.utc(run: run, at: at),
                    clock: timeline.clock(run: run))
            }
        }
    }

    /// DMA faults per device and kind, summed over runs; the most frequent kind first per device. Empty for a journal older than schema v4.
    public func faultKinds(device: Subject? = nil) throws(JournalError) -> [(
        device: Subject, kind: DMAFaultKind?, count: Int64
    )] {
        try read { db in
            guard try db.tableExists("fault_kinds") else { return [] }
            var sql = "SELECT device, kind, sum(count) AS total FROM fault_kinds"
            var arguments: [any DatabaseValueConvertible] = []
            if let device {
                sql += " WHERE device = ?"
                arguments.append(device)
            }
            sql += " GROUP BY device, kind ORDER BY device, total DESC, kind"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
                (device: $0[0] as Subject, kind: DMAFaultKind(rawValue: $0[1] as String), count: $0[2] as Int64)
            }
        }
    }

    /// Every action carried out, oldest first, with its outcome (`done`, `failed: … (errno N)`,
    /// `unsupported: …`; nil while none came back).
    public func actions() throws(JournalError) -> [(device: String?, action: String, outcome: String?)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT device, action, outcome FROM actions ORDER BY at_ns, id").map {
                (device: $0[0], action: $0[1], outcome: $0[2])
            }
        }
    }

    /// The protected devices of the latest run that recorded any, each with its reasons.
    public func protectedDevices() throws(JournalError) -> [(device: String, reasons: [String])] {
        try read { db in
            // Schema v2; a reader may be looking at an older journal.
            guard try db.tableExists("protected") else { return [] }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT device, reason FROM protected WHERE run = (SELECT MAX(run) FROM protected)
                    ORDER BY device, reason
                    """)
            var out: [(device: String, reasons: [String])] = []
            for row in rows {
                let device: String = row[0]
                let reason: String = row[1]
                if out.last?.device == device {
                    out[out.count - 1].reasons.append(reason)
                } else {
                    out.append((device, [reason]))
                }
            }
            return out
        }
    }

    /// Each device's state, with the run that set it.
    public func deviceStates() throws(JournalError) -> [Subject: (run: Int64, state: String)] {
        try read { db in
            var out: [Subject: (run: Int64, state: String)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, run, state FROM device_state") {
                out[row[0]] = (row[1], row[2])
            }
            return out
        }
    }

    /// Every device the journal knows, with its state and latest episode.
    public func deviceSummaries() throws(JournalError) -> [DeviceSummary] {
        let episodes = try episodes()
        let timeline = try self.timeline()
        let states: [Subject: (String, Int64?, Int?, Int64)] = try read { db in
            var out: [Subject: (String, Int64?, Int?, Int64)] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT device, state, next_deadline_ns, budget_left, run FROM device_state")
            {
                out[row[0]] = (row[1], row[2], row[3], row[4])
            }
            return out
        }
        var summaries: [Subject: DeviceSummary] = [:]
        for episode in episodes {
            var summary =
                summaries[episode.device]
                ?? DeviceSummary(
                    device: episode.device, state: nil, nextDeadline: nil, budgetLeft: nil, lastEpisode: nil,
                    episodes: 0,
                    events: 0)
            summary.episodes += 1
            summary.events += episode.count
            // The latest by wall clock: runs on different clocks (a simulation's virtual time,
            // the daemon's boot time) cannot be compared by their `_ns`; a virtual run counts
            // from when it was journaled.
            func latest(_ row: EpisodeRow) -> (Int64, Int64) {
                (row.lastUTC ?? timeline.runs[row.run]?.startedUTC ?? 0, row.last)
            }
            if summary.lastEpisode.map({ latest(episode) >= latest($0) }) ?? true { summary.lastEpisode = episode }
            summaries[episode.device] = summary
        }
        for (device, state) in states {
            var summary =
                summaries[device]
                ?? DeviceSummary(
                    device: device, state: nil, nextDeadline: nil, budgetLeft: nil, lastEpisode: nil, episodes: 0,
                    events: 0)
            summary.state = state.0
            summary.nextDeadline = state.1
            summary.budgetLeft = state.2
            summary.stateClock = timeline.clock(run: state.3)
            // A deadline that never comes (a measure held until something else lifts it) is none.
            if let deadline = state.1, deadline != Int64.max {
                summary.nextDeadlineUTC = timeline.utc(run: state.3, at: deadline)
            }
            summaries[device] = summary
        }
        return summaries.values.sorted { $0.device < $1.device }
    }

    /// Whether `corral release` may journal a release of `subject`, from the journal's view of it.
    public enum ReleaseCheck: Hashable, Sendable {
        /// Corral holds it (contained, retired) or waits on its owner: a release undoes that.
        case releasable(state: String)
        /// Corral holds nothing against it (`nil`: no state journaled yet, only episodes): a
        /// release would only reset its retirement budget, which nobody asked for.
        case notContained(state: String?)
        /// The journal has never heard of it.
        case unknown
        /// A release of it is already journaled and not yet applied by the daemon.
        case pending(id: Int64, by: String)
    }

    /// The states a release applies to (`ContainmentState.name`): the ones where Corral holds
    /// the device, and `awaiting-owner`, whose owner the release answers for.
    public static let releasableStates: Set<String> = [
        "awaiting-owner", "silenced", "stopped", "resetting", "removed", "retired",
    ]

    /// The check `corral release` runs before journaling: a release of a device Corral does not
    /// hold is refused (issue 17), and a second one while the first is pending is not stacked.
    public func releaseCheck(_ subject: Subject) throws(JournalError) -> ReleaseCheck {
        if let pending = try pendingReleases().first(where: { Subject(name: $0.device) == subject }) {
            return .pending(id: pending.id, by: pending.by)
        }
        guard let summary = try deviceSummaries().first(where: { $0.device == subject }) else { return .unknown }
        guard let state = summary.state, Self.releasableStates.contains(state) else {
            return .notContained(state: summary.state)
        }
        return .releasable(state: state)
    }

    /// Journals an operator's release; the daemon applies it and marks it applied.
    public func release(_ device: String, by user: String, atUTC: Int64) throws(JournalError) -> Int64 {
        try writeNow { db in
            try db.execute(
                sql: "INSERT INTO releases (device, by_user, at_utc_ns) VALUES (?, ?, ?)",
                arguments: [device, user, atUTC])
            return db.lastInsertedRowID
        }
    }

    public func pendingReleases() throws(JournalError) -> [(id: Int64, device: String, by: String, at: Int64)] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, device, by_user, at_utc_ns FROM releases WHERE applied = 0 ORDER BY id"
            )
            .map { (id: $0[0], device: $0[1], by: $0[2], at: $0[3]) }
        }
    }

    /// Journals one hook run (never throws: a hook must not disturb the engine).
    public func noteHookRun(
        trigger: String, device: String?, program: String, outcome: String, output: String, atUTC: Int64
    ) {
        _ = try? writeNow { db in
            try db.execute(
                sql:
                    "INSERT INTO hook_runs (at_utc_ns, trigger, device, program, outcome, output) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [atUTC, trigger, device, program, outcome, output])
        }
    }

    public func hookRuns() throws(JournalError) -> [(trigger: String, device: String?, outcome: String, output: String)]
    {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT trigger, device, outcome, output FROM hook_runs ORDER BY id").map {
                (trigger: $0[0], device: $0[1], outcome: $0[2], output: $0[3])
            }
        }
    }

    /// One trivial read: the journal can be opened and read (`/healthz`).
    public func ping() throws(JournalError) {
        _ = try read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// Where a source stopped (to resume after a restart).
    public func cursor(source: String) throws(JournalError) -> CursorRow? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT source, boot_id, sequence, byte_offset, updated_ns FROM cursors WHERE source = ?",
                arguments: [source]
            ).map { row in
                CursorRow(source: row[0], bootID: row[1], sequence: row[2], offset: row[3], updated: row[4])
            }
        }
    }

    /// Rows per table (tests, reports, the benchmark).
    public func counts() throws(JournalError) -> [String: Int] {
        try read { db in
            var out: [String: Int] = [:]
            for table in ["runs", "episodes", "decisions", "actions", "device_state", "releases", "write_losses"] {
                out[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
            }
            return out
        }
    }

    /// Deletes episodes and decisions older than `before` (UTC/virtual ns) and frees the pages.
    public func retain(before: Int64) throws(JournalError) -> Int {
        try writeNow { db in
            try db.execute(sql: "DELETE FROM episodes WHERE last_ns < ?", arguments: [before])
            var removed = db.changesCount
            try db.execute(sql: "DELETE FROM decisions WHERE at_ns < ?", arguments: [before])
            removed += db.changesCount
            try db.execute(sql: "PRAGMA incremental_vacuum")
            return removed
        }
    }
}

extension Journal.DecisionEntry {
    /// A decision as it will read back from the journal (`watch --json` prints it as made).
    public init(_ decision: Decision, run: Int64, atUTC: Int64?, clock: RunClock) {
        let row = DecisionRow(decision)
        self.init(
            run: run, at: row.at, subject: Subject(name: row.subject), action: row.action,
            recommendation: row.recommendation, to: row.to, reason: row.reason, kind: row.kind, from: row.from,
            atUTC: atUTC, clock: clock)
    }
}
