import CorralCore
import CorralStore
import Foundation

/// Runs the policy's hook programs when a decision contains, re-enables or retires a device.
///
/// Never blocks the engine: `fire` starts the program and returns. No shell: argv is executed
/// as given (an absolute path). The event goes on stdin as JSON and in `CORRAL_*` variables.
/// A program still running after `timeout` is terminated, then killed. Beyond `maxConcurrent`
/// running hooks, a new one is skipped (and journaled as skipped) instead of queued behind a
/// stuck one. Every run's outcome and the start of its output are journaled.
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

    /// The event a hook receives on stdin.
    public static func json(_ trigger: HookPolicy.Trigger, _ decision: Decision) -> String {
        func quote(_ text: String) -> String {
            "\""
                + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\""
        }
        var fields = [
            "\"event\": \(quote(trigger.rawValue))", "\"subject\": \(quote(decision.subject.description))",
            "\"at_ns\": \(decision.at.nanoseconds)", "\"reason\": \(quote(decision.reason))",
        ]
        if let action = decision.action { fields.append("\"action\": \(quote(action.kind))") }
        if let to = decision.to { fields.append("\"state\": \(quote(to.name))") }
        return "{" + fields.joined(separator: ", ") + "}\n"
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

        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        environment["CORRAL_EVENT"] = trigger.rawValue
        environment["CORRAL_SUBJECT"] = decision.subject.description
        environment["CORRAL_STATE"] = decision.to?.name ?? ""
        environment["CORRAL_ACTION"] = decision.action?.kind ?? ""
        environment["CORRAL_REASON"] = decision.reason
        environment["CORRAL_AT_NS"] = String(decision.at.nanoseconds)
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        let state = HookState()
        process.terminationHandler = { [weak self] finished in
            let data = output.fileHandleForReading.readDataToEndOfFile()
            let text = String(decoding: data.prefix(1024), as: UTF8.self)
            let outcome: Outcome =
                state.timedOut
                ? .timedOut : finished.terminationStatus == 0 ? .succeeded : .failed(status: finished.terminationStatus)
            // Journaled before it counts as ended: `drain` then finds its outcome written.
            self?.finish(trigger, decision, argv, outcome, output: text)
            self?.ended()
        }
        do {
            try process.run()
        } catch {
            ended()
            let outcome = Outcome.couldNotStart(error.localizedDescription)
            finish(trigger, decision, argv, outcome, output: "")
            return outcome
        }
        try? input.fileHandleForWriting.write(contentsOf: Data(Self.json(trigger, decision).utf8))
        try? input.fileHandleForWriting.close()
        let pid = process.processIdentifier
        let timeout = Double(policy.timeout.nanosecondsClamped) / 1e9
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            guard process.isRunning else { return }
            state.timedOut = true
            process.terminate()
            DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
                if process.isRunning { kill(pid, SIGKILL) }
            }
        }
        return .started
    }

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

/// Whether the timeout fired, shared between the timer and the termination handler.
final class HookState: @unchecked Sendable {
    var timedOut = false
}
