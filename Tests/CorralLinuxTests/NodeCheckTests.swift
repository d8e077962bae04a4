import CorralStore
import Foundation
import Testing

/// `corral check` run as node-problem-detector runs a custom plugin (issue 19): the binary,
/// its exit status (0 OK, 1 problem, 2 unknown) and one line of output within
/// `max_output_length`, on journals in each state.
@Suite struct NodeCheckTests {
    static func check(_ arguments: [String]) throws -> (line: String, status: Int32) {
        let (output, status) = try JSONContractTests.run(["check"] + arguments)
        return (output, status)
    }

    @Test func theVerdictFollowsTheJournalInEveryState() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("corral-check-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let quiet = folder.appendingPathComponent("quiet.sqlite").path
        let stopped = folder.appendingPathComponent("stopped.sqlite").path
        let retired = folder.appendingPathComponent("retired.sqlite").path
        // A journal with devices that stayed healthy: the correctable-AER flood is only reported.
        #expect(try JSONContractTests.run(["simulate", "aer-correctable-flood", "--journal", quiet]).status == 0)
        #expect(try JSONContractTests.run(["simulate", "--journal", stopped]).status == 0)
        #expect(try JSONContractTests.run(["simulate", "relapse-then-retire", "--journal", retired]).status == 0)
        let cases: [(journal: String, condition: String, status: Int32, says: String)] = [
            (quiet, "contained", 0, "ok: no PCI device contained"),
            (stopped, "contained", 1, "0000:03:00.0 stopped"),
            (stopped, "retired", 0, "ok: no PCI device retired"),
            (retired, "retired", 1, "0000:03:00.0 retired"),
            (retired, "contained", 1, "0000:03:00.0 retired"),
            (folder.appendingPathComponent("missing.sqlite").path, "contained", 2, "unknown: "),
        ]
        for entry in cases {
            let (output, status) = try Self.check(["--journal", entry.journal, "--condition", entry.condition])
            #expect(status == entry.status, "\(entry.condition) on \(entry.journal): \(output)")
            #expect(output.contains(entry.says), "\(output)")
            // One line within node-problem-detector's default max_output_length.
            #expect(output.split(separator: "\n").count == 1 && output.utf8.count <= 81, "\(output)")
        }
        // A shorter limit cuts the line, never inside a character, and marks it.
        let (short, status) = try Self.check(["--journal", stopped, "--max-length", "12"])
        #expect(status == 1 && short.hasSuffix("…\n") && short.utf8.count <= 13, "\(short)")
    }

    /// The shipped plugin monitor is one node-problem-detector accepts (its `Validate`: every
    /// permanent rule's condition has a default, no rule outlives the global timeout) and its
    /// rules, run with their own arguments, give each condition its verdict.
    @Test func theShippedPluginMonitorRunsTheCheckItNames() throws {
        let url = JSONContractTests.repository.appendingPathComponent("contrib/kubernetes/corral-plugin-monitor.json")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(config["plugin"] as? String == "custom")
        let global = try #require(config["pluginConfig"] as? [String: Any])
        #expect(global["max_output_length"] as? Int == 80 && global["timeout"] as? String == "5s")
        let defaults = Set((config["conditions"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String })
        let rules = try #require(config["rules"] as? [[String: Any]])
        #expect(rules.count == 2)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("corral-npd-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let stopped = folder.appendingPathComponent("stopped.sqlite").path
        #expect(try JSONContractTests.run(["simulate", "--journal", stopped]).status == 0)
        var verdicts: [String: Int32] = [:]
        for rule in rules {
            let condition = try #require(rule["condition"] as? String)
            #expect(rule["type"] as? String == "permanent" && defaults.contains(condition))
            #expect(rule["path"] as? String == "/usr/bin/corral", "where the .deb installs it")
            #expect(["1s", "2s", "3s", "4s", "5s"].contains(rule["timeout"] as? String ?? ""))
            var arguments = try #require(rule["args"] as? [String])
            let journal = try #require(arguments.firstIndex(of: "--journal"))
            #expect(arguments[journal + 1] == "/var/lib/corral/journal.sqlite")
            arguments[journal + 1] = stopped
            let (output, status) = try JSONContractTests.run(arguments)
            verdicts[condition] = status
            #expect(output.utf8.count <= 81)
        }
        // A stopped device: contained, not retired.
        #expect(verdicts == ["PCIDeviceContained": 1, "PCIDeviceRetired": 0])
    }

    @Test func fittingNeverSplitsACharacter() {
        #expect(NodeCheck.fit("ab\ncd", 80) == "ab cd")
        #expect(NodeCheck.fit("0000:03:00.0 élans", 18) == "0000:03:00.0 é…")
        #expect(NodeCheck.fit("0000:03:00.0 élans", 17) == "0000:03:00.0 …")
        // é is 2 bytes, … is 3: one é and the mark fit in 6.
        #expect(NodeCheck.fit("ééééé", 6) == "é…")
    }
}
