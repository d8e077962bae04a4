import CorralTestSupport
import Foundation
import Testing

@testable import CorralStore

/// Replaying the same input twice against one journal (a restart that re-reads its source)
/// adds no duplicate episodes, decisions or actions.
@Suite struct RestartTests {
    @Test func replayingTwiceDuplicatesNothing() throws {
        let binary = try #require(JournalCrashTests.corralBinary)
        let path = temporaryJournalPath("restart")
        // A storm the engine acts on: 2,000 VT-d faults at 10,000/s.
        let log = (path as NSString).deletingLastPathComponent + "/storm.log"
        let lines = (0..<2_000).map { index in
            let micros = 100_000_000 + index * 100
            let fraction = String(micros % 1_000_000)
            return
                "[\(micros / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count) + fraction)] DMAR: [DMA Write NO_PASID] "
                + "Request device [03:00.0] fault addr 0x\(String(index * 0x1000, radix: 16)) [fault reason 0x05] PTE Write access is not set"
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try lines.joined(separator: "\n").write(toFile: log, atomically: true, encoding: .utf8)
        var counts: [[String: Int]] = []
        for _ in 0..<2 {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["replay", log, "--journal", path, "--json"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            counts.append(try Journal(path: path, create: false).counts())
        }
        #expect(counts[0]["episodes"] ?? 0 > 0 && counts[0]["decisions"] ?? 0 > 0)
        #expect(counts[0] == counts[1], "a second replay of the same file changes nothing")
        #expect(counts[1]["runs"] == 1)
    }
}
