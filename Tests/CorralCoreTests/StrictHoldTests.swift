import Testing

@testable import CorralCore

/// Do no harm, finding 7: a driverless or untrusted device that was stopped never gets its bus
/// master back from a timer; a driver binding or an operator's release brings it back.
@Suite struct StrictHoldTests {
    /// A storm stops the device (no IOMMU silencing here: the first rung is clearing bus master).
    static func stopped(_ profile: DeviceProfile) -> EngineHarness {
        var profile = profile
        profile.faultSilencing = false
        var h = EngineHarness(profiles: [profile])
        h.storm(Fixtures.nic, count: 2_000)
        for action in h.performed { h.complete(action) }
        // The await-quiescence step the clear's outcome asked for.
        for action in h.performed where action.kind == "await-quiescence" { h.complete(action) }
        return h
    }

    @Test func driverlessDeviceStaysStoppedUntilADriverBinds() {
        var h = Self.stopped(Fixtures.capable(Fixtures.nic, driver: nil))
        #expect(h.state(Fixtures.nic) == .stopped(.verified))
        #expect(h.decisions.contains { $0.reason.contains("held stopped (no driver bound)") })
        h.advance(by: .seconds(7200))
        #expect(!h.performed.contains(.setBusMaster(Fixtures.nic)), "no timer gives a driverless device DMA back")
        #expect(h.state(Fixtures.nic) == .stopped(.verified))
        h.send(.driverBound(.pci(Fixtures.nic), driver: "ixgbe"))
        #expect(h.state(Fixtures.nic)?.name == "probation")
        #expect(!h.performed.contains(.setBusMaster(Fixtures.nic)), "the driver's own enable, not ours")
    }

    @Test func untrustedDeviceStaysStoppedUntilReleased() {
        var profile = Fixtures.capable(Fixtures.nic)
        profile.untrusted = true
        var h = Self.stopped(profile)
        h.advance(by: .seconds(7200))
        #expect(!h.performed.contains(.setBusMaster(Fixtures.nic)))
        #expect(h.decisions.contains { $0.reason.contains("held stopped (untrusted port)") })
        h.send(.operatorReleased(.pci(Fixtures.nic), by: "alice"))
        #expect(h.performed.contains(.setBusMaster(Fixtures.nic)))
    }

    @Test func driverUnboundDuringTheHoldKeepsItStopped() {
        var h = Self.stopped(Fixtures.capable(Fixtures.nic))
        #expect(h.state(Fixtures.nic) == .stopped(.verified))
        h.send(.driverUnbound(.pci(Fixtures.nic), driver: "ixgbe"))
        h.advance(by: .seconds(7200))
        #expect(!h.performed.contains(.setBusMaster(Fixtures.nic)))
    }

    @Test func aDeviceWithADriverIsStillReenabledAfterItsHold() {
        var h = Self.stopped(Fixtures.capable(Fixtures.nic))
        #expect(h.state(Fixtures.nic) == .stopped(.verified))
        h.advance(by: .seconds(2))
        #expect(h.performed.contains(.setBusMaster(Fixtures.nic)))
    }
}
