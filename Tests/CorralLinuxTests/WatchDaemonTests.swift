import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux
@testable import CorralStore

/// `corral watch` as a process on a fake root: `--once` acts and journals its place; a second
/// `--once` resumes without acting again; SIGTERM stops it cleanly with the journal intact.
@Suite(.timeLimit(.minutes(1))) struct WatchDaemonTests {
    static var corral: URL? {
        [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        .map { $0.appendingPathComponent("corral") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// The boot clock now, in seconds: kmsg timestamps after it are live for a daemon started now.
    static var bootClockSeconds: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// `live`: the storm is timestamped after the daemon's start (an hour from now; the
    /// daemon takes a timestamp from the future as now). Otherwise 10 s after boot: history.
    static func machine(withStorm: Bool, live: Bool = true) -> FakeSysfs {
        let fake = FakeSysfs.machine()
        fake.file("/proc/sys/kernel/random/boot_id", "4c4f0e66-7c36-4a84-9fd0-7a3d8a1f2b10")
        let start = live ? bootClockSeconds + 3600 : 10
        let records = withStorm ? WatcherTests.storm(count: 2_000, start: start) : []
        fake.file("/dev/kmsg", records.joined(separator: "\n") + (records.isEmpty ? "" : "\n"))
        return fake
    }

    static func launch(_ arguments: [String], environment: [String: String]? = nil) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = try #require(corral)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    /// Started as systemd starts a `Type=notify` service with `WatchdogSec=`: it reports ready
    /// once it watches, pings the watchdog from its loop, and says it is stopping.
    @Test func underSystemdItReportsReadyPingsTheWatchdogAndStops() throws {
        let fake = Self.machine(withStorm: false)
        let socket = try NotifySocket()
        let (process, log) = try Self.launch(
            ["watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--once"],
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "10000000"])
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let messages = socket.drain()
        #expect(messages.count == 3, "\(messages)")
        #expect(messages.first?.hasPrefix("READY=1\nSTATUS=watching in recommend mode") == true, "\(messages)")
        #expect(Array(messages.dropFirst()) == ["WATCHDOG=1", "STOPPING=1"])
    }

    /// A metrics port someone else holds is logged in words and the daemon watches without the
    /// endpoint: containment never waits on metrics (issue 17).
    @Test func aBusyMetricsPortDoesNotStopTheDaemon() throws {
        let fake = Self.machine(withStorm: false)
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(holder, $0, length) == 0 && listen(holder, 1) == 0 && getsockname(holder, $0, &length) == 0
            }
        }
        #expect(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let (process, log) = try Self.launch([
            "watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--once", "--port", "\(port)",
        ])
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("no status endpoint: 127.0.0.1:\(port) is already in use"), "\(text)")
        #expect(text.contains("watching") || text.contains("stopped"), "\(text)")
    }

    /// `watch` and `serve` share `--port` (issue 17); the old `--metrics-port` still works (a unit
    /// file written for an older Corral) but cannot be given beside a different `--port`.
    @Test func theOldPortFlagStillWorksAndCannotContradictTheNewOne() throws {
        let fake = Self.machine(withStorm: false)
        let (old, oldLog) = try Self.launch([
            "watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--once", "--metrics-port", "0",
        ])
        let oldText = String(decoding: oldLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        old.waitUntilExit()
        #expect(old.terminationStatus == 0, "\(oldText)")
        let (both, bothLog) = try Self.launch([
            "watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--once", "--metrics-port", "9465",
            "--port", "9464",
        ])
        let bothText = String(decoding: bothLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        both.waitUntilExit()
        #expect(both.terminationStatus == 64 && bothText.contains("old name of --port"), "\(bothText)")
    }

    /// Without `--config`, `/etc/corral/corral.yaml` (under the root) is the policy.
    @Test func theDefaultConfigIsReadWhenPresent() throws {
        let fake = Self.machine(withStorm: false)
        fake.file("/etc/corral/corral.yaml", "mode: observe\n")
        let (process, log) = try Self.launch([
            "watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--once",
        ])
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(
            text.contains("in observe mode") && text.contains("config \(fake.root)/etc/corral/corral.yaml"), "\(text)")
    }

    @Test func onceActsJournalsAndResumesWithoutActingTwice() throws {
        let fake = Self.machine(withStorm: true)
        let journal = fake.root + "/journal.sqlite"
        let arguments = ["watch", "--root", fake.root, "--journal", journal, "--mode", "enforce", "--once"]
        let (first, firstLog) = try Self.launch(arguments)
        let firstText = String(decoding: firstLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0, "\(firstText)")
        #expect(firstText.contains("did clear bus master of 0000:03:00.0"))
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0)
        let store = try Journal(path: journal, create: false)
        #expect(try store.cursor(source: "kmsg")?.sequence == 2_000)
        #expect(try store.episodes(device: "0000:03:00.0").first?.count == 2_000)
        // Each action carried out has its outcome in its row.
        let actions = try store.actions()
        #expect(
            actions.contains { $0.action == "clear bus master of 0000:03:00.0" && $0.outcome == "done" }, "\(actions)")
        // The driver re-enables bus mastering; a second pass over the same kmsg must not undo it.
        var config = fake.sysRoot.readBytes("/sys/bus/pci/devices/0000:03:00.0/config", limit: 4096) ?? []
        config[4] |= 0x4
        fake.bytes("/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/config", config)
        let (second, secondLog) = try Self.launch(arguments)
        let secondText = String(decoding: secondLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        #expect(secondText.contains("resuming after kmsg #2000") && !secondText.contains("did "))
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
    }

    /// Finding 1 of "do no harm", as a user meets it: the daemon started in enforce mode with
    /// `--once` on a machine whose ring buffer still holds a storm from 10 s after boot.
    @Test func onceOnABacklogJournalsHistoryAndWritesNothing() throws {
        let fake = Self.machine(withStorm: true, live: false)
        let journal = fake.root + "/journal.sqlite"
        let (process, log) = try Self.launch([
            "watch", "--root", fake.root, "--journal", journal, "--mode", "enforce", "--once",
        ])
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(!text.contains("did ") && !text.contains("would "), "\(text)")
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
        let store = try Journal(path: journal, create: false)
        #expect(try store.episodes(device: "0000:03:00.0").first?.count == 2_000, "counted")
        #expect(try store.decisions().contains { $0.reason.contains("history: logged before corral started") })
        // The daemon's counts about itself reach the journal (and so /metrics).
        let counters = try store.metricsSnapshot().counters
        #expect(counters[.historyEvents] == 2_000 && counters[.kmsgRecordsLost] == 0, "\(counters)")
    }

    /// kmsg sequence numbers are u64: one above Int64.max used to trap on every start.
    @Test func sequenceAboveInt64MaxResumes() throws {
        let fake = Self.machine(withStorm: false)
        let big: UInt64 = UInt64(Int64.max) + 5
        fake.file(
            "/dev/kmsg",
            "6,\(big),1000000,-;nvme nvme0: pci function 0000:07:00.0\n6,\(big + 1),1000001,-;nvme nvme0: ready\n")
        let journal = fake.root + "/journal.sqlite"
        let arguments = ["watch", "--root", fake.root, "--journal", journal, "--once"]
        let (first, firstLog) = try Self.launch(arguments)
        let firstText = String(decoding: firstLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        first.waitUntilExit()
        #expect(first.terminationReason == .exit && first.terminationStatus == 0, "\(firstText)")
        let (second, secondLog) = try Self.launch(arguments)
        let secondText = String(decoding: secondLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        #expect(
            second.terminationStatus == 0 && secondText.contains("resuming after kmsg #\(big + 1)"), "\(secondText)")
    }

    @Test func sigtermStopsCleanlyWithTheJournalIntact() throws {
        let fake = Self.machine(withStorm: true)
        let journal = fake.root + "/journal.sqlite"
        let (process, errors) = try Self.launch([
            "watch", "--root", fake.root, "--journal", journal, "--mode", "recommend",
        ])
        // Wait for it to say it is watching (a blocking read on its stderr, no sleeping).
        var seen = ""
        while !seen.contains("watching") {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(seen.contains("watching"))
        kill(process.processIdentifier, SIGTERM)
        let rest = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(seen)\(rest)")
        #expect(rest.contains("stopped:") && rest.contains("journal flushed"))
        let store = try Journal(path: journal, create: false)
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.episodes(device: "0000:03:00.0").first?.count == 2_000)
    }

    @Test func configWritableByOthersIsRefused() throws {
        let fake = Self.machine(withStorm: false)
        let config = fake.root + "/corral.yaml"
        FileManager.default.createFile(atPath: config, contents: Data("mode: enforce\n".utf8))
        chmod(config, 0o666)
        let (process, errors) = try Self.launch([
            "watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--config", config, "--once",
        ])
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1 && text.contains("writable by group or others"))
    }
}

/// Do no harm, finding 6, as a user meets it: a VM's device (bound to vfio-pci) storms under
/// `corral watch --mode enforce`; its owner hook gets the event as JSON, nothing is written.
@Suite(.timeLimit(.minutes(1))) struct OwnerDaemonTests {
    @Test func vmDeviceStormFiresTheOwnerHookAndWritesNothing() throws {
        let fake = WatchDaemonTests.machine(withStorm: false)
        // The NIC at 03:00.0 is passed through to a guest.
        try FileManager.default.removeItem(
            atPath: fake.root + "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/driver")
        fake.file("/sys/bus/pci/drivers/vfio-pci/unbind", "")
        fake.link("/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/driver", to: "/sys/bus/pci/drivers/vfio-pci")
        let start = WatchDaemonTests.bootClockSeconds + 3600
        let records = WatcherTests.storm(count: 3_000, start: start)
        fake.file("/dev/kmsg", records.joined(separator: "\n") + "\n")
        let received = fake.root + "/owner-event.json"
        let hook = fake.root + "/owner-hook"
        FileManager.default.createFile(
            atPath: hook, contents: Data("#!/bin/sh\ncat > \(received)\n".utf8), attributes: [.posixPermissions: 0o755])
        let config = fake.root + "/corral.yaml"
        FileManager.default.createFile(
            atPath: config, contents: Data("mode: enforce\nhooks:\n  on-owner: [\(hook)]\n".utf8),
            attributes: [.posixPermissions: 0o644])
        let (process, log) = try WatchDaemonTests.launch([
            "watch", "--root", fake.root, "--journal", fake.root + "/j.sqlite", "--config", config, "--once",
        ])
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(!text.contains("did "), "\(text)")
        #expect(WatcherTests.command(fake, "0000:03:00.0").map { $0 & 0x4 } == 0x4)
        let event =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: received)))
            as? [String: Any]
        #expect(
            event?["event"] as? String == "on-owner" && event?["subject"] as? String == "0000:03:00.0",
            "\(event ?? [:])")
    }
}
