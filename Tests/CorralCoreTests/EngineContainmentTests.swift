import Testing

@testable import CorralCore

/// The ladder climbed step by step, with hand-made events and explicit times.
@Suite("Engine: containment and escalation")
struct EngineContainmentTests {
    let nic = Fixtures.nic

    func harness(_ profile: DeviceProfile? = nil, policy: Policy = .enforcing) -> EngineHarness {
        EngineHarness(policy: policy, profiles: [profile ?? Fixtures.capable(Fixtures.nic)])
    }

    @Test func healthyBelowTheKernelRatelimit() {
        var h = harness()
        h.storm(nic, count: 9, spacing: .milliseconds(100))
        #expect(h.state(nic) == .healthy)
        #expect(h.decisions.isEmpty)
    }

    @Test func elevatedIsReportedOncePerInterval() {
        var h = harness()
        h.storm(nic, count: 200, spacing: .milliseconds(10))  // 100/s: above 10/5s, below 1000/1s
        #expect(h.state(nic) == .elevated)
        let reports = h.decisions.filter { if case .reportStorm = $0.action { true } else { false } }
        // 2 s of elevated traffic, one summary per 5 s interval.
        #expect(reports.count == 1)
        #expect(h.performed.isEmpty)
    }

    @Test func elevatedReturnsToHealthyWhenQuiet() {
        var h = harness()
        h.storm(nic, count: 50, spacing: .milliseconds(10))
        #expect(h.state(nic) == .elevated)
        h.advance(by: .milliseconds(4_999))
        #expect(h.state(nic) == .elevated)
        h.advance(by: .milliseconds(1))
        #expect(h.state(nic) == .healthy)
        #expect(h.decisions.last?.reason.contains("healthy") == true)
    }

    /// An event below the elevated rate still pushes an elevated device's quiet window back
    /// (the engine's short path for quiet-level events must keep that).
    @Test func quietLevelEventKeepsAnElevatedDeviceElevated() {
        var h = harness()
        h.storm(nic, count: 10, spacing: .milliseconds(100))  // 0 … 0.9 s: 10 in 5 s, elevated
        #expect(h.state(nic) == .elevated)
        // At 5.8 s only the last three are inside the 5 s window: this event is quiet, and the
        // device is still elevated (its quiet window ends at 5.9 s).
        h.send(.dmaFault(Fixtures.fault(nic)), at: Instant(nanoseconds: 5_800_000_000))
        #expect(h.decisions.count == 1, "the quiet event decided nothing: \(h.decisions)")
        h.advance(to: Instant(nanoseconds: 5_900_000_000))
        #expect(h.state(nic) == .elevated, "the quiet window was not pushed back")
        h.advance(to: Instant(nanoseconds: 10_799_000_000))
        #expect(h.state(nic) == .elevated)
        h.advance(to: Instant(nanoseconds: 10_800_000_000))
        #expect(h.state(nic) == .healthy)
    }

    @Test func stormSilencesFirstWithAReason() throws {
        var h = harness()
        h.storm(nic, count: 1_200)
        #expect(h.performed == [.silenceFaultReporting(.pci(nic))])
        guard case .silenced = h.state(nic) else {
            Issue.record("not silenced: \(String(describing: h.state(nic)))")
            return
        }
        let reason = try #require(h.decisions.last?.reason)
        #expect(reason.hasPrefix("0000:03:00.0: 1,00"))
        #expect(reason.contains("dma-fault events in"))
        #expect(reason.contains("≥ 1000/1s"))
        #expect(reason.contains("silence fault reporting of 0000:03:00.0"))
    }

    @Test func silenceHoldEndsInProbationThenHealthy() {
        var h = harness()
        h.storm(nic, count: 1_200)
        h.complete(.silenceFaultReporting(.pci(nic)))
        h.advance(by: .milliseconds(500))
        #expect(h.performed.last == .restoreFaultReporting(.pci(nic)))
        guard case .probation = h.state(nic) else {
            Issue.record("expected probation")
            return
        }
        h.advance(by: .seconds(60))
        #expect(h.state(nic) == .healthy)
    }

    @Test func faultsWhileSilencedEscalateToStoppingDMA() {
        var h = harness()
        h.storm(nic, count: 1_200)
        h.complete(.silenceFaultReporting(.pci(nic)))
        h.storm(nic, count: 20, untilAction: false)
        #expect(h.performed.last == .clearBusMaster(nic))
        #expect(h.decisions.last?.reason.contains("still reported while silenced") == true)
    }

    @Test func relapseAfterSilenceResumesOneRungHigher() {
        var h = harness()
        h.storm(nic, count: 1_200)
        h.complete(.silenceFaultReporting(.pci(nic)))
        h.advance(by: .milliseconds(500))
        h.storm(nic, count: 15)
        #expect(h.performed.last == .clearBusMaster(nic))
        #expect(h.decisions.last?.reason.contains("relapse during probation") == true)
    }

    /// clear bus master → await quiescence → verified → hold → set bus master → probation → healthy.
    @Test func verifiedStopThenAutomaticReenable() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = harness(profile)
        h.storm(nic, count: 1_200)
        #expect(h.performed == [.clearBusMaster(nic)])
        h.complete(.clearBusMaster(nic))
        guard case .awaitQuiescence(let target, let deadline) = h.performed.last else {
            Issue.record("no quiescence wait")
            return
        }
        #expect(target == nic)
        #expect(deadline == h.now + .milliseconds(700))
        h.complete(.awaitQuiescence(nic, deadline: deadline))
        #expect(h.state(nic) == .stopped(.verified))
        h.advance(by: .seconds(1))
        #expect(h.performed.last == .setBusMaster(nic))
        guard case .probation = h.state(nic) else {
            Issue.record("expected probation")
            return
        }
        h.advance(by: .seconds(61))
        #expect(h.state(nic) == .healthy)
    }

    @Test func quiescenceNotReachedEscalatesToReset() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = harness(profile)
        h.storm(nic, count: 1_200)
        h.complete(.clearBusMaster(nic))
        guard case .awaitQuiescence(_, let deadline) = h.performed.last else {
            Issue.record("no wait")
            return
        }
        h.complete(
            .awaitQuiescence(nic, deadline: deadline), .failed(ActionFailure(message: "Transactions Pending still set"))
        )
        #expect(h.performed.last == .reset(nic, .flr))
        guard case .resetting = h.state(nic) else {
            Issue.record("expected resetting")
            return
        }
    }

    /// A device that ignores bus-master clear keeps faulting after quiescence: reset it.
    @Test func faultsAfterVerifiedStopEscalate() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = harness(profile)
        h.storm(nic, count: 1_200)
        h.complete(.clearBusMaster(nic))
        guard case .awaitQuiescence(_, let deadline) = h.performed.last else { return }
        h.complete(.awaitQuiescence(nic, deadline: deadline))
        h.storm(nic, count: 12)
        #expect(h.performed.last == .reset(nic, .flr))
        #expect(h.decisions.last?.reason.contains("after DMA was stopped") == true)
    }

    /// Every rung failing in turn walks the whole ladder, then retires.
    @Test func everyRungFailingClimbsTheWholeLadder() {
        var h = harness()
        h.storm(nic, count: 1_200)
        let failure = ActionOutcome.Result.failed(ActionFailure(errno: 5, message: "EIO"))
        var seen: [Action] = []
        for _ in 0..<12 {
            guard let last = h.performed.last, !seen.contains(last) else { break }
            seen.append(last)
            if case .retired = h.state(nic) { break }
            h.complete(last, failure)
        }
        #expect(
            seen == [
                .silenceFaultReporting(.pci(nic)), .clearBusMaster(nic), .reset(nic, .flr), .reset(nic, .afFLR),
                .reset(nic, .pm), .reset(nic, .bus), .powerCycleSlot(nic), .remove(.pci(nic)),
            ])
        #expect(h.state(nic) == .retired)
        #expect(h.decisions.contains { $0.reason.contains("no step left on the ladder") })
    }

    @Test func missingOutcomeTimesOutAndEscalates() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = harness(profile)
        h.storm(nic, count: 1_200)
        #expect(h.performed == [.clearBusMaster(nic)])
        h.advance(by: .seconds(5))
        #expect(h.performed.last == .reset(nic, .flr))
        #expect(h.decisions.last?.reason.contains("no outcome for clear bus master") == true)
    }

    @Test func resetSuccessGoesToProbation() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = harness(profile)
        h.storm(nic, count: 1_200)
        h.complete(.clearBusMaster(nic), .unsupported("config space not writable"))
        #expect(h.performed.last == .reset(nic, .flr))
        h.complete(.reset(nic, .flr))
        guard case .probation = h.state(nic) else {
            Issue.record("expected probation")
            return
        }
    }

    @Test func deviceWithoutBusMasterControlIsBlockedAndUnverified() {
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        profile.busMasterControl = false
        var h = harness(profile)
        h.storm(nic, count: 1_200)
        #expect(h.performed == [.blockDMA(.pci(nic))])
        h.complete(.blockDMA(.pci(nic)))
        guard case .stopped(.unverified) = h.state(nic) else {
            Issue.record("expected unverified stop")
            return
        }
        h.advance(by: .milliseconds(100))
        #expect(h.decisions.contains { $0.reason.contains("quiescence assumed, unverified") })
        h.advance(by: .seconds(1))
        #expect(h.performed.last == .unblockDMA(.pci(nic)))
    }

    @Test func platformDeviceBehindSMMU() {
        let iommu = IOMMUInstance("5040000.smmu")
        let stream = SMMUStream(iommu: iommu, streamID: StreamID(0x42))
        let device = DeviceAddress.platform(PlatformDeviceName("a600000.usb"))
        var engine = Engine(policy: .enforcing, profiles: [DeviceProfile(address: device, driver: "dwc3")])
        engine.resolver.registerStream(stream, device: device)
        var all: [Decision] = []
        for i in 0..<1_200 {
            let fault = DMAFault(
                source: .stream(stream), vendor: .armSMMUv3, iommu: iommu, kind: .notPresent, rawCode: 0x10)
            all += engine.handle(.dmaFault(fault), at: .microseconds(Int64(i)))
        }
        #expect(all.compactMap(\.action).filter(\.changesDevice) == [.blockDMA(device)])
        #expect(engine.status(of: device)?.ladder.steps == [.blockDMA])
    }

    @Test func dmaAliasIsHeldAgainstTheBridge() {
        let bridge = PCIAddress(bus: 5, device: 0, function: 0)!
        let behind1 = DeviceAddress.pci(PCIAddress(bus: 6, device: 1, function: 0)!)
        let behind2 = DeviceAddress.pci(PCIAddress(bus: 6, device: 2, function: 0)!)
        // The bridge's bus master gates both: its reach holds every member of the group.
        var engine = Engine(
            policy: .enforcing,
            profiles: [DeviceProfile(address: .pci(bridge), driver: "pcieport", children: [behind1, behind2])])
        // Conventional PCI devices behind a PCIe-to-PCI bridge master as (secondary bus, 0.0).
        let alias = RequesterID(bus: 6, device: 0, function: 0)
        engine.resolver.registerAlias(requester: alias, members: [behind1, behind2], accountable: .pci(bridge))
        var all: [Decision] = []
        for i in 0..<1_200 {
            let fault = DMAFault(source: .requester(segment: 0, alias), vendor: .intelVTd, kind: .notPresent)
            all += engine.handle(.dmaFault(fault), at: .microseconds(Int64(i)))
        }
        #expect(all.compactMap(\.action).filter(\.changesDevice) == [.clearBusMaster(bridge)])
        #expect(all.last?.reason.contains("requester ID shared by 0000:06:01.0, 0000:06:02.0") == true)
    }

    @Test func intxStormDisablesINTxFirst() {
        var h = harness()
        h.send(.irqStorm(IRQStorm(irq: IRQNumber(16), devices: [.pci(nic)], disabledByKernel: true)))
        #expect(h.performed == [.disableINTx(nic)])
        #expect(h.decisions.last?.reason.contains("irq 16") == true)
    }

    /// An INTx mask is held until a driver re-initialises the function: a timed unmask let a
    /// still-asserting edu storm the line again under a real kernel.
    @Test func intxMaskIsHeldUntilADriverBinds() {
        var h = harness()
        h.send(.irqStorm(IRQStorm(irq: IRQNumber(16), devices: [.pci(nic)], disabledByKernel: true)))
        h.complete(.disableINTx(nic))
        h.advance(by: .seconds(3600))
        #expect(!h.performed.contains(.enableINTx(nic)))
        #expect(h.state(nic)?.name == "silenced")
        h.send(.driverBound(.pci(nic), driver: DriverName("e1000e")))
        #expect(h.performed.last == .enableINTx(nic))
        #expect(h.state(nic)?.name == "probation")
    }

    @Test func correctableAERFloodIsReportedNotContained() {
        var h = harness()
        for i in 0..<500 {
            h.send(.aerError(AERError(device: nic, severity: .corrected, status: 1)), at: .microseconds(Int64(i) * 100))
        }
        #expect(h.performed.isEmpty)
        #expect(h.decisions.contains { $0.reason.contains("aer-corrected storms are reported, not contained") })
    }
}
