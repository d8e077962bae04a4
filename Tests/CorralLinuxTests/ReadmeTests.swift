import Foundation
import Testing

/// The README's quick start shows real output (issue 17): each line it shows from `corral
/// simulate` and from `status`/`history` on the journal a simulation wrote is a line the
/// commands print today. A change of wording fails here until the README follows.
@Suite struct ReadmeTests {
    /// The lines of the README's fenced `text` blocks.
    static func shownLines() throws -> [String] {
        let readme = try String(
            contentsOf: JSONContractTests.repository.appendingPathComponent("README.md"), encoding: .utf8)
        var lines: [String] = []
        var inside = false
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```text" {
                inside = true
            } else if line == "```" {
                inside = false
            } else if inside {
                lines.append(String(line))
            }
        }
        return lines
    }

    @Test func theQuickStartShowsWhatTheCommandsPrint() throws {
        let shown = try Self.shownLines()
        #expect(shown.count > 20)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("corral-readme-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("j.sqlite").path
        let simulated = try JSONContractTests.run(["simulate", "--journal", journal]).output
        // Names from the public list's entries for the simulator's devices (the fixture holds the
        // same lines), whatever this machine has installed.
        let pciIDs = JSONContractTests.repository.appendingPathComponent("Tests/Fixtures/pci-ids/pci.ids").path
        let status = try JSONContractTests.run(["status", "--journal", journal, "--pci-ids", pciIDs]).output
        let history = try JSONContractTests.run([
            "history", "--journal", journal, "--since", "1h", "--pci-ids", pciIDs,
        ]).output
        let printed = Set((simulated + "\n" + status + "\n" + history).split(separator: "\n").map(String.init))
        // The simulator's timeline and header lines, and every line of status and history.
        let checked = shown.filter { line in
            line.hasPrefix("  0.") || line.hasPrefix("corral simulate ") || line.hasPrefix("Timeline (")
                || line.hasPrefix("0000:03:00.0") || line.hasPrefix("device ") || line.hasPrefix("`+`")
                || line.hasPrefix("  Intel ") || line.hasPrefix("  DMA faults")
        }
        #expect(checked.count >= 12)
        for line in checked { #expect(printed.contains(line), "README shows a line no command prints: \(line)") }
        // The comparison table's corral column is the run above.
        for line in shown where line.hasPrefix("contained after") {
            #expect(line.contains("2.019 ms") && simulated.contains("contained after               2.019 ms"))
        }
    }
}
