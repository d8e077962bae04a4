import CorralCore
import Foundation
import Testing

@testable import CorralServe
@testable import CorralStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A Prometheus text-format sample, parsed back.
struct Sample: Hashable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses the exposition format strictly enough to catch mistakes: every sample belongs to a
/// family declared with HELP and TYPE before it, labels are `key="value"`, values are numbers.
func parseExposition(_ text: String) throws -> [Sample] {
    struct Malformed: Error { let line: String }
    var declared: Set<String> = []
    var samples: [Sample] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
        if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ", maxSplits: 3)
            guard parts.count >= 4 else { throw Malformed(line: String(line)) }
            if line.hasPrefix("# TYPE ") {
                guard ["counter", "gauge"].contains(String(parts[3])) else { throw Malformed(line: String(line)) }
                declared.insert(String(parts[2]))
            }
            continue
        }
        let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        let name = String(line[..<nameEnd])
        guard declared.contains(name) else { throw Malformed(line: String(line)) }
        var labels: [String: String] = [:]
        var rest = line[nameEnd...]
        if rest.first == "{" {
            guard let close = rest.lastIndex(of: "}") else { throw Malformed(line: String(line)) }
            for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else {
                    throw Malformed(line: String(line))
                }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            rest = rest[rest.index(after: close)...]
        }
        guard let value = Double(rest.trimmingCharacters(in: .whitespaces)) else { throw Malformed(line: String(line)) }
        samples.append(Sample(name: name, labels: labels, value: value))
    }
    return samples
}

@Suite struct ServeTests {
    static func journal() throws -> Journal {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "corral-serve-\(UUID().uuidString).sqlite"
        ).path
        let journal = try Journal(path: path)
        let run = try journal.run(kind: "test", name: "serve", startedUTC: 0)
        var batch = JournalBatch(run: run)
        batch.episodes = [
            Episode(
                subject: "0000:03:00.0", eventClass: "dma-fault", first: 0, last: 10, count: 2_000, lowerBound: true)
        ]
        let nic = PCIAddress(bus: 3, device: 0, function: 0)!
        batch.actions = [ActionRow(at: 5, action: .clearBusMaster(nic))]
        batch.decisions = [
            DecisionRow(
                Decision(
                    at: Instant(nanoseconds: 5), subject: .device(.pci(nic)), action: .clearBusMaster(nic),
                    reason: "storm"))
        ]
        try journal.write(batch)
        return journal
    }

    @Test func exposition() throws {
        let samples = try parseExposition(MetricsExposition.render(try Self.journal().metricsSnapshot()))
        #expect(
            samples.contains(
                Sample(
                    name: "corral_events_total", labels: ["device": "0000:03:00.0", "class": "dma-fault"], value: 2_000)
            ))
        #expect(
            samples.contains(
                Sample(
                    name: "corral_actions_total", labels: ["device": "0000:03:00.0", "action": "clear-bus-master"],
                    value: 1)))
        #expect(samples.contains { $0.name == "corral_journal_write_losses_total" && $0.value == 0 })
        #expect(MetricsExposition.escape("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
    }

    @Test func servesOverARealLoopbackConnection() async throws {
        let server = try StatusServer(journal: try Self.journal(), port: 0)
        let task = Task { try await server.run() }
        defer { task.cancel() }
        let port = try #require(try await server.port())
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let samples = try parseExposition(String(decoding: data, as: UTF8.self))
        #expect(samples.contains { $0.name == "corral_events_total" && $0.value == 2_000 })
        let (health, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
        #expect(String(decoding: health, as: UTF8.self) == "ok\n")
        let (status, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/status")!)
        let object = try JSONSerialization.jsonObject(with: status) as? [String: Any]
        #expect((object?["devices"] as? [Any])?.count == 1)
        await server.stop()
    }
}

/// The shipped alert rules and dashboard only use metrics `/metrics` exposes.
@Suite struct ContribTests {
    @Test(arguments: ["contrib/prometheus/corral-alerts.yml", "contrib/grafana/corral.json"])
    func referencesExistingMetrics(_ file: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        let exposed = Set(
            MetricsExposition.render(try ServeTests.journal().metricsSnapshot()).split(separator: "\n")
                .filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        var used: Set<String> = []
        var current = ""
        for character in text + " " {
            if character.isLetter || character.isNumber || character == "_" {
                current.append(character)
            } else {
                if current.hasPrefix("corral_") { used.insert(current) }
                current = ""
            }
        }
        #expect(!used.isEmpty)
        #expect(used.isSubset(of: exposed), "unknown metrics: \(used.subtracting(exposed))")
    }
}
