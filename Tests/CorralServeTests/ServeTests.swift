import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralServe
@testable import CorralStore

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
        let path = TemporaryPath.make("serve") + ".sqlite"
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
                    name: "corral_events_total",
                    labels: ["device": "0000:03:00.0", "class": "dma-fault", "model": "unknown"], value: 2_000)
            ))
        #expect(
            samples.contains(
                Sample(
                    name: "corral_actions_total",
                    labels: ["device": "0000:03:00.0", "action": "clear-bus-master", "model": "unknown"],
                    value: 1)))
        #expect(samples.contains { $0.name == "corral_journal_write_losses_total" && $0.value == 0 })
        #expect(MetricsExposition.escape("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
    }

    /// Fleet views without new cardinality (issue 19): the `model` label is the inventory's
    /// vendor:device, names ride once per device on `corral_device_info`, and a host-clock run's
    /// first event is a timestamp a fleet can take the minimum of.
    @Test func modelLabelsDeviceInfoAndFirstEvent() throws {
        let journal = try Journal(path: TemporaryPath.make("serve-model") + ".sqlite")
        let run = try journal.run(kind: "daemon", name: "boot", startedUTC: 0, clock: .host)
        var writer = JournalWriter(journal: journal, run: run)
        writer.record(clockAt: 100_000_000_000, utc: 1_796_047_200_000_000_000)
        writer.record(
            devices: [
                DeviceIdentity(
                    address: "0000:03:00.0", vendorID: 0x8086, deviceID: 0x10fb, classCode: 0x020000, driver: "ixgbe")
            ], atUTC: 1)
        writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 90_000_000_000, count: 5))
        writer.flush(at: 100_000_000_000)
        let pciIDs = PCIIDs(
            parsing: Array("8086  Intel Corporation\n\t10fb  82599ES 10-Gigabit SFI/SFP+ Network Connection\n".utf8),
            wanted: [.init(vendor: 0x8086, device: 0x10fb)])
        let names = DeviceNames(identities: try journal.deviceIdentities(), pciIDs: pciIDs)
        let samples = try parseExposition(MetricsExposition.render(try journal.metricsSnapshot(), names: names))
        #expect(
            samples.contains(
                Sample(
                    name: "corral_events_total",
                    labels: ["device": "0000:03:00.0", "class": "dma-fault", "model": "8086:10fb"], value: 5)))
        #expect(
            samples.contains(
                Sample(
                    name: "corral_device_info",
                    labels: [
                        "device": "0000:03:00.0", "model": "8086:10fb",
                        "model_name": "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection",
                        "class": "network controller", "driver": "ixgbe",
                    ], value: 1)))
        // 10 s before the clock reading at 14:00:00Z.
        #expect(
            samples.contains(
                Sample(
                    name: "corral_device_first_event_timestamp_seconds",
                    labels: ["device": "0000:03:00.0", "model": "8086:10fb"], value: 1_796_047_190)))
    }

    /// The daemon's counts about itself, hook runs and the build, summed over runs.
    @Test func selfMetrics() throws {
        let journal = try Self.journal()
        let first = try journal.run(kind: "daemon", name: "boot-1", startedUTC: 0)
        var writer = JournalWriter(journal: journal, run: first)
        writer.record(counters: [.kmsgRecordsLost: 7, .kmsgRecordsNotKernel: 2], atUTC: 1)
        writer.flush(at: 1)
        let second = try journal.run(kind: "daemon", name: "boot-2", startedUTC: 0)
        var next = JournalWriter(journal: journal, run: second)
        next.record(counters: [.kmsgRecordsLost: 3], atUTC: 2)
        next.flush(at: 2)
        next.record(counters: [.kmsgRecordsLost: 4], atUTC: 3)  // The same run, later: replaced.
        next.flush(at: 3)
        journal.noteHookRun(
            trigger: "on-containment", device: "0000:03:00.0", program: "/x", outcome: "failed (exit 1)", output: "",
            atUTC: 4)
        journal.noteHookRun(
            trigger: "on-containment", device: "0000:03:00.0", program: "/x", outcome: "succeeded", output: "",
            atUTC: 5)
        let samples = try parseExposition(MetricsExposition.render(try journal.metricsSnapshot()))
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(value("corral_kmsg_records_lost_total") == 11)
        #expect(value("corral_kmsg_records_not_kernel_total") == 2)
        #expect(value("corral_circuit_breaker_downgrades_total") == 0, "every counter is there from the start")
        #expect(value("corral_journal_failed_writes_total") == 0)
        #expect(value("corral_hook_runs_total", ["trigger": "on-containment", "outcome": "failed"]) == 1)
        #expect(value("corral_hook_runs_total", ["trigger": "on-containment", "outcome": "succeeded"]) == 1)
        #expect(
            value("corral_build_info", ["version": CorralVersion.current, "schema": String(Journal.schemaVersion)]) == 1
        )
    }

    @Test func servesOverARealLoopbackConnection() async throws {
        let server = try await StatusServer(journal: try Self.journal(), port: 0)
        let task = Task { try await server.run() }
        defer { task.cancel() }
        let port = try #require(server.port)
        let metrics = try LoopbackClient.request(
            port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(metrics.status == 200)
        let samples = try parseExposition(metrics.body)
        #expect(samples.contains { $0.name == "corral_events_total" && $0.value == 2_000 })
        let health = try LoopbackClient.request(port: port, "GET /healthz HTTP/1.0\r\n\r\n")
        #expect(health.body == "ok\n")
        let status = try LoopbackClient.request(port: port, "GET /status?x=1 HTTP/1.0\r\n\r\n")
        let document = try JSONDecoder().decode(StatusDocument.self, from: Data(status.body.utf8))
        #expect(document.devices.map(\.device) == ["0000:03:00.0"])
        // HEAD: the same headers, no body.
        let head = try LoopbackClient.request(port: port, "HEAD /status HTTP/1.0\r\n\r\n")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["content-length"] == String(status.body.utf8.count))
        let index = try LoopbackClient.request(port: port, "GET / HTTP/1.0\r\n\r\n")
        #expect(index.status == 200 && index.body.contains("/metrics") && index.body.contains("/healthz"))
        await server.stop()
    }

    /// A port another listener holds (issue 17): refused in words, with how to find the holder,
    /// before anything announces a URL.
    @Test func aBusyPortIsSaidInWords() async throws {
        let first = try await StatusServer(journal: try Self.journal(), port: 0)
        let port = try #require(first.port)
        do {
            let second = try await StatusServer(journal: try Self.journal(), port: port)
            await second.stop()
            Issue.record("a second server listened on the busy port \(port)")
        } catch let failure as StatusServer.ListenError {
            #expect(failure.errno == EADDRINUSE)
            #expect(failure.description.contains("127.0.0.1:\(port) is already in use"))
            #expect(failure.description.contains("--port") && !failure.description.contains("bind(descriptor"))
        }
        await first.stop()
    }

    /// The measured attack: a 1 MiB header once pinned a core for minutes. Now the parser stops
    /// at the cap and answers 400; the endpoint goes on answering.
    @Test func aHugeHeaderIsRefusedAndTheEndpointStaysUp() async throws {
        let server = try await StatusServer(journal: try Self.journal(), port: 0)
        let task = Task { try await server.run() }
        defer { task.cancel() }
        let port = try #require(server.port)
        let huge = "GET /metrics HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n"
        let refused = try LoopbackClient.request(port: port, huge)
        #expect(refused.status == 400)
        #expect(try LoopbackClient.request(port: port, "GET /healthz HTTP/1.0\r\n\r\n").body == "ok\n")
        await server.stop()
    }

    /// Idle connections far beyond the cap: each newcomer evicts the oldest idle one, so
    /// descriptors stay bounded and a scraper still gets in.
    @Test func idleConnectionsBeyondTheCapCannotLockOutAScraper() async throws {
        var limits = HTTPLimits(maxConnections: 4)
        limits.idleTimeout = .seconds(600)
        limits.requestTimeout = .seconds(600)
        let server = try await StatusServer(journal: try Self.journal(), port: 0, limits: limits)
        let task = Task { try await server.run() }
        defer { task.cancel() }
        let port = try #require(server.port)
        let idle = try (0..<40).map { _ in try LoopbackClient.connect(port: port) }
        defer { for fd in idle { close(fd) } }
        // Each evicted connection is closed by the server: reading it returns end-of-file.
        let open = try LoopbackClient.request(port: port, "GET /healthz HTTP/1.0\r\n\r\n")
        #expect(open.body == "ok\n")
        let closedByServer = idle.prefix(30).filter { LoopbackClient.readsEndOfFile($0) }.count
        #expect(closedByServer == 30)
        await server.stop()
    }
}

/// The shipped alert rules and dashboard only use metrics `/metrics` exposes.
@Suite struct ContribTests {
    @Test(
        arguments: [
            "contrib/prometheus/corral-alerts.yml", "contrib/prometheus/corral-fleet-rules.yml",
            "contrib/grafana/corral.json", "contrib/grafana/corral-fleet.json",
        ])
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
            // `:` belongs to a name: a recording rule's `model:corral_hosts:count` is not a metric.
            if character.isLetter || character.isNumber || character == "_" || character == ":" {
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
