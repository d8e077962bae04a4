import CorralCore
import CorralTestSupport
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
        let path = TemporaryPath.make("hooks") + ".sqlite"
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
        let directory = URL(fileURLWithPath: TemporaryPath.make("hook"))
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
        let (term, _) = await Self.run(["/bin/sh", "-c", "trap '' TERM; sleep 30"], timeout: .milliseconds(100))
        #expect(term == .timedOut, "a hook ignoring SIGTERM is killed a second later")
    }

    /// A hook in a folder of its own (root's, 0755), with `script` as its text.
    static func script(_ text: String) throws -> (path: String, directory: URL) {
        let directory = URL(fileURLWithPath: TemporaryPath.make("hook"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        let hook = directory.appendingPathComponent("hook").path
        FileManager.default.createFile(atPath: hook, contents: Data(("#!/bin/sh\n" + text).utf8))
        chmod(hook, 0o755)
        return (hook, directory)
    }

    /// A hook writing far more than a pipe buffer runs to its end (the runner reads as it goes);
    /// the journal keeps its first 4 KiB and says how much was dropped.
    @Test func aFloodingHookIsNotStalledAndItsOutputIsCapped() async throws {
        let (hook, directory) = try Self.script("head -c 1048576 /dev/zero | tr '\\0' x\n")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (outcome, output) = await Self.run([hook], timeout: .seconds(120))
        #expect(outcome == .succeeded)
        #expect(output.hasPrefix(String(repeating: "x", count: HookRunner.keptOutput)))
        #expect(output.hasSuffix("[\(1_048_576 - HookRunner.keptOutput) more bytes of output dropped]"))
    }

    /// A hook that leaves a background child holding its stdout ends when the hook does: the
    /// slot is free for the next one.
    @Test func aBackgroundChildHoldingStdoutDoesNotHoldTheSlot() async throws {
        let pidFile = TemporaryPath.make("bg")
        let (hook, directory) = try Self.script("sleep 300 &\necho $! > \(pidFile)\necho started\n")
        defer {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                kill(pid, SIGKILL)
            }
            try? FileManager.default.removeItem(atPath: pidFile)
            try? FileManager.default.removeItem(at: directory)
        }
        var policy = HookPolicy()
        policy.commands[.containment] = [hook]
        policy.timeout = .seconds(120)
        policy.maxConcurrent = 1
        let runner = HookRunner(policy: policy, journal: nil)
        let (outcome, output): (HookRunner.Outcome, String) = await withCheckedContinuation { continuation in
            runner.onFinish = { _, outcome, output in continuation.resume(returning: (outcome, output)) }
            _ = runner.fire(Self.containment())
        }
        #expect(outcome == .succeeded && output == "started\n")
        runner.onFinish = nil
        #expect(runner.drain(timeout: .seconds(5)))
        #expect(runner.fire(Self.containment()) == .started)
    }

    /// At its timeout the hook's whole process group ends, not just the hook: the background
    /// child here holds the write end of a FIFO the test reads, which hangs up when it dies.
    @Test func aTimeoutEndsTheHooksWholeProcessGroup() async throws {
        let fifo = TemporaryPath.make("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let (hook, directory) = try Self.script("sleep 300 > \(fifo) &\nwait\n")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (outcome, _) = await Self.run([hook], timeout: .milliseconds(300))
        #expect(outcome == .timedOut)
        var poller = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
        // Hang-up as soon as the background `sleep` is dead; 30 s only bounds a failing run.
        #expect(poll(&poller, 1, 30_000) == 1)
        #expect(poller.revents & Int16(POLLHUP) != 0)
    }

    @Test func theHookDoesNotInheritTheDaemonsIgnoredSIGPIPE() async throws {
        // The daemon ignores SIGPIPE; a hook must not (`yes | head -1` ends by SIGPIPE in `yes`).
        let (hook, directory) = try Self.script("grep SigIgn /proc/self/status\n")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (outcome, output) = await Self.run([hook])
        #expect(outcome == .succeeded)
        let mask = UInt64(
            output.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16)
        #expect(mask.map { $0 & (1 << (UInt64(SIGPIPE) - 1)) == 0 } == true, "SigIgn: \(output)")
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
