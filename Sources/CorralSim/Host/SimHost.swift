import CorralCore

/// The simulator's `Host`: what `ContainmentLoop` hands it, the simulated machine carries out
/// after the cost model's latency (a config write, an FLR, a slot power cycle), and the outcome
/// comes back through the same loop as `LinuxHost`'s do. The loop's rules are therefore the
/// daemon's, checked here deterministically (`RuntimeTests`).
///
/// It queues; `Simulation` takes the queue after each pass of the loop and applies each action
/// to its world (devices, IOMMU models, agenda).
public struct SimHost: Host {
    private var requested: [(action: Action, at: Instant)] = []
    /// Every `n`th action that changes a device is refused as the host's own trouble (`EMFILE`)
    /// before it is carried out: the simulator's fail-nth host. Nil: never.
    public var deferEvery: Int?
    private var changing = 0
    private var events: [(Instant, DeviceEvent)] = []
    /// Actions deferred so far.
    public private(set) var deferred = 0

    public init(deferEvery: Int? = nil) {
        self.deferEvery = deferEvery
    }

    public mutating func perform(_ action: Action, at now: Instant) {
        if action.changesDevice, !action.isRecommendation, let every = deferEvery {
            changing += 1
            if changing % every == 0 {
                deferred += 1
                let failure = ActionFailure(errno: 24, message: "Too many open files (simulated)")
                events.append((now, .actionCompleted(ActionOutcome(action: action, result: .deferred(failure)))))
                return
            }
        }
        requested.append((action, now))
    }

    public mutating func takeEvents() -> [(Instant, DeviceEvent)] {
        defer { events.removeAll() }
        return events
    }

    /// The actions to carry out, oldest first.
    mutating func takeRequested() -> [(action: Action, at: Instant)] {
        defer { requested.removeAll() }
        return requested
    }
}
