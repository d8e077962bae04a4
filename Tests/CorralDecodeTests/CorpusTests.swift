import CorralCore
import Foundation
import Testing

@testable import CorralDecode

/// The normalized-schema keys the corpus `.expected.jsonl` files use; extras are ignored.
let schemaKeys = [
    "line", "class", "vendor", "device", "iommu", "stream_id", "address", "access", "reason", "severity", "count",
    "irq",
]

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func files(_ folder: String, suffix: String) -> [URL] {
        let directory = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { directory.appendingPathComponent($0) }
    }

    static func text(_ url: URL) -> String {
        (try? Data(contentsOf: url)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

/// Projects a JSON object onto the schema keys, as comparable strings.
func schemaProjection(_ json: String) -> [String: String] {
    guard let data = json.data(using: .utf8),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return ["unparseable": json] }
    var out: [String: String] = [:]
    for key in schemaKeys { if let value = object[key] { out[key] = "\(value)" } }
    return out
}

@Suite struct CorpusTests {
    static let logs = Fixtures.files("kernel-logs", suffix: ".log")

    @Test func corpusIsPresent() {
        #expect(Self.logs.count >= 29)
    }

    @Test(arguments: logs)
    func decodesToExpected(_ log: URL) {
        let expectedURL = log.deletingPathExtension().appendingPathExtension("expected.jsonl")
        let expected = Fixtures.text(expectedURL).split(separator: "\n").map { schemaProjection(String($0)) }
        let (events, statistics) = KernelLogParser.parse(Fixtures.text(log))
        let actual = events.map { schemaProjection(jsonLine($0)) }
        #expect(actual == expected, "\(log.lastPathComponent)")
        #expect(statistics.malformed == 0, "\(log.lastPathComponent): \(statistics.malformedExamples)")
    }

    /// Replay keys subjects by value and names them once: every corpus event's subject reads
    /// back from its name (what the journal keeps) as the same subject.
    @Test func replaySubjectsReadBackFromTheirNames() {
        var checked = 0
        for log in Self.logs {
            for event in KernelLogParser.parse(Fixtures.text(log)).0 {
                let subject = LogReplay.subject(event)
                #expect(Subject(name: subject.description) == subject, "\(log.lastPathComponent): \(subject)")
                checked += 1
            }
        }
        #expect(checked > 50)
    }
}
