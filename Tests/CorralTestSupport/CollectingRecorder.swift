import CorralCore
import CorralRuntime

/// A `LoopRecorder` that keeps what it is told, for tests to read.
public final class CollectingRecorder: LoopRecorder {
    public private(set) var decisions: [Decision] = []
    public private(set) var outcomes: [(outcome: ActionOutcome, decidedAt: Instant, at: Instant)] = []

    public init() {}

    public func record(_ decision: Decision) { decisions.append(decision) }

    public func record(_ outcome: ActionOutcome, decidedAt: Instant, at: Instant) {
        outcomes.append((outcome, decidedAt, at))
    }
}
