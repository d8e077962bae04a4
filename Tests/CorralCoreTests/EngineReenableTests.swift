import Testing

@testable import CorralCore

@Suite("Engine: re-enable triggers, relapse, retirement, release")
struct EngineReenableTests {
    let nic = Fixtures.nic

    /// A device with no silencing: the first rung is clear bus master (verifiable).
    func stoppedHarness(serial: String? = nil, children: [DeviceAddress] = []) -> EngineHarness {
        var profile = Fixtures.capable(nic, serial: serial)
        profile.faultSilencing = false
        profile.children = children
        var h = EngineHarness(profiles: [profile])
        h.storm(nic, count: 1_200)
        h.complete(.clearBusMaster(nic))
        if case .awaitQuiescence(_, let deadline) = h.performed.last {
            h.complete(.awaitQuiescence(nic, deadline: deadline))
        }
        return h
    }

    func isProbation(_ state: ContainmentState?) -> Bool {
        if case .probation = state { return true }
        return false
    }

    @Test func busMasterCycleByTheDriver() {
        var h = stoppedHarness()
        #expect(h.state(nic) == .stopped(.verified))
        h.send(.busMasterChanged(.pci(nic), enabled: true), at: h.now + .milliseconds(50))
        #expect(isProbation(h.state(nic)))
        // The driver set bus master itself: Corral must not write it again.
        #expect(!h.performed.contains(.setBusMaster(nic)))
        #expect(h.decisions.last?.reason.contains("bus master re-enabled by its driver") == true)
    }

    @Test func deviceReEnabled() {
        var h = stoppedHarness()
        h.send(.deviceEnabled(.pci(nic)), at: h.now + .milliseconds(50))
        #expect(isProbation(h.state(nic)))
    }

    @Test func childReEnabledReEnablesTheParent() {
        let vf = Fixtures.nicVF
        var h = stoppedHarness(children: [.pci(vf)])
        h.engine.register(DeviceProfile(address: .pci(vf), driver: "ixgbevf", parent: .pci(nic)))
        h.send(.deviceEnabled(.pci(vf)), at: h.now + .milliseconds(50))
        #expect(isProbation(h.state(nic)))
        #expect(h.performed.last == .setBusMaster(nic))
        #expect(h.decisions.last?.reason.contains("child 0000:03:00.1 re-enabled") == true)
    }

    @Test func driverRebind() {
        var h = stoppedHarness()
        h.send(.driverUnbound(.pci(nic), driver: "ixgbe"))
        #expect(h.state(nic) == .stopped(.verified))
        h.send(.driverBound(.pci(nic), driver: "ixgbe"), at: h.now + .milliseconds(10))
        #expect(isProbation(h.state(nic)))
    }

    @Test func hotReAddWithTheSameSerialKeepsHistory() {
        var profile = Fixtures.capable(nic, serial: "S3EVNX0K123456")
        profile.faultSilencing = false
        profile.resetMethods = []
        profile.slotPowerControl = false
        var h = EngineHarness(profiles: [profile])
        h.storm(nic, count: 1_200)
        h.complete(.clearBusMaster(nic), .failed(ActionFailure(message: "device not responding")))
        #expect(h.performed.last == .remove(.pci(nic)))
        h.complete(.remove(.pci(nic)))
        #expect(h.state(nic) == .removed)
        let faultsBefore = h.engine.status(of: .pci(nic))?.totals[.dmaFault]
        #expect((faultsBefore ?? 0) >= 1_000)
        // Re-inserted in another bay: new address, same serial.
        let newAddress = PCIAddress(bus: 4, device: 0, function: 0)!
        h.send(.deviceAdded(.pci(newAddress), serial: SerialNumber("S3EVNX0K123456")), at: h.now + .seconds(30))
        #expect(isProbation(h.state(newAddress)))
        #expect(h.engine.status(of: .pci(newAddress))?.totals[.dmaFault] == faultsBefore)
        #expect(h.engine.status(of: .pci(newAddress))?.containmentsInWindow == 1)
        #expect(h.engine.status(of: .pci(nic)) == nil)
    }

    @Test func automaticReAddAfterRemovalRescans() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        profile.resetMethods = []
        profile.slotPowerControl = false
        var h = EngineHarness(profiles: [profile])
        h.storm(nic, count: 1_200)
        h.complete(.clearBusMaster(nic), .failed(ActionFailure(message: "EIO")))
        h.complete(.remove(.pci(nic)))
        h.advance(by: .seconds(1))
        #expect(h.performed.last == .rescan(Fixtures.port))
        h.send(.deviceAdded(.pci(nic), serial: nil))
        #expect(isProbation(h.state(nic)))
    }

    @Test func probationTimerBacksOffExponentially() {
        #expect(ProbationPolicy().hold(afterContainment: 1) == .seconds(1))
        #expect(ProbationPolicy().hold(afterContainment: 2) == .seconds(2))
        #expect(ProbationPolicy().hold(afterContainment: 4) == .seconds(8))
        #expect(ProbationPolicy().hold(afterContainment: 40) == .seconds(3600))

        var h = stoppedHarness()
        let stoppedAt = h.now
        h.advance(to: stoppedAt + .milliseconds(999))
        #expect(h.state(nic) == .stopped(.verified))
        h.advance(to: stoppedAt + .seconds(1))
        #expect(isProbation(h.state(nic)))
        // Relapse: second containment in the window; re-contained at once at the same rung.
        h.storm(nic, count: 15)
        #expect(h.performed.last == .clearBusMaster(nic))
        h.complete(.clearBusMaster(nic))
        guard case .awaitQuiescence(_, let deadline) = h.performed.last else {
            Issue.record("no wait")
            return
        }
        h.complete(.awaitQuiescence(nic, deadline: deadline))
        let second = h.now
        h.advance(to: second + .milliseconds(1_999))
        #expect(h.state(nic) == .stopped(.verified))
        h.advance(to: second + .seconds(2))
        #expect(isProbation(h.state(nic)))
    }

    @Test func relapseReContainsAtOnceWithoutTheStormThreshold() {
        var h = stoppedHarness()
        h.advance(by: .seconds(1))
        #expect(isProbation(h.state(nic)))
        h.clear()
        h.storm(nic, count: 9)
        #expect(h.performed.isEmpty)
        h.storm(nic, count: 1)
        #expect(h.performed == [.clearBusMaster(nic)])
        #expect(h.decisions.last?.reason.contains("relapse during probation") == true)
    }

    /// Drives `n` full containments (storm → stop → re-enable), one every `gap`.
    func contain(_ h: inout EngineHarness, times n: Int, gap: Duration) {
        for _ in 0..<n {
            h.storm(nic, count: 1_200)
            if h.state(nic) == .retired { return }
            h.complete(.clearBusMaster(nic))
            if case .awaitQuiescence(_, let deadline) = h.performed.last {
                h.complete(.awaitQuiescence(nic, deadline: deadline))
            }
            h.send(.busMasterChanged(.pci(nic), enabled: true), at: h.now + .milliseconds(1))
            h.advance(by: gap)
        }
    }

    @Test func retiredAtTheSixthContainmentInAnHourNotTheFifth() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = EngineHarness(profiles: [profile])
        contain(&h, times: 5, gap: .seconds(120))
        #expect(h.state(nic) != .retired)
        #expect(h.engine.status(of: .pci(nic))?.containmentsInWindow == 5)
        #expect(h.engine.status(of: .pci(nic))?.budgetLeft == 0)
        h.storm(nic, count: 1_200)
        #expect(h.state(nic) == .retired)
        #expect(h.decisions.contains { $0.reason.contains("containment 6 within 1h > 5 allowed → retire") })
        #expect(h.performed.suffix(2) == [.clearBusMaster(nic), .remove(.pci(nic))])
    }

    @Test func budgetWindowIsFixedAndStartsAtTheFirstContainment() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = EngineHarness(profiles: [profile])
        contain(&h, times: 5, gap: .seconds(15 * 60))  // 5 containments spread over 75 minutes
        h.storm(nic, count: 1_200)
        #expect(h.state(nic) != .retired)
        #expect(h.engine.status(of: .pci(nic))?.containmentsInWindow == 2)
    }

    @Test func retiredDevicesIgnoreReEnableTriggersUntilReleased() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = EngineHarness(profiles: [profile])
        contain(&h, times: 6, gap: .seconds(60))
        #expect(h.state(nic) == .retired)
        h.send(.busMasterChanged(.pci(nic), enabled: true))
        h.send(.driverBound(.pci(nic), driver: "ixgbe"))
        h.advance(by: .seconds(7_200))
        #expect(h.state(nic) == .retired)
        h.clear()
        h.send(.operatorReleased(.pci(nic), by: "alice"))
        #expect(isProbation(h.state(nic)))
        #expect(h.performed.contains(.rescan(Fixtures.port)))
        #expect(h.engine.status(of: .pci(nic))?.containmentsInWindow == 0)
        #expect(h.decisions.last?.reason.contains("released by alice from retirement") == true)
    }

    @Test func operatorReleaseOfAStoppedDevice() {
        var h = stoppedHarness()
        h.send(.operatorReleased(.pci(nic), by: "bob"))
        #expect(isProbation(h.state(nic)))
        #expect(h.performed.last == .setBusMaster(nic))
    }
}
