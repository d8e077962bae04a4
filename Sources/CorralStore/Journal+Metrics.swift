import CorralCore
import GRDB

/// Totals for the metrics endpoint: small queries over indexed tables.
extension Journal {
    public struct MetricsSnapshot: Sendable {
        /// (device, class) → events, episodes.
        public var events: [(device: String, eventClass: String, events: Int64, episodes: Int64, lowerBound: Bool)]
        /// (device, action kind) → actions carried out.
        public var actions: [(device: String, kind: String, count: Int64)]
        /// (device, action kind) → recommendations made.
        public var recommendations: [(device: String, kind: String, count: Int64)]
        /// device → times its user-space owner (a VM through vfio-pci) was told it stormed.
        public var ownerNotifications: [(device: String, count: Int64)]
        public var states: [(device: String, state: String)]
        public var writeLosses: Int64
        /// The daemon's counts about itself, summed over its runs.
        public var counters: [DaemonCounter: Int64] = [:]
        /// Hook runs by trigger and outcome (`succeeded`, `failed`, `timed out`, `could not
        /// start`, `skipped`).
        public var hookRuns: [(trigger: String, outcome: String, count: Int64)] = []
        /// DMA faults by device and kind (`DMAFaultKind`: a bounded label), summed over runs.
        public var faultKinds: [(device: String, kind: String, count: Int64)] = []
        /// What the inventory says each device is (`DeviceIdentity`), for the `model` label.
        public var identities: [Subject: DeviceIdentity] = [:]
        /// device → wall-clock UTC seconds of its first event Corral journaled on a host clock
        /// (virtual runs have none): "since when" across a fleet.
        public var firstEventUTC: [(device: String, seconds: Int64)] = []

        /// The bounded `model` label: PCI `vendor:device` (`8086:10fb`), `unknown` without an inventory.
        public func model(_ device: String) -> String {
            guard let identity = identities[Subject(name: device)], let vendor = identity.vendorID else {
                return "unknown"
            }
            return "\(Hex.padded(vendor, width: 4)):\(Hex.padded(identity.deviceID ?? 0, width: 4))"
        }
    }

    /// A hook outcome's class, without its details ("failed (exit 1)" → "failed").
    static func outcomeClass(_ text: String) -> String {
        for known in ["succeeded", "failed", "timed out", "could not start", "skipped"] where text.hasPrefix(known) {
            return known
        }
        return "other"
    }

    public func metricsSnapshot() throws(JournalError) -> MetricsSnapshot {
        var snapshot = try rowsSnapshot()
        snapshot.identities = try deviceIdentities()
        return snapshot
    }

    func rowsSnapshot() throws(JournalError) -> MetricsSnapshot {
        try read { db in
            let events = try Row.fetchAll(
                db,
                sql:
                    "SELECT device, class, sum(count), count(*), max(lower_bound) FROM episodes GROUP BY device, class ORDER BY device, class"
            ).map {
                (
                    device: $0[0] as String, eventClass: $0[1] as String, events: $0[2] as Int64,
                    episodes: $0[3] as Int64, lowerBound: $0[4] as Bool
                )
            }
            let actions = try Row.fetchAll(
                db,
                sql:
                    "SELECT coalesce(device, ''), kind, count(*) FROM actions GROUP BY device, kind ORDER BY device, kind"
            ).map { (device: $0[0] as String, kind: $0[1] as String, count: $0[2] as Int64) }
            let recommendations = try Row.fetchAll(
                db,
                sql:
                    "SELECT subject, kind, count(*) FROM decisions WHERE recommendation = 1 AND kind IS NOT NULL GROUP BY subject, kind ORDER BY subject, kind"
            ).map { (device: $0[0] as String, kind: $0[1] as String, count: $0[2] as Int64) }
            let owners = try Row.fetchAll(
                db,
                sql:
                    "SELECT subject, count(*) FROM decisions WHERE kind = 'notify-owner' GROUP BY subject ORDER BY subject"
            ).map { (device: $0[0] as String, count: $0[1] as Int64) }
            let states = try Row.fetchAll(db, sql: "SELECT device, state FROM device_state ORDER BY device")
                .map { (device: $0[0] as String, state: $0[1] as String) }
            let losses = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(rows), 0) FROM write_losses") ?? 0
            var counters: [DaemonCounter: Int64] = [:]
            // Schema v3; a reader may be looking at an older journal.
            let hasCounters = try db.tableExists("counters")
            for row in try hasCounters
                ? Row.fetchAll(db, sql: "SELECT name, sum(value) FROM counters GROUP BY name") : []
            {
                if let counter = DaemonCounter(rawValue: row[0]) { counters[counter] = row[1] }
            }
            var hooks: [String: Int64] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT trigger, outcome, count(*) FROM hook_runs GROUP BY trigger, outcome")
            {
                let trigger: String = row[0]
                hooks["\(trigger)\u{0}\(Self.outcomeClass(row[1]))", default: 0] += row[2] as Int64
            }
            let hookRuns = hooks.sorted { $0.key < $1.key }.map { key, count in
                let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
                return (trigger: parts[0], outcome: parts.count > 1 ? parts[1] : "other", count: count)
            }
            // Schema v4; a reader may be looking at an older journal.
            let faultKinds =
                try db.tableExists("fault_kinds")
                ? Row.fetchAll(
                    db,
                    sql:
                        "SELECT device, kind, sum(count) FROM fault_kinds GROUP BY device, kind ORDER BY device, kind"
                ).map { (device: $0[0] as String, kind: $0[1] as String, count: $0[2] as Int64) } : []
            // The first event of each device on a host clock, in UTC seconds.
            let timeline = try JournalTimeline.read(db)
            var first: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, run, min(first_ns) FROM episodes GROUP BY device, run")
            {
                let device: String = row[0]
                guard !Subject(name: device).isUnattributed, let utc = timeline.utc(run: row[1], at: row[2]) else {
                    continue
                }
                let seconds = utc.floorDivided(by: 1_000_000_000).quotient
                first[device] = min(first[device] ?? seconds, seconds)
            }
            var snapshot = MetricsSnapshot(
                events: events, actions: actions, recommendations: recommendations, ownerNotifications: owners,
                states: states, writeLosses: losses, counters: counters, hookRuns: hookRuns, faultKinds: faultKinds)
            snapshot.firstEventUTC = first.sorted { $0.key < $1.key }.map { (device: $0.key, seconds: $0.value) }
            return snapshot
        }
    }
}
