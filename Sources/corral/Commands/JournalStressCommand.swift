import ArgumentParser
import CorralCore
import CorralStore
import Foundation

/// A writer that kills itself with SIGKILL at a seeded random point — inside a transaction, just
/// after a commit, or after saying so — so the crash-safety test can check what survives.
/// Hidden: it exists for `JournalCrashTests` and the documented soak command.
struct JournalStressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal-stress", abstract: "Write numbered batches, then die by SIGKILL (crash-safety tests).",
        shouldDisplay: false)

    @Option var journal: String
    @Option var seed: UInt64
    @Option var batches: Int = 40

    func run() throws {
        var random = SplitMix64(seed: seed)
        let killBatch = Int(random.next() % UInt64(batches))
        let phase = random.next() % 3
        let store: Journal
        do {
            store = try Journal(path: journal)
        } catch {
            throw CommandFailure(error.description)
        }
        let run: Int64
        do {
            run = try store.run(kind: "stress", name: "seed-\(seed)", startedUTC: 0)
        } catch {
            throw CommandFailure(error.description)
        }
        for index in 0..<batches {
            var batch = JournalBatch(run: run)
            batch.episodes = (0..<20).map { row in
                Episode(
                    subject: .unattributed("stress \(seed)"), eventClass: .other("batch-\(index)"), first: Int64(row),
                    last: Int64(row),
                    count: UInt64(index * 20 + row + 1), lowerBound: false, sampleAddresses: [random.next()],
                    statusUnion: 0)
            }
            let dieInside = index == killBatch && phase == 0
            let hook: (@Sendable () -> Void)? = dieInside ? Self.die : nil
            do {
                try store.write(batch, midTransaction: hook)
            } catch {
                throw CommandFailure(error.description)
            }
            if index == killBatch && phase == 1 { Self.die() }
            FileHandle.standardOutput.write(Data("committed \(index)\n".utf8))
            if index == killBatch && phase == 2 { Self.die() }
        }
    }

    @Sendable static func die() {
        _ = kill(getpid(), SIGKILL)
    }
}
