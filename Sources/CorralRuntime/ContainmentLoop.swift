import CorralCore

/// The rules of Corral's loop, in one place for the daemon and the simulator: an event goes to
/// the engine, each decision is carried out by the host at once, and the host's outcomes go
/// back to the engine before the next event.
///
/// Why it matters (docs/engine.md, docs/safety.md):
/// - a rung's deadlines count from when its action was carried out (the outcome's time), not
///   from when it was decided;
/// - the events of one batch that happened before a step was carried out are no evidence
///   against it (`Engine` keeps `evidenceSince`), so one pass never climbs the ladder on stale
///   evidence;
/// - events from before `Engine.liveFrom` are history: counted and journaled, never acted on.
///
/// `LinuxHost` (CorralLinux's `Watcher`) and `SimHost` (CorralSim's `Simulation`) are driven
/// by this same code; `RuntimeTests` check its rules in simulation, deterministically. Each
/// decision and outcome goes to the `recorder` (the journal, hooks) as it happens.
public struct ContainmentLoop<H: Host> {
    public var engine: Engine
    public var host: H
    /// Told every decision and outcome as it happens (nil: nobody writes them down).
    public var recorder: (any LoopRecorder)?
    /// The latest decisions, in order (memory keeps the last 10,000; the journal has them all).
    public private(set) var decisions = RecentHistory<Decision>(capacity: 10_000)
    /// When each action being carried out was decided, until its outcome comes back.
    private var decidedAt: [Action: Instant] = [:]

    public init(engine: Engine, host: H) {
        self.engine = engine
        self.host = host
    }

    /// One event through the engine at `time` (when it happened), its decisions carried out at
    /// `now` (when the loop handles it). Returns every decision made, outcomes' included.
    @discardableResult
    public mutating func feed(_ event: DeviceEvent, at time: Instant, now: Instant) -> [Decision] {
        // A host that reports outcomes as events of their own (the simulator's, after an
        // action's latency) has them recorded like outcomes polled from the host.
        noteOutcome(event, at: time)
        var made = engine.handle(event, at: time)
        guard !made.isEmpty else { return [] }
        act(on: &made, at: now)
        return made
    }

    /// Fires the engine's timers due by `now` and carries out what they decide.
    @discardableResult
    public mutating func advance(to now: Instant) -> [Decision] {
        var due = engine.advance(to: now)
        host.poll(at: now)
        due += handleHostEvents()
        act(on: &due, at: now)
        return due
    }

    /// Carries out `decisions` at `now`, feeding the host's outcomes back and appending (and
    /// carrying out) what the engine decides on them. Bounded: an engine and host that kept
    /// answering each other could not spin forever.
    mutating func act(on decisions: inout [Decision], at now: Instant) {
        var index = 0
        var rounds = 0
        while index < decisions.count, rounds < 1000 {
            let decision = decisions[index]
            index += 1
            recorder?.record(decision)
            if let action = decision.action {
                if action.changesDevice && !action.isRecommendation {
                    // Bounded: an outcome that never comes back must not grow it for months.
                    if decidedAt.count >= 10_000 { decidedAt.removeAll() }
                    decidedAt[action] = decision.at
                }
                host.perform(action, at: now)
            }
            host.poll(at: now)
            let answers = handleHostEvents()
            rounds += answers.isEmpty ? 0 : 1
            decisions += answers
        }
        self.decisions.append(contentsOf: decisions)
    }

    /// An action's outcome to the recorder, with when the action was decided.
    mutating func noteOutcome(_ event: DeviceEvent, at: Instant) {
        guard case .actionCompleted(let outcome) = event else { return }
        let decided = decidedAt.removeValue(forKey: outcome.action) ?? at
        recorder?.record(outcome, decidedAt: decided, at: at)
    }

    /// What the host reported (outcomes, observations), through the engine.
    mutating func handleHostEvents() -> [Decision] {
        var made: [Decision] = []
        for (at, event) in host.takeEvents() {
            noteOutcome(event, at: at)
            made += engine.handle(event, at: at)
        }
        return made
    }
}
