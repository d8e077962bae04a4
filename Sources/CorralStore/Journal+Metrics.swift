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
    }

    public func metricsSnapshot() throws(JournalError) -> MetricsSnapshot {
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
            return MetricsSnapshot(
                events: events, actions: actions, recommendations: recommendations, ownerNotifications: owners,
                states: states, writeLosses: losses)
        }
    }
}
