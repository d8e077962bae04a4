import Testing

@testable import CorralCore

/// `corral engine-demo` tells a story; these pin the story so the README stays true.
@Suite("Built-in engine demo script")
struct EngineDemoTests {
    let run = EngineDemo.run(policy: .enforcing)

    func performed(on device: PCIAddress) -> [Action] {
        run.decisions.compactMap(\.action).filter {
            $0.target == .pci(device) && $0.changesDevice && !$0.isRecommendation
        }
    }

    @Test func runawayNICIsStoppedWithVerifiedQuiescenceThenReenabled() throws {
        let actions = performed(on: EngineDemo.nic)
        #expect(actions.first == .clearBusMaster(EngineDemo.nic))
        guard case .awaitQuiescence? = actions.dropFirst().first else {
            Issue.record("no quiescence wait: \(actions)")
            return
        }
        #expect(run.decisions.contains { $0.to == .stopped(.verified) && $0.subject == .device(.pci(EngineDemo.nic)) })
        #expect(actions.contains(.setBusMaster(EngineDemo.nic)))
        let status = try #require(run.engine.status(of: .pci(EngineDemo.nic)))
        #expect(status.containmentsInWindow == 2)
        #expect(status.suppressed == 1_990)
        #expect(status.lowerBound)
        #expect(status.state == .healthy)
    }

    @Test func bystandersAreNeverTouched() {
        #expect(performed(on: EngineDemo.gpu).isEmpty)
        #expect(performed(on: EngineDemo.sound).isEmpty)
        #expect(performed(on: EngineDemo.nvme).isEmpty)
        #expect(run.engine.status(of: .pci(EngineDemo.gpu))?.ignoredRecoverable == 5_000)
        #expect(run.engine.status(of: .pci(EngineDemo.nvme))?.ignoredAfterRemoval == 1_500)
        #expect(run.engine.status(of: .pci(EngineDemo.sound))?.totals[.dmaFault] == 3)
    }

    /// A VM's device is its owner's: told first, then only recommended for (the policy's
    /// owner-contain is empty by default).
    @Test func vfioOwnerIsToldAndTheDeviceOnlyRecommendedFor() throws {
        let actions = run.decisions.compactMap(\.action).filter { $0.target == .pci(EngineDemo.vfioNIC) }
        let notify = try #require(actions.firstIndex { if case .notifyOwner = $0 { true } else { false } })
        let stop = try #require(actions.firstIndex(of: .recommend(.clearBusMaster(EngineDemo.vfioNIC))))
        #expect(notify < stop)
        #expect(performed(on: EngineDemo.vfioNIC).isEmpty)
    }

    @Test func deterministic() {
        #expect(EngineDemo.run(policy: .enforcing).decisions == run.decisions)
    }

    @Test func recommendModeActsOnNothing() {
        var policy = Policy()
        policy.mode = .recommend
        let shadow = EngineDemo.run(policy: policy)
        #expect(shadow.decisions.compactMap(\.action).allSatisfy { !$0.changesDevice || $0.isRecommendation })
        #expect(shadow.decisions.contains { $0.action == .recommend(.clearBusMaster(EngineDemo.nic)) })
    }
}
