import CorralCore
import CorralTestSupport
import Foundation
import GRDB
import Testing

@testable import CorralStore

/// Readers (`status`, `history`, `serve`, `report`) open the journal read-only: they must work
/// when the operator needs them most — on a read-only file system, on a full disk — and never
/// change the file.
@Suite(.serialized) struct ReadOnlyJournalTests {
    static func folder() throws -> String {
        let folder = TemporaryPath.make("ro")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A journal with one episode, written and closed as a stopped daemon leaves it.
    static func writeJournal(at path: String) throws {
        let journal = try Journal(path: path)
        let run = try journal.run(kind: "test", name: "ro", startedUTC: 0)
        var batch = JournalBatch(run: run)
        batch.episodes = [
            Episode(subject: "0000:03:00.0", eventClass: "dma-fault", first: 0, last: 10, count: 7, lowerBound: false)
        ]
        try journal.write(batch)
    }

    static func listing(_ folder: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            out[name] = FileManager.default.contents(atPath: folder + "/" + name)
        }
        return out
    }

    @Test func aReaderLeavesTheJournalAsItWasAndCannotWrite() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/journal.sqlite"
        try Self.writeJournal(at: path)
        let before = try Self.listing(folder)
        do {
            let reader = try Journal.readOnly(path: path)
            #expect(reader.isReadOnly)
            #expect(try reader.statusDocument().devices.map(\.events) == [7])
            #expect(throws: JournalError.self) { _ = try reader.run(kind: "test", name: "other", startedUTC: 0) }
        }
        // SQLite may add its WAL index files beside it where it can (an empty WAL); the
        // journal itself is byte for byte what it was.
        let after = try Self.listing(folder)
        #expect(after["journal.sqlite"] == before["journal.sqlite"])
        #expect(after["journal.sqlite-wal"]?.isEmpty ?? true)
    }

    /// After an upgrade, `status` runs before the old daemon restarts: an older journal is read
    /// as it is, the tables it lacks as empty.
    @Test func anOlderJournalIsReadAsItIs() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/journal.sqlite"
        do {
            let pool = try DatabasePool(path: path)
            try Schema.migrator.migrate(pool, upTo: "v1")
            try pool.write { db in
                try db.execute(sql: "INSERT INTO runs (id, kind, name, started_utc_ns) VALUES (1, 'daemon', 'b', 0)")
                try db.execute(
                    sql: """
                        INSERT INTO episodes (run, device, class, first_ns, last_ns, count, lower_bound,
                            sample_addresses, status_union) VALUES (1, '0000:03:00.0', 'dma-fault', 0, 1, 5, 0, '', 0)
                        """)
            }
        }
        let reader = try Journal.readOnly(path: path)
        #expect(try reader.statusDocument().devices.map(\.events) == [5])
        #expect(try reader.metricsSnapshot().counters.isEmpty)
        #expect(try reader.protectedDevices().isEmpty)
    }

    @Test func aMissingJournalIsAnErrorNotANewFile() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: JournalError.self) { _ = try Journal.readOnly(path: folder + "/typo.sqlite") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    /// Root in a mount namespace that allows it (this machine, CI): a real read-only bind mount.
    static let canMount: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("corral-mount-probe").path
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard run("/bin/mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe) == 0 else { return false }
        return run("/bin/umount", probe) == 0
    }()

    @discardableResult
    static func run(_ arguments: String...) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test(.enabled(if: canMount, "needs root allowed to mount")) func readsOnAReadOnlyFileSystem() throws {
        let folder = try Self.folder()
        let mounted = folder + "-ro"
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        defer {
            Self.run("/bin/umount", mounted)
            try? FileManager.default.removeItem(atPath: mounted)
            try? FileManager.default.removeItem(atPath: folder)
        }
        try Self.writeJournal(at: folder + "/journal.sqlite")
        #expect(Self.run("/bin/mount", "--bind", folder, mounted) == 0)
        #expect(Self.run("/bin/mount", "-o", "remount,ro,bind", mounted) == 0)
        #expect(!FileManager.default.createFile(atPath: mounted + "/probe", contents: Data()), "the mount is read-only")
        // The writer's way fails here; the reader's works.
        #expect(throws: JournalError.self) { _ = try Journal(path: mounted + "/journal.sqlite", create: false) }
        let reader = try Journal.readOnly(path: mounted + "/journal.sqlite")
        #expect(try reader.statusDocument().devices.map(\.device) == ["0000:03:00.0"])
        #expect(try reader.metricsSnapshot().events.isEmpty == false)
    }

    @Test(.enabled(if: canMount, "needs root allowed to mount")) func readsOnAFullDisk() throws {
        let folder = try Self.folder()
        defer {
            Self.run("/bin/umount", folder)
            try? FileManager.default.removeItem(atPath: folder)
        }
        #expect(Self.run("/bin/mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", folder) == 0)
        try Self.writeJournal(at: folder + "/journal.sqlite")
        // Fill what is left.
        let filler =
            FileHandle(forWritingAtPath: folder + "/filler")
            ?? {
                FileManager.default.createFile(atPath: folder + "/filler", contents: nil)
                return FileHandle(forWritingAtPath: folder + "/filler")!
            }()
        let block = Data(count: 64 * 1024)
        while (try? filler.write(contentsOf: block)) != nil {}
        try? filler.close()
        let reader = try Journal.readOnly(path: folder + "/journal.sqlite")
        #expect(try reader.statusDocument().devices.map(\.events) == [7])
    }
}
