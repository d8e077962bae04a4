import CorralTestSupport
import Foundation
import Testing

/// One JSON contract (issue 17): every command's `--json` output, run as an operator runs it,
/// validated against docs/corral.schema.json — each JSON Lines line by the definition its `type`
/// names, each document by its command's definition. A key the schema does not declare fails,
/// so the documentation (docs/json.md) cannot fall behind what is printed.
@Suite(.serialized) struct JSONContractTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func schema() throws -> JSONSchema {
        try JSONSchema(
            String(contentsOf: repository.appendingPathComponent("docs/corral.schema.json"), encoding: .utf8))
    }

    /// Runs `corral arguments`; its standard output, and its exit status.
    static func run(_ arguments: [String]) throws -> (output: String, status: Int32) {
        let process = Process()
        process.executableURL = try #require(WatchDaemonTests.corral, "the corral executable is built with the tests")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), process.terminationStatus)
    }

    /// JSON Lines: each line valid against the definition its `type` maps to.
    static func expectLines(
        _ arguments: [String], types: [String: String], untyped: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: Int] {
        let (output, status) = try run(arguments)
        #expect(
            status == 0, "corral \(arguments.joined(separator: " ")) exited \(status)", sourceLocation: sourceLocation)
        let schema = try schema()
        var seen: [String: Int] = [:]
        for line in output.split(separator: "\n") {
            let value = try JSONValue.parse(String(line))
            var name = untyped
            if case .object(let members) = value, case .string(let type)? = members["type"] { name = types[type] }
            guard let name else {
                Issue.record("corral \(arguments.first ?? ""): a line of no known type: \(line.prefix(200))")
                continue
            }
            seen[name, default: 0] += 1
            let errors = schema.errors(value, against: name)
            #expect(
                errors.isEmpty, "corral \(arguments.first ?? "") \(name): \(errors)", sourceLocation: sourceLocation)
        }
        return seen
    }

    /// One document, valid against `name`.
    static func expectDocument(
        _ arguments: [String], _ name: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let (output, status) = try run(arguments)
        #expect(status == 0 || arguments.first == "audit", "exit \(status)", sourceLocation: sourceLocation)
        let value = try JSONValue.parse(output)
        let errors = try schema().errors(value, against: name)
        #expect(errors.isEmpty, "corral \(arguments.joined(separator: " ")): \(errors)", sourceLocation: sourceLocation)
    }

    @Test func everyCommandsJSONMatchesTheSchema() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("corral-json-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = Self.repository.appendingPathComponent("Tests/Fixtures/kernel-logs/11-A-mlx5-intr-remap-2020.log")
            .path
        let journal = folder.appendingPathComponent("j.sqlite").path

        let decoded = try Self.expectLines(["decode", "--json", log], types: [:], untyped: "decode-event")
        #expect(decoded["decode-event", default: 0] > 0)
        let replayed = try Self.expectLines(
            ["replay", "--json", log],
            types: ["decision": "decision", "subject": "replay-subject", "summary": "replay-summary"])
        #expect(replayed["replay-summary"] == 1 && replayed["replay-subject", default: 0] > 0)
        let demo = try Self.expectLines(
            ["engine-demo", "--json"], types: ["decision": "decision", "device": "engine-device"])
        #expect(demo["decision", default: 0] > 3 && demo["engine-device", default: 0] > 0)

        // A journal with a contained device: the simulator's default scenario.
        _ = try Self.run(["simulate", "--journal", journal])
        try Self.expectDocument(["simulate", "--json"], "simulation")
        // The simulation's decisions are in the one decision schema (validated above), one per
        // engine decision, and name their policy.
        let simulated = try JSONSerialization.jsonObject(with: Data(try Self.run(["simulate", "--json"]).output.utf8))
        let decisions = try #require((simulated as? [String: Any])?["decisions"] as? [[String: Any]])
        #expect(decisions.count > 3 && decisions.allSatisfy { $0["policy"] as? String == "corral" })
        #expect(decisions.contains { $0["action"] as? String == "silence-fault-reporting" })
        try Self.expectDocument(["simulate", "--list", "--json"], "scenario-list")
        let history = try Self.expectLines(
            ["history", "--journal", journal, "--json"],
            types: ["episode": "episode", "decision": "decision", "fault-kinds": "fault-kinds"])
        #expect(history["episode", default: 0] > 0 && history["decision", default: 0] > 0)
        try Self.expectDocument(["release", "0000:03:00.0", "--journal", journal, "--json"], "release")
        let status = try Self.expectLines(
            ["status", "--journal", journal, "--json"], types: [:], untyped: "status-device")
        #expect(status["status-device", default: 0] > 0)
        try Self.expectDocument(["policy", "defaults", "--json"], "policy")
        let policy = folder.appendingPathComponent("policy.yaml")
        try "mode: enforce\n".write(to: policy, atomically: true, encoding: .utf8)
        try Self.expectDocument(["policy", "check", policy.path, "--json"], "policy")
        let machine = FakeSysfs.machine()
        try Self.expectDocument(["audit", "--root", machine.root, "--json"], "audit")
    }

    /// `watch --json` prints each decision as it is made, valid against the decision schema and
    /// the very object `history --json` later reads back from the journal (wall clock included).
    @Test func watchPrintsEachDecisionAsHistoryWillShowIt() throws {
        let fake = WatchDaemonTests.machine(withStorm: true)
        let journal = fake.root + "/j.sqlite"
        let (watched, status) = try Self.run([
            "watch", "--root", fake.root, "--journal", journal, "--mode", "enforce", "--once", "--json",
        ])
        #expect(status == 0)
        let schema = try Self.schema()
        let lines = watched.split(separator: "\n").map(String.init)
        #expect(lines.count > 1)
        for line in lines { #expect(schema.errors(try JSONValue.parse(line), against: "decision").isEmpty, "\(line)") }
        #expect(lines.contains { $0.contains("\"action\":\"clear-bus-master\"") && $0.contains("\"at_utc\"") })
        let history = try Self.run(["history", "--journal", journal, "--json"]).output.split(separator: "\n")
            .map(String.init).filter { $0.contains("\"type\":\"decision\"") }
        #expect(lines.sorted() == history.sorted())
    }

    /// The validator itself fails what it should: an undeclared key, a wrong type, a value
    /// outside an enum, a missing required key.
    @Test func theValidatorRejectsWhatTheSchemaForbids() throws {
        let schema = try Self.schema()
        let good = try JSONValue.parse(
            #"{"type":"decision","at_ns":1,"subject":"0000:03:00.0","action":"clear-bus-master","recommendation":true,"action_text":"x","from":"elevated","to":"stopped","reason":"r"}"#
        )
        #expect(schema.errors(good, against: "decision").isEmpty)
        let extra = try JSONValue.parse(#"{"type":"decision","at_ns":1,"subject":"a","reason":"r","extra":1}"#)
        #expect(schema.errors(extra, against: "decision") == [": key extra is not in the schema"])
        let wrongType = try JSONValue.parse(#"{"type":"decision","at_ns":1.5,"subject":"a","reason":"r"}"#)
        #expect(schema.errors(wrongType, against: "decision") == ["/at_ns: 1.5 is not of type integer"])
        let badState = try JSONValue.parse(#"{"type":"decision","at_ns":1,"subject":"a","reason":"r","to":"asleep"}"#)
        #expect(schema.errors(badState, against: "decision") == ["/to: \"asleep\" is not one of the allowed values"])
        let missing = try JSONValue.parse(#"{"type":"decision","at_ns":1,"subject":"a"}"#)
        #expect(schema.errors(missing, against: "decision") == [": required key reason is missing"])
        let flag = try JSONValue.parse(#"{"type":"release","id":1,"device":"d","by":"b","pending_before":1}"#)
        #expect(schema.errors(flag, against: "release") == ["/pending_before: 1 is not of type boolean"])
    }
}

/// `corral --version` names the git revision it was built from (issue 17; Plugins/CorralRevision).
@Suite struct VersionTests {
    @Test func versionNamesTheRevision() throws {
        let (output, status) = try JSONContractTests.run(["--version"])
        #expect(status == 0)
        let line = output.trimmingCharacters(in: .whitespacesAndNewlines)
        let pattern = #"^[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9]+)? \(git ([0-9a-f]{12}(-dirty)?|unknown)\)$"#
        #expect(line.range(of: pattern, options: .regularExpression) != nil, "\(line)")
        // Built from a git checkout (CI's fresh clone, a developer's tree): a real revision.
        let checkout = JSONContractTests.repository.appendingPathComponent(".git")
        if FileManager.default.fileExists(atPath: checkout.path) {
            #expect(!line.contains("(git unknown)"), "\(line)")
        }
    }
}
