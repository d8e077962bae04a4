import GRDB

/// The journal's schema, as migrations: a journal written by an older Corral is upgraded in
/// place, and one written by a newer Corral is refused instead of damaged.
enum Schema {
    static let version = 6

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    CREATE TABLE runs (
                        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL,
                        started_utc_ns INTEGER NOT NULL, UNIQUE(kind, name));
                    CREATE TABLE devices (
                        address TEXT PRIMARY KEY NOT NULL, vendor_id INTEGER, device_id INTEGER,
                        subsystem TEXT, class_code INTEGER, serial TEXT, slot TEXT, driver TEXT,
                        first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL);
                    CREATE TABLE episodes (
                        id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id),
                        device TEXT NOT NULL, class TEXT NOT NULL, first_ns INTEGER NOT NULL,
                        last_ns INTEGER NOT NULL, count INTEGER NOT NULL, lower_bound INTEGER NOT NULL,
                        sample_addresses TEXT NOT NULL, status_union INTEGER NOT NULL,
                        UNIQUE(run, device, class, first_ns));
                    CREATE INDEX episodes_device_time ON episodes(device, first_ns);
                    CREATE TABLE decisions (
                        id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id), at_ns INTEGER NOT NULL,
                        subject TEXT NOT NULL, action TEXT, kind TEXT, recommendation INTEGER NOT NULL,
                        from_state TEXT, to_state TEXT, reason TEXT NOT NULL,
                        idempotency_key TEXT NOT NULL UNIQUE);
                    CREATE INDEX decisions_subject_time ON decisions(subject, at_ns);
                    CREATE TABLE actions (
                        id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id), at_ns INTEGER NOT NULL,
                        device TEXT, action TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT, outcome_ns INTEGER,
                        idempotency_key TEXT NOT NULL UNIQUE);
                    CREATE INDEX actions_device_time ON actions(device, at_ns);
                    CREATE TABLE device_state (
                        device TEXT PRIMARY KEY NOT NULL, run INTEGER NOT NULL, state TEXT NOT NULL,
                        since_ns INTEGER NOT NULL, next_deadline_ns INTEGER, budget_left INTEGER,
                        containments INTEGER, updated_ns INTEGER NOT NULL);
                    CREATE TABLE releases (
                        id INTEGER PRIMARY KEY, device TEXT NOT NULL, by_user TEXT NOT NULL,
                        at_utc_ns INTEGER NOT NULL, applied INTEGER NOT NULL DEFAULT 0);
                    CREATE TABLE cursors (
                        source TEXT PRIMARY KEY NOT NULL, boot_id TEXT, sequence INTEGER, byte_offset INTEGER,
                        updated_ns INTEGER NOT NULL);
                    CREATE TABLE hook_runs (
                        id INTEGER PRIMARY KEY, at_utc_ns INTEGER NOT NULL, trigger TEXT NOT NULL, device TEXT,
                        program TEXT NOT NULL, outcome TEXT NOT NULL, output TEXT NOT NULL);
                    CREATE TABLE write_losses (
                        id INTEGER PRIMARY KEY, at_utc_ns INTEGER NOT NULL, rows INTEGER NOT NULL, reason TEXT NOT NULL);
                    """)
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('schema', '1')")
        }
        // The devices a daemon run never writes to, with why (docs/safety.md): `status` shows them.
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    CREATE TABLE protected (
                        run INTEGER NOT NULL REFERENCES runs(id), device TEXT NOT NULL, reason TEXT NOT NULL,
                        PRIMARY KEY(run, device, reason));
                    UPDATE meta SET value = '2' WHERE key = 'schema';
                    """)
        }
        // The daemon's counts about itself (`DaemonCounter`), per run: `/metrics` sums them.
        migrator.registerMigration("v3") { db in
            try db.execute(
                sql: """
                    CREATE TABLE counters (
                        run INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value INTEGER NOT NULL,
                        updated_ns INTEGER NOT NULL, PRIMARY KEY(run, name));
                    UPDATE meta SET value = '3' WHERE key = 'schema';
                    """)
        }
        // How many of a device's DMA faults were of each kind (`DMAFaultKind`), per run: totals,
        // written again as they grow (bounded: devices × kinds).
        migrator.registerMigration("v4") { db in
            try db.execute(
                sql: """
                    CREATE TABLE fault_kinds (
                        run INTEGER NOT NULL REFERENCES runs(id), device TEXT NOT NULL, kind TEXT NOT NULL,
                        count INTEGER NOT NULL, PRIMARY KEY(run, device, kind));
                    UPDATE meta SET value = '4' WHERE key = 'schema';
                    """)
        }
        // Wall-clock UTC beside the run's own clock (issue 17): what clock a run's `_ns` columns
        // are on, and for a run on the host's clock the UTC it stood at, written again whenever
        // the two drift apart (a suspend, a clock step) so every row converts as it was.
        migrator.registerMigration("v5") { db in
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN clock TEXT;
                    CREATE TABLE clock_anchors (
                        run INTEGER NOT NULL REFERENCES runs(id), at_ns INTEGER NOT NULL, utc_ns INTEGER NOT NULL,
                        PRIMARY KEY(run, at_ns));
                    UPDATE meta SET value = '5' WHERE key = 'schema';
                    """)
        }
        // Each episode's events over time in bounded buckets (`RateSeries`), for the report.
        migrator.registerMigration("v6") { db in
            try db.execute(
                sql: """
                    ALTER TABLE episodes ADD COLUMN series TEXT;
                    UPDATE meta SET value = '6' WHERE key = 'schema';
                    """)
        }
        return migrator
    }
}
