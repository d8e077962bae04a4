import Testing

@testable import CorralCore

/// An aliased storm is the group's: an action that does not reach every member is held back.
@Suite struct AliasGroupTests {
    @Test func actionThatLeavesAMemberOutIsOnlyRecommended() {
        let a = Fixtures.nic
        let b = Fixtures.nicVF
        var resolver = DeviceResolver()
        // Two functions share one ID and no bridge stands above them both.
        resolver.registerAlias(requester: b.requesterID, members: [.pci(a), .pci(b)], accountable: .pci(a))
        var profile = Fixtures.capable(a, parent: nil)
        profile.faultSilencing = false
        var h = EngineHarness(profiles: [profile, Fixtures.capable(b, parent: nil)])
        h.engine.resolver = resolver
        h.storm(b, count: 2_000)
        #expect(h.performed.isEmpty, "\(h.performed)")
        #expect(h.recommended.contains(.clearBusMaster(a)))
        #expect(h.decisions.contains { $0.reason.contains("would not reach 0000:03:00.1") })
    }

    @Test func actionThroughTheBridgeReachesTheGroupAndIsCarriedOut() {
        let a = Fixtures.nic
        let b = Fixtures.nicVF
        var resolver = DeviceResolver()
        resolver.registerAlias(requester: a.requesterID, members: [.pci(a), .pci(b)], accountable: .pci(Fixtures.port))
        var port = Fixtures.capable(Fixtures.port, driver: "pcieport", parent: nil)
        port.faultSilencing = false
        port.children = [.pci(a), .pci(b)]
        var h = EngineHarness(profiles: [port, Fixtures.capable(a), Fixtures.capable(b)])
        h.engine.resolver = resolver
        h.storm(a, count: 2_000)
        #expect(h.performed == [.clearBusMaster(Fixtures.port)])
    }
}
