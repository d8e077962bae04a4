import CorralCore
import Foundation
import Testing

@testable import CorralServe
@testable import CorralStore

@Suite struct HookTests {
    static let nic = PCIAddress(bus: 3, device: 0, function: 0)!

    static func containment() -> Decision {
        Decision(
            at: .milliseconds(2), subject: .device(.pci(nic)), action: .clearBusMaster(nic), from: .elevated,
            to: .stopped(.stopping(deadline: .seconds(1))), reason: "1,002 dma-fault events in 2ms")
    }

    /// Runs `argv` as the containment hook and waits for it to end (no sleeping: the runner calls back).
    static func run(
        _ argv: [String], timeout: Duration = .seconds(10), journal: Journal? = nil
    ) async -> (HookRunner.Outcome, String) {
        var policy = HookPolicy()
        policy.commands[.containment] = argv
        policy.timeout = timeout
        let runner = HookRunner(policy: policy, journal: journal)
        return await withCheckedContinuation { continuation in
            runner.onFinish = { _, outcome, output in continuation.resume(returning: (outcome, output)) }
            _ = runner.fire(containment())
        }
    }

    @Test func triggersFromDecisions() {
        #expect(HookPolicy.trigger(for: Self.containment()) == .containment)
        let reenable = Decision(
            at: .zero, subject: .device(.pci(Self.nic)), from: .stopped(.verified), to: .probation(until: .seconds(60)),
            reason: "")
        #expect(HookPolicy.trigger(for: reenable) == .reenable)
        let retire = Decision(
            at: .zero, subject: .device(.pci(Self.nic)), from: .probation(until: .zero), to: .retired, reason: "")
        #expect(HookPolicy.trigger(for: retire) == .retirement)
        let report = Decision(at: .zero, subject: .device(.pci(Self.nic)), from: .healthy, to: .elevated, reason: "")
        #expect(HookPolicy.trigger(for: report) == nil)
    }

    @Test func eventOnStdinAndInTheEnvironment() async throws {
        let (outcome, output) = await Self.run(["/bin/cat"])
        #expect(outcome == .succeeded)
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        #expect(object?["event"] as? String == "on-containment" && object?["subject"] as? String == "0000:03:00.0")
        #expect(object?["action"] as? String == "clear-bus-master" && object?["state"] as? String == "stopped")
        let (_, subject) = await Self.run(["/usr/bin/printenv", "CORRAL_SUBJECT"])
        #expect(subject == "0000:03:00.0\n")
    }

    @Test func failuresAreJournaledNotThrown() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "corral-hooks-\(UUID().uuidString).sqlite"
        ).path
        let journal = try Journal(path: path)
        let (failed, _) = await Self.run(["/bin/false"], journal: journal)
        #expect(failed == .failed(status: 1))
        let (missing, _) = await Self.run(["/nonexistent/notify"], journal: journal)
        if case .couldNotStart = missing {} else { Issue.record("expected couldNotStart, got \(missing)") }
        let runs = try journal.hookRuns()
        #expect(runs.map(\.outcome).first == "failed (exit 1)" && runs.count == 2)
    }

    /// Hooks run as root: a program anyone else could change is refused, and the refusal is
    /// journaled like any other outcome.
    @Test func hookWritableByOthersIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "corral-hook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let hook = directory.appendingPathComponent("notify").path
        FileManager.default.createFile(
            atPath: hook, contents: Data("#!/bin/sh\ntrue\n".utf8), attributes: [.posixPermissions: 0o777])
        chmod(hook, 0o777)
        let (outcome, _) = await Self.run([hook])
        #expect(
            outcome
                == .couldNotStart(
                    "refused: \(hook) is writable by group or others (others); hooks run as root, so only root may be able to change them"
                ))
        // Through its directory: the program is fine, the folder above it is not.
        chmod(hook, 0o755)
        chmod(directory.path, 0o777)
        let (through, _) = await Self.run([hook])
        #expect(
            through
                == .couldNotStart(
                    "refused: \(directory.path) is writable by group or others (others); hooks run as root, so only root may be able to change them"
                ))
        chmod(directory.path, 0o755)
        let (fine, _) = await Self.run([hook])
        #expect(fine == .succeeded, "a root-owned hook in a sticky /tmp is trusted")
    }

    @Test func stuckHookIsKilledAtItsTimeout() async {
        let (outcome, _) = await Self.run(["/bin/sleep", "30"], timeout: .milliseconds(100))
        #expect(outcome == .timedOut)
    }

    @Test func concurrencyCapSkipsInsteadOfQueueing() {
        var policy = HookPolicy()
        policy.commands[.containment] = ["/bin/sleep", "30"]
        policy.timeout = .milliseconds(200)
        policy.maxConcurrent = 1
        let runner = HookRunner(policy: policy, journal: nil)
        #expect(runner.fire(Self.containment()) == .started)
        #expect(runner.fire(Self.containment()) == .skipped("1 hooks already running"))
    }
}
