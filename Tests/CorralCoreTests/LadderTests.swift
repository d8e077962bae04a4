import Testing

@testable import CorralCore

@Suite("Escalation ladder from capabilities")
struct LadderTests {
    @Test func fullyCapableDevice() {
        let ladder = EscalationLadder(
            profile: Fixtures.capable(Fixtures.nic), policy: LadderPolicy(), eventClass: .dmaFault)
        #expect(
            ladder.steps == [
                .silence, .clearBusMaster(verifiable: true), .reset(.flr), .reset(.afFLR), .reset(.pm), .reset(.bus),
                .powerCycleSlot, .remove,
            ])
    }

    @Test func noFLR() {
        var profile = Fixtures.capable(Fixtures.nic)
        profile.resetMethods = [.pm, .bus]
        let ladder = EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .dmaFault)
        #expect(!ladder.steps.contains(.reset(.flr)))
        #expect(ladder.steps.firstIndex(of: .reset(.pm)) == 2)
    }

    @Test func noBusMasterControlBlocksAtTheIOMMU() {
        var profile = Fixtures.capable(Fixtures.nic)
        profile.busMasterControl = false
        let ladder = EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .dmaFault)
        #expect(ladder.steps[1] == .blockDMA)
    }

    @Test func noTransactionsPendingIsUnverifiable() {
        var profile = Fixtures.capable(Fixtures.nic)
        profile.transactionsPending = false
        let ladder = EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .dmaFault)
        #expect(ladder.steps[1] == .clearBusMaster(verifiable: false))
    }

    @Test func nonPCIDeviceOnlyBlocks() {
        let stream = DeviceAddress.stream(SMMUStream(iommu: IOMMUInstance("5040000.smmu"), streamID: StreamID(0x10)))
        let profile = DeviceProfile(address: stream, faultSilencing: true, driver: "dwc3")
        let ladder = EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .dmaFault)
        #expect(ladder.steps == [.silence, .blockDMA])
    }

    @Test func sharedBusForbidsBusReset() {
        var profile = Fixtures.capable(Fixtures.nic)
        profile.sharesBus = true
        #expect(
            !EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .dmaFault).steps.contains(
                .reset(.bus)))
        var policy = LadderPolicy()
        policy.resetSharedBus = true
        #expect(EscalationLadder(profile: profile, policy: policy, eventClass: .dmaFault).steps.contains(.reset(.bus)))
    }

    @Test func strictDevicesAreNeverOnlySilenced() {
        var untrusted = Fixtures.capable(Fixtures.nic)
        untrusted.untrusted = true
        #expect(
            EscalationLadder(profile: untrusted, policy: LadderPolicy(), eventClass: .dmaFault).steps.first
                == .clearBusMaster(verifiable: true))
        let driverless = Fixtures.capable(Fixtures.nic, driver: nil)
        #expect(
            EscalationLadder(profile: driverless, policy: LadderPolicy(), eventClass: .dmaFault).steps.first
                == .clearBusMaster(verifiable: true))
    }

    @Test func silenceOnlyForIOMMUReportedClasses() {
        let profile = Fixtures.capable(Fixtures.nic)
        #expect(
            EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .aerNonFatal).steps.first
                == .clearBusMaster(verifiable: true))
        #expect(
            EscalationLadder(profile: profile, policy: LadderPolicy(), eventClass: .irqStorm).steps.first
                == .disableINTx)
    }

    @Test func policyCanDisableRungs() {
        var policy = LadderPolicy()
        policy.silence = false
        policy.slotPowerCycle = false
        policy.remove = false
        policy.resetMethods = [.flr]
        let ladder = EscalationLadder(profile: Fixtures.capable(Fixtures.nic), policy: policy, eventClass: .dmaFault)
        #expect(ladder.steps == [.clearBusMaster(verifiable: true), .reset(.flr)])
    }
}
