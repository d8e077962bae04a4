import CorralCore
import CorralRuntime

/// The journal side of `ContainmentLoop`: each decision and each action's outcome into the
/// journal writer as the loop makes or receives it. The daemon wraps it with its hooks and log;
/// `corral simulate --journal` uses it as it is, so a simulated run journals what a live one
/// does (decisions, actions with their outcomes).
public final class JournalRecorder: LoopRecorder {
    public var writer: JournalWriter

    public init(writer: JournalWriter) { self.writer = writer }

    public func record(_ decision: Decision) { writer.record(decision) }

    public func record(_ outcome: ActionOutcome, decidedAt: Instant, at: Instant) {
        writer.record(outcome, decidedAt: decidedAt, at: at)
    }
}
