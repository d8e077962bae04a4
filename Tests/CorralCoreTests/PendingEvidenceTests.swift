import Testing

@testable import CorralCore

/// Until a step is carried out (its outcome comes back), nothing is evidence against it; its
/// hold counts from when it was carried out.
@Suite struct PendingEvidenceTests {
    static let nic = Fixtures.nic

    @Test func eventsBeforeTheOutcomeDoNotEscalate() {
        var h = EngineHarness(policy: .enforcing, profiles: [Fixtures.capable(Self.nic)])
        h.storm(Self.nic, count: 1_200)
        #expect(h.performed == [.silenceFaultReporting(.pci(Self.nic))])
        // The host takes its time; faults go on meanwhile (a batch read late, an IOMMU update).
        h.storm(Self.nic, count: 500, untilAction: false)
        #expect(h.performed.count == 1, "no second rung before the first was carried out")
        #expect(h.engine.statistics.predatingContainment >= 500)
        // Carried out now: the hold counts from here.
        h.advance(by: .milliseconds(50))
        let carriedOut = h.now
        h.complete(.silenceFaultReporting(.pci(Self.nic)))
        #expect(h.state(Self.nic) == .silenced(until: carriedOut + Policy().timing.silenceHold))
        // Faults after it are evidence again: it did not hold.
        h.clear()
        h.storm(Self.nic, count: 50, untilAction: false)
        #expect(h.performed.first == .clearBusMaster(Self.nic))
    }
}
