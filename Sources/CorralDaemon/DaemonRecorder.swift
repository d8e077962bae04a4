import CorralCore
import CorralRuntime
import CorralServe
import CorralStore
import Logging

/// What the daemon does with each decision and outcome as the loop makes or receives it: the
/// journal row, the hook it calls for, a log line; an outcome's row, and (after the pass, when
/// the kernel's clock offset is known) how long after the event that decided it the action was
/// carried out.
final class DaemonRecorder: LoopRecorder {
    let journal: JournalRecorder
    var hooks: HookRunner
    let logger: Logger
    /// Actions carried out during the current pass, with when they were decided and done.
    var carriedOut: [(action: Action, decidedAt: Instant, at: Instant)] = []
    /// `watch --json`: each decision as `history --json` will print it, as it is made.
    var onDecision: ((Journal.DecisionEntry) -> Void)?
    /// UTC minus the loop's clock for the current pass (`Daemon.step`), for `at_utc`.
    var clockOffset: Int64?

    init(journal: JournalRecorder, hooks: HookRunner, logger: Logger) {
        self.journal = journal
        self.hooks = hooks
        self.logger = logger
    }

    func record(_ decision: Decision) {
        journal.record(decision)
        hooks.fire(decision)
        if let onDecision {
            onDecision(
                Journal.DecisionEntry(
                    decision, run: journal.writer.run, atUTC: clockOffset.map { decision.at.nanoseconds &+ $0 },
                    clock: .host))
        }
        if let action = decision.action {
            logger.log(level: action.isRecommendation ? .notice : .warning, "\(decision.reason)")
        }
    }

    /// Each action's outcome (done, failed with its errno, unsupported, deferred) into its
    /// journal row.
    func record(_ outcome: ActionOutcome, decidedAt: Instant, at: Instant) {
        journal.record(outcome, decidedAt: decidedAt, at: at)
        if outcome.succeeded { carriedOut.append((outcome.action, decidedAt, at)) }
    }
}
