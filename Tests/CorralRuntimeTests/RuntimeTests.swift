import CorralCore
import CorralRuntime
import CorralSim
import CorralTestSupport
import Testing

/// The loop's rules — the daemon's (`Watcher`) and the simulator's are one `ContainmentLoop` —
/// checked once, deterministically, in simulation: live against history evidence, one rung per
/// pass, deadlines from when an action was carried out, outcomes (including the host's own
/// failures) back through the loop.
@Suite struct RuntimeTests {
    static let nic = DeviceAddress.pci(PCIAddress(bus: 3, device: 0, function: 0)!)

    static func storm(duration: Duration? = nil, obeysBusMaster: Bool = true, runFor: Duration = .seconds(2))
        -> Scenario
    {
        var scenario = BuiltinScenarios.named("vtd-stray-dma-storm")!
        scenario.devices[0].behaviours = [
            Behaviour(
                .strayDMA, start: .milliseconds(100), rate: 500_000, duration: duration, obeysBusMaster: obeysBusMaster)
        ]
        scenario.duration = runFor
        return scenario
    }

    static func run(_ scenario: Scenario, host: SimHost = SimHost()) -> SimResult {
        var simulation = Simulation(scenario: scenario, policy: .corral(Policy()), seed: 7, host: host)
        return simulation.run()
    }

    static func actions(_ result: SimResult) -> [(at: Instant, action: Action)] {
        result.decisions.compactMap { decision in
            decision.action.flatMap { $0.changesDevice && !$0.isRecommendation ? (decision.at, $0) : nil }
        }
    }

    /// The loop tells its recorder (the journal, in the daemon and in `simulate --journal`)
    /// every decision as it is made and every outcome as it comes back, with when its action
    /// was decided.
    @Test func theRecorderHearsEveryDecisionAndOutcome() throws {
        var simulation = Simulation(scenario: Self.storm(), policy: .corral(Policy()), seed: 7)
        let recorder = CollectingRecorder()
        simulation.recorder = recorder
        let result = simulation.run()
        #expect(recorder.decisions == result.decisions)
        let first = try #require(Self.actions(result).first)
        let stop = try #require(recorder.outcomes.first { $0.outcome.action == first.action })
        #expect(stop.outcome.succeeded)
        let decided = try #require(result.decisions.first { $0.action == stop.outcome.action })
        #expect(stop.decidedAt == decided.at && stop.at > decided.at, "carried out after its latency")
    }

    /// A storm that ended before the daemon started is history: counted, never acted on.
    @Test func aBacklogIsHistory() {
        var scenario = Self.storm(duration: .milliseconds(200))
        scenario.daemonStart = .seconds(1)
        let result = Self.run(scenario)
        #expect(Self.actions(result).isEmpty, "\(Self.actions(result))")
        #expect((result.engineStatistics?.historyEvents ?? 0) > 1_000)
        #expect(result.timeline.contains { $0.text.hasPrefix("corral starts; it reads") })
    }

    /// A storm still going when the daemon starts is contained on live evidence only: the first
    /// action comes after the start, and only once live events alone cross the threshold.
    @Test func aLiveStormIsContainedOnLiveEvidence() throws {
        var scenario = Self.storm()
        scenario.daemonStart = .seconds(1)
        let result = Self.run(scenario)
        let first = try #require(Self.actions(result).first)
        #expect(first.at > .zero + .seconds(1))
        let reason = try #require(result.decisions.first { $0.action == first.action }?.reason)
        #expect(reason.contains("events in"), "\(reason)")
        #expect(result.finalStates.first { $0.address == Self.nic }?.state.isContained == true)
    }

    /// After a stall, the loop reads a late batch of live events: it acts on them, but the
    /// events that happened before its step was carried out are no evidence against the step —
    /// one pass never climbs two rungs.
    @Test func oneRungPerPassAfterAStall() throws {
        var scenario = Self.storm(runFor: .milliseconds(1_200))
        scenario.daemonStalls = [(at: .milliseconds(50), duration: .milliseconds(400))]
        let result = Self.run(scenario)
        let readAt = Instant.zero + .milliseconds(450)
        // Decisions carry the time of the event that made them: all of this pass's are earlier.
        let inThatPass = Self.actions(result).filter { $0.at < readAt }
        #expect(inThatPass.count == 1, "\(inThatPass)")
        // Its hold counts from when it was carried out (the read), not from the event.
        let holdEnd = try #require(result.decisions.first { $0.reason.contains("silence hold of 500ms ended") })
        #expect(holdEnd.at >= readAt + .milliseconds(500), "\(holdEnd.at)")
    }

    /// A rung's deadlines count from when its action was carried out: probation after an FLR
    /// starts when the reset completed (the cost model's 100 ms later), not when it was decided.
    @Test func deadlinesCountFromWhenAnActionWasCarriedOut() throws {
        let scenario = BuiltinScenarios.named("broken-busmaster")!
        let result = Self.run(scenario)
        let reset = try #require(result.decisions.first { if case .reset? = $0.action { true } else { false } })
        let probation = try #require(result.decisions.first { $0.reason.contains("flr reset completed") })
        #expect(probation.at - reset.at == CostModel().functionReset)
        #expect(probation.to == .probation(until: probation.at + Policy().probation.period))
    }

    /// The host's own trouble (every 2nd action refused with EMFILE): each step is tried again
    /// and carried out; the ladder climbed is the same as without the trouble.
    @Test func deferredActionsAreRetriedNotEscalated() throws {
        let scenario = BuiltinScenarios.named("broken-busmaster")!
        let clean = Self.run(scenario)
        let troubled = Self.run(scenario, host: SimHost(deferEvery: 2))
        func distinct(_ result: SimResult) -> [String] {
            var out: [String] = []
            for (_, action) in Self.actions(result) where out.last != action.kind { out.append(action.kind) }
            return out
        }
        #expect(distinct(troubled) == distinct(clean), "\(distinct(troubled)) vs \(distinct(clean))")
        #expect((troubled.engineStatistics?.deferredActions ?? 0) > 0)
        #expect(troubled.decisions.contains { $0.reason.contains("trying") && $0.reason.contains("again") })
        #expect(
            troubled.finalStates.first { $0.address == Self.nic }?.state.name
                == clean.finalStates.first { $0.address == Self.nic }?.state.name)
    }
}
