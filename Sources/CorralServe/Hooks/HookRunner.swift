import CorralCore
import CorralStore
import Foundation

/// Runs the policy's hook programs when a decision contains, re-enables or retires a device.
///
/// Never blocks the engine: `fire` starts the program and returns. No shell: argv is executed
/// as given (an absolute path). The event goes on stdin as JSON and in `CORRAL_*` variables.
/// A program still running after `timeout` is terminated with its whole process group, then
/// killed (`HookProcess`). Beyond `maxConcurrent` running hooks, a new one is skipped (and
/// journaled as skipped) instead of queued behind a stuck one. Every run's outcome and the
/// first 4 KiB of its output are journaled.
public final class HookRunner: @unchecked Sendable {
    public enum Outcome: Hashable, Sendable {
        /// The program was started (what `fire` returns; the end is reported to `onFinish`).
        case started
        case succeeded
        case failed(status: Int32)
        case timedOut
        case couldNotStart(String)
        case skipped(String)

        public var text: String {
            switch self {
            case .started: "started"
            case .succeeded: "succeeded"
            case .failed(let status): "failed (exit \(status))"
            case .timedOut: "timed out"
            case .couldNotStart(let why): "could not start: \(why)"
            case .skipped(let why): "skipped: \(why)"
            }
        }
    }

    let policy: HookPolicy
    let journal: Journal?
    let lock = NSLock()
    var running = 0
    /// Called after each hook ends (tests, logs).
    public var onFinish: (@Sendable (HookPolicy.Trigger, Outcome, String) -> Void)?

    public init(policy: HookPolicy, journal: Journal?) {
        self.policy = policy
        self.journal = journal
        // A hook that exits without reading its stdin must not take the daemon down with SIGPIPE:
        // the write then fails with EPIPE, which is ignored below.
        signal(SIGPIPE, SIG_IGN)
    }

    /// The event a hook receives on stdin: one JSON object and a newline.
    public struct Event: Codable, Hashable, Sendable {
        public var event: String
        public var subject: String
        public var atNS: Int64
        public var reason: String
        public var action: String?
        public var state: String?

        enum CodingKeys: String, CodingKey {
            case event, subject, reason, action, state
            case atNS = "at_ns"
        }
    }

    public static func json(_ trigger: HookPolicy.Trigger, _ decision: Decision) -> String {
        let event = Event(
            event: trigger.rawValue, subject: decision.subject.description, atNS: decision.at.nanoseconds,
            reason: decision.reason, action: decision.action?.kind, state: decision.to?.name)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    /// Starts the hook `decision` calls for, if any; returns what it started (or why not).
    @discardableResult
    public func fire(_ decision: Decision) -> Outcome? {
        guard let trigger = HookPolicy.trigger(for: decision), let argv = policy.commands[trigger], !argv.isEmpty else {
            return nil
        }
        // Run as root: refused if anyone but root could have changed the program.
        if let problem = FileTrust.problem(argv[0]) {
            let outcome = Outcome.couldNotStart(
                "refused: \(problem); hooks run as root, so only root may be able to change them")
            finish(trigger, decision, argv, outcome, output: "")
            return outcome
        }
        lock.lock()
        guard running < policy.maxConcurrent else {
            lock.unlock()
            let outcome = Outcome.skipped("\(policy.maxConcurrent) hooks already running")
            finish(trigger, decision, argv, outcome, output: "")
            return outcome
        }
        running += 1
        lock.unlock()

        var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        environment["CORRAL_EVENT"] = trigger.rawValue
        environment["CORRAL_SUBJECT"] = decision.subject.description
        environment["CORRAL_STATE"] = decision.to?.name ?? ""
        environment["CORRAL_ACTION"] = decision.action?.kind ?? ""
        environment["CORRAL_REASON"] = decision.reason
        environment["CORRAL_AT_NS"] = String(decision.at.nanoseconds)
        let process: HookProcess
        do {
            process = try HookProcess(
                argv: argv, environment: environment, input: Array(Self.json(trigger, decision).utf8))
        } catch {
            ended()
            let outcome = Outcome.couldNotStart(error.description)
            finish(trigger, decision, argv, outcome, output: "")
            return outcome
        }
        // One thread per running hook (at most `maxConcurrent`): it reads the output as it comes
        // and ends the hook's process group at the timeout.
        let timeout = policy.timeout
        let thread = Thread { [self] in
            let result = process.wait(timeout: timeout, keep: Self.keptOutput)
            let outcome: Outcome =
                switch result.end {
                case .timedOut: .timedOut
                case .exited(0): .succeeded
                case .exited(let status): .failed(status: status)
                case .signalled(let signal): .failed(status: 128 + signal)
                }
            var text = String(decoding: result.output, as: UTF8.self)
            if result.dropped > 0 { text += "\n[\(result.dropped) more bytes of output dropped]" }
            // Journaled before it counts as ended: `drain` then finds its outcome written.
            finish(trigger, decision, argv, outcome, output: text)
            ended()
        }
        thread.name = "corral-hook"
        thread.start()
        return .started
    }

    /// How much of a hook's output the journal keeps.
    public static let keptOutput = 4096

    func ended() {
        lock.lock()
        running -= 1
        lock.unlock()
        drained.lock()
        drained.broadcast()
        drained.unlock()
    }

    let drained = NSCondition()

    /// Waits (at most `timeout`) for the running hooks to end: the daemon calls it before it
    /// exits, so that a hook started by its last decisions (`--once`) is not orphaned.
    /// Returns whether none is left running.
    @discardableResult
    public func drain(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.nanosecondsClamped) / 1e9)
        drained.lock()
        defer { drained.unlock() }
        while true {
            lock.lock()
            let left = running
            lock.unlock()
            if left == 0 { return true }
            if !drained.wait(until: deadline) { return false }
        }
    }

    func finish(
        _ trigger: HookPolicy.Trigger, _ decision: Decision, _ argv: [String], _ outcome: Outcome, output: String
    ) {
        journal?.noteHookRun(
            trigger: trigger.rawValue, device: decision.subject.description, program: argv.joined(separator: " "),
            outcome: outcome.text, output: output, atUTC: Int64(Date().timeIntervalSince1970 * 1e9))
        onFinish?(trigger, outcome, output)
    }
}
