import CorralCore
import Foundation
import GRDB

/// Why the journal could not be opened or written.
public struct JournalError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The durable journal: SQLite in WAL mode through GRDB. Every event episode, decision, action
/// and outcome, device state and source cursor, so a restart resumes where it was and status,
/// history and reports read one place.
public final class Journal: Sendable {
    public static let defaultPath = "/var/lib/corral/journal.sqlite"
    /// The schema this Corral writes (its newest migration).
    public static let schemaVersion = Schema.version

    public let path: String
    /// A pool (WAL, one writer, concurrent readers) for the daemon and other writers; a
    /// read-only queue for readers.
    let pool: any DatabaseWriter
    /// Opened with `readOnly()`: nothing is written, not even the schema.
    public let isReadOnly: Bool

    /// Opens an existing journal for reading only: `status`, `history`, `serve` and `report`
    /// must work on a read-only file system and on a full disk, exactly when an operator needs
    /// them. Never creates, migrates or writes anything; when SQLite cannot open the WAL
    /// read-only (no `-shm` file beside it on a read-only file system), it opens the file as
    /// immutable (what a cleanly stopped daemon left: it checkpoints the WAL when it exits).
    public static func readOnly(path: String) throws(JournalError) -> Journal {
        try Journal(readingAt: path)
    }

    private init(readingAt path: String) throws(JournalError) {
        self.path = path
        isReadOnly = true
        guard FileManager.default.fileExists(atPath: path) else {
            throw JournalError(
                "\(path): no journal here (runs with --journal create one; the daemon uses \(Self.defaultPath))")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        func open(_ location: String) throws -> DatabaseQueue {
            let queue = try DatabaseQueue(path: location, configuration: configuration)
            try Self.checkSchema(queue, path: path, readOnly: true)
            return queue
        }
        do {
            pool = try open(path)
        } catch let error as JournalError {
            throw error
        } catch {
            do {
                pool = try open(
                    "file:\(path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path)?immutable=1")
            } catch let error as JournalError {
                throw error
            } catch let second {
                throw JournalError(
                    "\(path): cannot open the journal read-only: \(error) (then, as immutable: \(second))")
            }
        }
    }

    /// Refuses a journal a newer Corral wrote. An older one is read as it is (a reader cannot
    /// migrate it): tables it lacks read as empty (`tableExists` in the readers).
    static func checkSchema(_ database: any DatabaseReader, path: String, readOnly: Bool) throws {
        let applied = try database.read { db in try Schema.migrator.appliedIdentifiers(db) }
        let known = Schema.migrator.migrations
        if let unknown = applied.first(where: { !known.contains($0) }) {
            throw JournalError(
                "\(path): written by a newer Corral (schema migration '\(unknown)'); refusing to change it")
        }

    }

    /// Opens the journal at `path`; with `create`, creates it (and its folder) if needed —
    /// readers pass `false` so a mistyped path is an error, not a new empty journal.
    public init(path: String, create: Bool = true) throws(JournalError) {
        self.path = path
        isReadOnly = false
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw JournalError(
                "\(path): no journal here (runs with --journal create one; the daemon uses \(Self.defaultPath))")
        }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw JournalError("\(path): cannot create \(folder): \(error.localizedDescription)")
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Must precede the first table for a new file; retention then frees pages with
            // `PRAGMA incremental_vacuum` instead of a full VACUUM.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL") }
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try Self.checkSchema(pool, path: path, readOnly: false)
            try Schema.migrator.migrate(pool)
            self.pool = pool
        } catch let error as JournalError {
            throw error
        } catch {
            throw JournalError("\(path): cannot open the journal: \(error)")
        }
    }

    /// The run a source writes under (`replay` + file name, `simulate` + scenario, `daemon` + boot
    /// ID): writing the same run again updates it instead of duplicating it.
    /// `clock` says what its times are on: the daemon's are on the host's clock (and convert to
    /// UTC through the anchors its writer journals), a simulation's or a replay's are virtual.
    public func run(kind: String, name: String, startedUTC: Int64, clock: RunClock = .virtual) throws(JournalError)
        -> Int64
    {
        do {
            return try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO runs (kind, name, started_utc_ns, clock) VALUES (?, ?, ?, ?)
                        ON CONFLICT(kind, name) DO NOTHING
                        """,
                    arguments: [kind, name, startedUTC, clock.rawValue])
                return try Int64.fetchOne(
                    db, sql: "SELECT id FROM runs WHERE kind = ? AND name = ?", arguments: [kind, name]) ?? 0
            }
        } catch {
            throw JournalError("\(path): cannot record the run: \(error)")
        }
    }

    /// Records the devices `run` never writes to, with their reasons (replacing what it said before).
    public func recordProtection(run: Int64, _ devices: [(device: String, reason: String)]) throws(JournalError) {
        do {
            try pool.write { db in
                try db.execute(sql: "DELETE FROM protected WHERE run = ?", arguments: [run])
                for entry in devices {
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO protected (run, device, reason) VALUES (?, ?, ?)",
                        arguments: [run, entry.device, entry.reason])
                }
            }
        } catch {
            throw JournalError("\(path): cannot record the protected devices: \(error)")
        }
    }

    /// Writes one batch in one transaction: upserted episodes (by run, device, class, first),
    /// decisions and actions once each (by idempotency key), device states, a cursor.
    /// `midTransaction` is a test hook (crash-safety tests kill the writer there).
    public func write(_ batch: JournalBatch, midTransaction: (@Sendable () -> Void)? = nil) throws(JournalError) {
        do {
            try pool.write { db in
                for (index, episode) in batch.episodes.enumerated() {
                    try db.execute(
                        sql: """
                            INSERT INTO episodes (run, device, class, first_ns, last_ns, count, lower_bound,
                                sample_addresses, status_union, series)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT(run, device, class, first_ns) DO UPDATE SET
                                last_ns = max(last_ns, excluded.last_ns), count = excluded.count,
                                lower_bound = excluded.lower_bound, sample_addresses = excluded.sample_addresses,
                                status_union = excluded.status_union, series = excluded.series
                            """,
                        arguments: [
                            batch.run, episode.subject, episode.eventClass, episode.first, episode.last,
                            Int64(clamping: episode.count), episode.lowerBound,
                            episode.sampleAddresses.map { "0x" + String($0, radix: 16) }.joined(separator: " "),
                            Int64(episode.statusUnion), episode.series.text,
                        ])
                    if index == batch.episodes.count / 2 { midTransaction?() }
                }
                for decision in batch.decisions {
                    try db.execute(
                        sql: """
                            INSERT INTO decisions (run, at_ns, subject, action, kind, recommendation, from_state, to_state,
                                reason, idempotency_key)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(idempotency_key) DO NOTHING
                            """,
                        arguments: [
                            batch.run, decision.at, decision.subject, decision.action, decision.kind,
                            decision.recommendation,
                            decision.from, decision.to, decision.reason, decision.key(run: batch.run),
                        ])
                }
                for action in batch.actions {
                    try db.execute(
                        sql: """
                            INSERT INTO actions (run, at_ns, device, action, kind, outcome, outcome_ns, idempotency_key)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT(idempotency_key) DO UPDATE SET
                                outcome = coalesce(excluded.outcome, outcome), outcome_ns = coalesce(excluded.outcome_ns, outcome_ns)
                            """,
                        arguments: [
                            batch.run, action.at, action.device, action.action, action.kind, action.outcome,
                            action.outcomeAt,
                            action.key(run: batch.run),
                        ])
                }
                for state in batch.states {
                    try db.execute(
                        sql: """
                            INSERT INTO device_state (device, run, state, since_ns, next_deadline_ns, budget_left,
                                containments, updated_ns)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT(device) DO UPDATE SET run = excluded.run, state = excluded.state,
                                since_ns = excluded.since_ns, next_deadline_ns = excluded.next_deadline_ns,
                                budget_left = excluded.budget_left, containments = excluded.containments,
                                updated_ns = excluded.updated_ns
                            """,
                        arguments: [
                            state.device, batch.run, state.state, state.since, state.nextDeadline, state.budgetLeft,
                            state.containments, state.updated,
                        ])
                }
                for row in batch.faultKinds {
                    try db.execute(
                        sql: """
                            INSERT INTO fault_kinds (run, device, kind, count) VALUES (?, ?, ?, ?)
                            ON CONFLICT(run, device, kind) DO UPDATE SET count = excluded.count
                            """,
                        arguments: [batch.run, row.subject, row.kind.rawValue, Int64(clamping: row.count)])
                }
                for (counter, value) in batch.counters.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                    try db.execute(
                        sql: """
                            INSERT INTO counters (run, name, value, updated_ns) VALUES (?, ?, ?, ?)
                            ON CONFLICT(run, name) DO UPDATE SET value = excluded.value, updated_ns = excluded.updated_ns
                            """,
                        arguments: [batch.run, counter.rawValue, value, batch.countersUpdated])
                }
                for device in batch.devices {
                    try db.execute(
                        sql: """
                            INSERT INTO devices (address, vendor_id, device_id, subsystem, class_code, serial, slot, driver,
                                first_seen_ns, last_seen_ns)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT(address) DO UPDATE SET vendor_id = excluded.vendor_id,
                                device_id = excluded.device_id, subsystem = excluded.subsystem,
                                class_code = excluded.class_code, serial = excluded.serial, slot = excluded.slot,
                                driver = excluded.driver, last_seen_ns = excluded.last_seen_ns
                            """,
                        arguments: [
                            device.address, device.vendorID.map { Int64($0) }, device.deviceID.map { Int64($0) },
                            device.subsystem, device.classCode.map { Int64($0) }, device.serial, device.slot,
                            device.driver, batch.devicesSeenUTC, batch.devicesSeenUTC,
                        ])
                }
                for anchor in batch.anchors {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO clock_anchors (run, at_ns, utc_ns) VALUES (?, ?, ?)",
                        arguments: [batch.run, anchor.at, anchor.utc])
                }
                if let cursor = batch.cursor {
                    try db.execute(
                        sql: """
                            INSERT INTO cursors (source, boot_id, sequence, byte_offset, updated_ns) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT(source) DO UPDATE SET boot_id = excluded.boot_id, sequence = excluded.sequence,
                                byte_offset = excluded.byte_offset, updated_ns = excluded.updated_ns
                            """,
                        arguments: [cursor.source, cursor.bootID, cursor.sequence, cursor.offset, cursor.updated])
                }
            }
        } catch {
            throw JournalError("\(path): write failed: \(error)")
        }
    }

    /// Records that `rows` could not be written (disk full, locked), if the journal can take even that.
    public func noteLoss(rows: Int, reason: String, atUTC: Int64) {
        _ = try? pool.write { db in
            try db.execute(
                sql: "INSERT INTO write_losses (at_utc_ns, rows, reason) VALUES (?, ?, ?)",
                arguments: [atUTC, rows, reason])
        }
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    public func integrityCheck() throws(JournalError) -> String {
        do {
            return try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
            }
        } catch {
            throw JournalError("\(path): integrity check failed to run: \(error)")
        }
    }

    /// Runs a read-only query (the readers in `Journal+Reading`).
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(JournalError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw JournalError("\(path): read failed: \(error)")
        }
    }

    /// Runs a small write outside a batch (operator releases, retention).
    func writeNow<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(JournalError) -> T {
        do {
            return try pool.write(body)
        } catch {
            throw JournalError("\(path): write failed: \(error)")
        }
    }
}

/// What one transaction writes.
public struct JournalBatch: Sendable {
    public var run: Int64
    public var episodes: [Episode] = []
    public var decisions: [DecisionRow] = []
    public var actions: [ActionRow] = []
    public var states: [StateRow] = []
    public var cursor: CursorRow?
    /// The daemon's own counts, as they stand (replacing the run's previous values).
    public var counters: [DaemonCounter: Int64] = [:]
    /// DMA fault totals per device and kind (absolute: the latest value replaces the row).
    public var faultKinds: [FaultKindRow] = []
    /// When `counters` were taken (UTC nanoseconds).
    public var countersUpdated: Int64 = 0
    /// Readings of the run's clock against UTC (`ClockAnchor`).
    public var anchors: [ClockAnchor] = []
    /// What the inventory says the devices are (upserted by address), seen at `devicesSeenUTC`.
    public var devices: [DeviceIdentity] = []
    public var devicesSeenUTC: Int64 = 0

    public init(run: Int64) { self.run = run }

    public var rowCount: Int {
        episodes.count + decisions.count + actions.count + states.count + (cursor == nil ? 0 : 1) + counters.count
            + faultKinds.count + anchors.count + devices.count
    }
}

/// How many DMA faults of one kind a device made in a run (its total so far).
public struct FaultKindRow: Hashable, Sendable {
    public var subject: Subject
    public var kind: DMAFaultKind
    public var count: UInt64

    struct Key: Hashable, Sendable {
        var subject: Subject
        var kind: DMAFaultKind
    }
}

public struct DecisionRow: Hashable, Sendable {
    public var at: Int64
    public var subject: String
    public var action: String?
    /// `Action.kind` (bounded: metrics labels use it).
    public var kind: String?
    public var recommendation: Bool
    public var from: String?
    public var to: String?
    public var reason: String

    public init(_ decision: Decision) {
        at = decision.at.nanoseconds
        subject = decision.subject.description
        action = decision.action?.description
        kind = decision.action?.kind
        recommendation = decision.action?.isRecommendation ?? false
        from = decision.from?.name
        to = decision.to?.name
        reason = decision.reason
    }

    /// Same decision, same key: writing it twice keeps one row.
    func key(run: Int64) -> String { "\(run)|\(at)|\(subject)|\(action ?? "-")|\(reason)" }
}

public struct ActionRow: Hashable, Sendable {
    public var at: Int64
    public var device: String?
    public var action: String
    public var kind: String
    public var outcome: String?
    public var outcomeAt: Int64?

    public init(at: Int64, action: Action, outcome: String? = nil, outcomeAt: Int64? = nil) {
        self.at = at
        device = action.target?.description
        self.action = action.description
        kind = action.kind
        self.outcome = outcome
        self.outcomeAt = outcomeAt
    }

    /// The idempotency key: the action and when it was decided. A restart that decides the same
    /// action at the same moment finds it already journaled and does not act twice.
    func key(run: Int64) -> String { "\(run)|\(at)|\(action)" }
}

public struct StateRow: Hashable, Sendable {
    public var device: String
    public var state: String
    public var since: Int64
    public var nextDeadline: Int64?
    public var budgetLeft: Int?
    public var containments: Int?
    public var updated: Int64

    public init(_ status: DeviceStatus, at now: Instant) {
        device = status.address.description
        state = status.state.name
        since = now.nanoseconds
        nextDeadline = status.nextDeadline?.nanoseconds
        budgetLeft = status.budgetLeft
        containments = status.containmentsInWindow
        updated = now.nanoseconds
    }
}

public struct CursorRow: Hashable, Sendable {
    public var source: String
    public var bootID: String?
    public var sequence: Int64?
    public var offset: Int64?
    public var updated: Int64

    public init(source: String, bootID: String? = nil, sequence: Int64? = nil, offset: Int64? = nil, updated: Int64) {
        self.source = source
        self.bootID = bootID
        self.sequence = sequence
        self.offset = offset
        self.updated = updated
    }
}
