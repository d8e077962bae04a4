import Testing

@testable import CorralCore

@Suite("Engine: owners, modes, protection, circuit breaker, what does not count")
struct EngineSafetyTests {
    let nic = Fixtures.nic

    func vfioHarness(ownerContain: Set<DriverName> = []) -> EngineHarness {
        var profile = Fixtures.capable(nic, driver: .vfioPCI)
        profile.faultSilencing = false
        var policy = Policy.enforcing
        policy.ownerContain = ownerContain
        return EngineHarness(policy: policy, profiles: [profile])
    }

    /// Do no harm, finding 6: by default a VM's device is notified and recommended for, never
    /// written to, however long it storms.
    /// A recommendation (or action) that takes a display controller's work away says so in
    /// words (issue 17); muting its fault reports, which takes nothing away, does not.
    @Test func stoppingADisplayControllerSaysWhatGoesWithIt() throws {
        var gpu = Fixtures.capable(nic, driver: "amdgpu")
        gpu.pciClass = PCIClass(0x03_0000)
        var h = EngineHarness(policy: Policy(), profiles: [gpu])  // recommend mode
        h.storm(nic, count: 1_500)
        let silence = try #require(h.decisions.first { $0.action?.unwrapped == .silenceFaultReporting(.pci(nic)) })
        #expect(!silence.reason.contains("display controller"), "\(silence.reason)")
        var noSilence = Policy()
        noSilence.ladder.silence = false
        var stop = EngineHarness(policy: noSilence, profiles: [gpu])
        stop.storm(nic, count: 1_500)
        let recommendation = try #require(stop.decisions.first { $0.action?.unwrapped == .clearBusMaster(nic) })
        #expect(recommendation.action?.isRecommendation == true)
        #expect(
            recommendation.reason.contains(
                "0000:03:00.0 is a display controller, driver amdgpu: the screens it drives go dark"),
            "\(recommendation.reason)")
        #expect(PCIClass(0x01_0802).name == "NVMe storage controller" && PCIClass(0x0C_0330).consequence != nil)
        #expect(PCIClass(0x0B_4000).name == nil && PCIClass(0x0B_4000).description == "class 0x0b4000")
    }

    @Test func ownedDeviceIsNotifiedAndRecommendedNeverWritten() {
        var h = vfioHarness()
        h.storm(nic, count: 1_200)
        guard case .notifyOwner? = h.decisions.last?.action else {
            Issue.record("owner not notified")
            return
        }
        #expect(HookPolicy.trigger(for: h.decisions.last!) == .owner)
        h.storm(nic, count: 3_000, spacing: .milliseconds(2), untilAction: false)
        h.advance(by: .seconds(3600))
        #expect(h.performed.isEmpty, "\(h.performed)")
        #expect(h.recommended.contains(.clearBusMaster(nic)))
        #expect(
            h.decisions.contains {
                $0.reason.contains("owned by vfio-pci (user space: a VM's device), which the policy's owner-contain")
            })
    }

    /// A port above a VM's device is not written to either.
    @Test func portAboveAnOwnedDeviceIsRecommendedOnly() {
        var port = Fixtures.capable(Fixtures.port, driver: "pcieport", parent: nil)
        port.faultSilencing = false
        port.children = [.pci(nic)]
        var owned = Fixtures.capable(nic, driver: .vfioPCI)
        owned.faultSilencing = false
        var h = EngineHarness(profiles: [port, owned])
        h.storm(Fixtures.port, count: 2_000)
        #expect(h.performed.isEmpty, "\(h.performed)")
        #expect(h.decisions.contains { $0.reason.contains("would reach 0000:03:00.0, owned by vfio-pci") })
    }

    @Test func ownerIsNotifiedFirstAndContainedOnlyIfItDoesNotActWhenThePolicyAllowsIt() {
        var h = vfioHarness(ownerContain: [.vfioPCI])
        h.storm(nic, count: 1_200)
        guard case .notifyOwner(let device, let owner, let deadline)? = h.decisions.last?.action else {
            Issue.record("owner not notified")
            return
        }
        #expect(device == .pci(nic) && owner == .vfioPCI)
        #expect(deadline == h.now + .seconds(5))
        #expect(h.performed.isEmpty)
        // The VMM does nothing; the storm goes on.
        h.storm(nic, count: 3_000, spacing: .milliseconds(2))
        #expect(h.performed == [.clearBusMaster(nic)])
        #expect(h.decisions.contains { $0.reason.contains("owner did not act within 5s") })
    }

    @Test func ownerThatRespondsKeepsItsDevice() {
        var h = vfioHarness()
        h.storm(nic, count: 1_200)
        h.send(.busMasterChanged(.pci(nic), enabled: false), at: h.now + .seconds(1))
        h.advance(by: .seconds(10))
        #expect(h.performed.isEmpty)
        #expect(h.decisions.contains { $0.reason.contains("owner responded (bus master cleared by its owner)") })
    }

    @Test func stormThatStopsBeforeTheOwnerDeadlineIsNotContained() {
        var h = vfioHarness()
        h.storm(nic, count: 1_200)
        h.advance(by: .seconds(6))
        #expect(h.performed.isEmpty)
        #expect(h.state(nic) == .healthy)
    }

    @Test func recoverablePageRequestsDoNotCount() {
        var h = EngineHarness(profiles: [Fixtures.capable(Fixtures.gpu, driver: "amdgpu")])
        for i in 0..<100_000 {
            h.send(
                .dmaFault(Fixtures.fault(Fixtures.gpu, kind: .pageRequest, recoverable: true)),
                at: .microseconds(Int64(i)))
        }
        #expect(h.decisions.isEmpty)
        #expect(h.engine.status(of: .pci(Fixtures.gpu))?.ignoredRecoverable == 100_000)
        #expect(h.engine.status(of: .pci(Fixtures.gpu))?.totals[.dmaFault] == nil)
        #expect(h.engine.statistics.ignoredRecoverable == 100_000)
    }

    @Test func faultsAfterSurpriseRemovalDoNotCount() {
        var h = EngineHarness(profiles: [Fixtures.capable(Fixtures.disk, driver: "nvme")])
        h.send(.linkChanged(port: Fixtures.port, up: false))
        h.storm(Fixtures.disk, count: 5_000)
        #expect(h.performed.isEmpty)
        #expect(h.engine.status(of: .pci(Fixtures.disk))?.ignoredAfterRemoval == 5_000)
        #expect(h.engine.status(of: .pci(Fixtures.disk))?.containmentsInWindow == 0)
        // Re-inserted: counting resumes.
        h.send(.deviceAdded(.pci(Fixtures.disk), serial: nil))
        h.storm(Fixtures.disk, count: 1_200)
        #expect(!h.performed.isEmpty)
    }

    @Test func presenceLostAndDeviceLostAlsoStopCounting() {
        var h = EngineHarness(profiles: [Fixtures.capable(Fixtures.disk, driver: "nvme"), Fixtures.capable(nic)])
        h.send(.presenceChanged(port: Fixtures.port, present: false))
        h.storm(Fixtures.disk, count: 2_000)
        #expect(h.engine.status(of: .pci(Fixtures.disk))?.ignoredAfterRemoval == 2_000)
        var h2 = EngineHarness(profiles: [Fixtures.capable(nic)])
        h2.send(.deviceLost(.pci(nic)))
        h2.storm(nic, count: 2_000)
        #expect(h2.performed.isEmpty)
        #expect(h2.engine.statistics.ignoredAfterRemoval == 2_000)
    }

    @Test func observeModeOnlyReports() {
        var policy = Policy()
        policy.mode = .observe
        var h = EngineHarness(policy: policy, profiles: [Fixtures.capable(nic)])
        h.storm(nic, count: 5_000, untilAction: false)
        #expect(h.performed.isEmpty)
        #expect(h.recommended.isEmpty)
        #expect(h.state(nic) == .elevated)
        #expect(h.decisions.contains { $0.reason.contains("observe mode: not contained") })
    }

    @Test func recommendModeRecommendsTheSameStepAndActsOnNothing() {
        var policy = Policy()
        policy.mode = .recommend
        var profile = Fixtures.capable(nic)
        profile.faultSilencing = false
        var h = EngineHarness(policy: policy, profiles: [profile])
        h.storm(nic, count: 5_000)
        #expect(h.performed.isEmpty)
        #expect(h.recommended.first == .clearBusMaster(nic))
        guard case .awaitQuiescence = h.recommended.dropFirst().first else {
            Issue.record("no quiescence recommendation")
            return
        }
        // The recommendation stands while the storm goes on, without escalating…
        h.storm(nic, count: 5_000, spacing: .milliseconds(1), untilAction: false)
        #expect(h.recommended.count == 2)
        // …and ends after a quiet probation period.
        h.advance(by: .seconds(61))
        #expect(h.state(nic) == .healthy)
    }

    @Test func enforceModePerforms() {
        var h = EngineHarness(profiles: [Fixtures.capable(nic)])
        h.storm(nic, count: 1_200)
        #expect(h.performed == [.silenceFaultReporting(.pci(nic))])
        #expect(h.recommended.isEmpty)
    }

    @Test func circuitBreakerDowngradesToRecommendations() throws {
        var policy = Policy.enforcing
        policy.circuitBreaker = RateThreshold(3, per: .seconds(60))
        var profiles: [DeviceProfile] = []
        var devices: [PCIAddress] = []
        for bus in 10..<16 {
            let address = try #require(PCIAddress(bus: UInt8(bus), device: 0, function: 0))
            devices.append(address)
            var profile = Fixtures.capable(address)
            profile.faultSilencing = false
            profiles.append(profile)
        }
        var h = EngineHarness(policy: policy, profiles: profiles)
        for device in devices { h.storm(device, count: 1_200) }
        #expect(h.performed.count == 3)
        #expect(h.recommended.count == 3)
        #expect(h.engine.statistics.breakerDowngrades == 3)
        #expect(h.decisions.contains { $0.reason.contains("circuit breaker open") })
        // A minute later the breaker admits actions again.
        h.advance(by: .seconds(61))
        let late = try #require(PCIAddress(bus: 0x20, device: 0, function: 0))
        h.engine.register(DeviceProfile(address: .pci(late), driver: "e1000e"))
        h.storm(late, count: 1_200)
        #expect(h.performed.count == 4)
    }

    @Test func protectedDeviceByPolicyIsOnlyRecommended() {
        var policy = Policy.enforcing
        policy.protectedDevices = [.pci(Fixtures.disk)]
        var h = EngineHarness(policy: policy, profiles: [Fixtures.capable(Fixtures.disk, driver: "nvme")])
        h.storm(Fixtures.disk, count: 1_200)
        #expect(h.performed.isEmpty)
        #expect(h.recommended == [.silenceFaultReporting(.pci(Fixtures.disk))])
        #expect(
            h.decisions.last?.reason.contains("protected device: protected by the policy; recommendation only") == true)
    }

    /// Property: whatever happens, a protected device never gets a performed action.
    @Test(arguments: 0..<20)
    func protectedDeviceIsNeverActedOn(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var profile = Fixtures.capable(nic, serial: "PROT-1")
        profile.protected = true
        profile.driver = random.next() % 2 == 0 ? .vfioPCI : "ixgbe"
        profile.untrusted = random.next() % 3 == 0
        let other = Fixtures.capable(Fixtures.gpu, driver: "amdgpu")
        var h = EngineHarness(profiles: [profile, other])
        let targets: [DeviceAddress] = [.pci(nic), .pci(Fixtures.gpu)]
        for _ in 0..<4_000 {
            h.now = h.now + .microseconds(Int64(random.next() % 20_000))
            let target = targets[Int(random.next() % 2)]
            let pci = target.pciAddress!
            switch random.next() % 16 {
            case 0..<9: h.storm(pci, count: Int(random.next() % 400) + 1)
            case 9: h.send(.busMasterChanged(target, enabled: random.next() % 2 == 0))
            case 10: h.send(.operatorReleased(target, by: "fuzz"))
            case 11: h.send(.irqStorm(IRQStorm(irq: IRQNumber(17), devices: [target])))
            case 12:
                h.send(
                    .aerError(AERError(device: pci, severity: [.corrected, .nonFatal, .fatal][Int(random.next() % 3)])))
            case 13:
                h.send(
                    .deviceAdded(
                        target, serial: target == .pci(nic) && random.next() % 2 == 0 ? SerialNumber("PROT-1") : nil))
            case 14:
                if let pending = h.decisions.last?.action {
                    let action: Action = if case .recommend(let inner) = pending { inner } else { pending }
                    h.complete(action, random.next() % 2 == 0 ? .succeeded : .failed(ActionFailure(message: "fuzz")))
                }
            default: h.advance(by: .milliseconds(Int64(random.next() % 120_000)))
            }
        }
        let touchingProtected = h.performed.filter { $0.target == .pci(nic) }
        #expect(touchingProtected.isEmpty, "performed on a protected device: \(touchingProtected.prefix(3))")
        #expect(h.recommended.contains { $0.target == .pci(nic) })
    }
}
