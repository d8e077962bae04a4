import CorralCore

/// Where a loop's run is written down as it happens: every decision when it is made, every
/// action's outcome when the host reports it (with when the action was decided, which the
/// journal keys it by). The daemon's recorder journals, fires hooks and logs; `corral
/// simulate --journal` journals through the same journal recorder, so a simulated run leaves
/// the rows a live one does.
///
/// A class, shared by reference: the loop calls it in the middle of a pass, while its owner
/// keeps writing the rest of the pass (cursors, states) to the same place.
public protocol LoopRecorder: AnyObject {
    func record(_ decision: Decision)
    func record(_ outcome: ActionOutcome, decidedAt: Instant, at: Instant)
}
