import CorralCore
import Foundation
import Testing

@testable import CorralSim

/// Each built-in scenario's expected outcome, asserted on the run's journal (timeline, tallies,
/// engine counts). Figures are the model's, in virtual time.
@Suite struct ScenarioTests {
    static func run(_ name: String, _ policy: SimPolicy = .corral(Policy()), seed: UInt64 = 1) -> SimResult {
        let scenario = BuiltinScenarios.named(name) ?? BuiltinScenarios.all[0]
        #expect(scenario.name == name, "no scenario \(name)")
        let chosen: SimPolicy = if case .corral = policy { .corral(scenario.policy) } else { policy }
        var simulation = Simulation(scenario: scenario, policy: chosen, seed: seed)
        return simulation.run()
    }

    static func entries(_ result: SimResult, _ kind: TimelineEntry.Kind, _ subject: String? = nil) -> [TimelineEntry] {
        result.timeline.filter { $0.kind == kind && (subject == nil || $0.subject == subject) }
    }

    static func tally(_ result: SimResult, _ device: String) -> SimResult.DeviceTally? {
        result.devices.first { $0.device.description == device }
    }

    @Test func everyScenarioHasATest() {
        #expect(BuiltinScenarios.all.count == 16)
        #expect(Set(BuiltinScenarios.all.map(\.name)).count == 16)
        #expect(BuiltinScenarios.named(BuiltinScenarios.defaultName) != nil)
    }

    @Test func defaultStormIsContainedFastAndCheaply() throws {
        let corral = Self.run("vtd-stray-dma-storm")
        let contained = try #require(corral.containedAfter)
        #expect(contained <= .milliseconds(5), "contained after \(contained)")
        #expect(corral.cpuOtherWorkMean >= 0.99, "mean CPU for other work \(corral.cpuOtherWorkMean)")
        #expect(corral.healthyDisturbed.isEmpty && corral.retired.isEmpty)
        // The engine saw the faults through the VT-d records, decoded from their binary layout.
        #expect(Self.entries(corral, .action, "0000:03:00.0").first?.text.contains("dma-fault events") == true)
        #expect(Self.entries(corral, .quiescence, "0000:03:00.0").count >= 1)

        let linux = Self.run("vtd-stray-dma-storm", .linuxToday)
        #expect(linux.containedAfter == nil)
        #expect(linux.cpuOtherWorkMean < 0.5, "linux-today keeps handling every fault: \(linux.cpuOtherWorkMean)")
        #expect(linux.faultsHandled > 100 * corral.faultsHandled)
    }

    @Test func amdReadOnlyWritesGoThroughTheEventLog() throws {
        let corral = Self.run("amd-readonly-write-storm")
        #expect(try #require(corral.containedAfter) <= .milliseconds(10))
        let device = try #require(Self.tally(corral, "0000:02:00.0"))
        #expect(device.recorded > 1_000 && device.silenced > 0)
        #expect(Self.entries(corral, .action, "0000:02:00.0").contains { $0.text.contains("silence fault reporting") })
        #expect(corral.healthyDisturbed.isEmpty)
    }

    @Test func smmuv3SecureAccessIsAttributedThroughItsStream() throws {
        let corral = Self.run("smmuv3-secure-access")
        #expect(corral.containedAfter != nil)
        // The event queue names stream 0x100; the resolver maps it to the PCI device.
        #expect(Self.entries(corral, .action, "0000:01:00.0").contains { $0.text.contains("clear bus master") })
    }

    @Test func platformDeviceIsBlockedWithQuiescenceUnverified() throws {
        let corral = Self.run("smmuv2-platform-no-quiesce")
        #expect(corral.containedAfter != nil)
        let subject = "fd5c0000.dma"
        #expect(Self.entries(corral, .action, subject).contains { $0.text.contains("block DMA") })
        #expect(corral.timeline.contains { $0.subject == subject && $0.text.contains("unverified") })
        #expect(!corral.timeline.contains { $0.subject == subject && $0.text.contains("bus master") })
    }

    @Test func quietDevicesFaultsAreAllSeenUnderCorral() throws {
        let corral = Self.run("shared-queue-overflow")
        let quiet = try #require(Self.tally(corral, "0000:00:1f.3"))
        #expect(quiet.faults > 0)
        #expect(quiet.lost == 0 && quiet.recorded == quiet.faults && quiet.handled == quiet.faults)
        #expect(!corral.timeline.contains { $0.kind == .action && $0.subject == "0000:00:1f.3" })
        let linux = Self.run("shared-queue-overflow", .linuxToday)
        let drowned = try #require(Self.tally(linux, "0000:00:1f.3"))
        #expect(drowned.lost > 0, "under linux-today the storm hides the quiet device's faults")
    }

    @Test func relapsingDeviceIsRetiredAtItsSixthContainment() throws {
        let corral = Self.run("relapse-then-retire")
        #expect(corral.retired.map(\.description) == ["0000:03:00.0"])
        let retirement = try #require(Self.entries(corral, .retired, "0000:03:00.0").first)
        #expect(retirement.text.contains("containment 6 within 1h > 5 allowed"))
        #expect(Self.entries(corral, .relapse, "0000:03:00.0").count == 4)
    }

    @Test func busMasterCycleLetsTheDeviceBack() throws {
        let corral = Self.run("busmaster-cycle-reenable")
        let reenable = try #require(
            Self.entries(corral, .reenable, "0000:03:00.0").first {
                $0.text.contains("bus master re-enabled by its driver")
            })
        #expect(reenable.at == .milliseconds(1_500))
        #expect(Self.entries(corral, .relapse).isEmpty && corral.retired.isEmpty)
        #expect(Self.tally(corral, "0000:03:00.0")?.state == "probation")
    }

    @Test func childReenableReenablesItsParent() {
        let corral = Self.run("child-reenable")
        #expect(
            Self.entries(corral, .reenable, "0000:05:00.0").contains {
                $0.text.contains("child 0000:05:00.1 re-enabled")
            })
        #expect(corral.healthyDisturbed.isEmpty)
    }

    @Test func pageRequestsAreNeverContained() throws {
        let corral = Self.run("gpu-page-requests")
        #expect(corral.pageRequests > 50_000)
        #expect(corral.containedAfter == nil && Self.entries(corral, .action).isEmpty)
        let statistics = try #require(corral.engineStatistics)
        // Every stalled page fault the handler read was recognised as recoverable (a few may
        // still sit in the event queue when the run ends).
        #expect(statistics.ignoredRecoverable <= corral.pageRequests)
        #expect(statistics.ignoredRecoverable + 64 >= corral.pageRequests)
        #expect(corral.faultsHandled == 0)
    }

    @Test func untrustedScannerIsContainedOnStrictThresholds() throws {
        let corral = Self.run("thunderbolt-malicious")
        #expect(try #require(corral.containedAfter) <= .milliseconds(10))
        #expect(Self.entries(corral, .action, "0000:08:00.0").first?.text.contains("strict: untrusted port") == true)
        #expect(corral.healthyDisturbed.isEmpty)
        #expect(Self.tally(corral, "0000:08:00.0").map { $0.handled <= 20 } == true)
    }

    @Test func driverlessDeviceBehindABridgeIsContainedThroughItsAlias() throws {
        let corral = Self.run("driverless-dma")
        #expect(corral.containedAfter != nil)
        let action = try #require(Self.entries(corral, .action, "0000:06:00.0").first)
        #expect(action.text.contains("strict: no driver bound") && action.text.contains("clear bus master"))
        #expect(corral.healthyDisturbed.isEmpty, "the bridge answers for its alias; it is not a bystander")
    }

    @Test func brokenBusMasterEscalatesToReset() throws {
        let corral = Self.run("broken-busmaster")
        #expect(corral.timeline.contains { $0.text.contains("Transactions Pending still set") })
        #expect(Self.entries(corral, .action, "0000:03:00.0").contains { $0.text.contains("flr reset") })
        // After the reset the storm is gone.
        let device = try #require(Self.tally(corral, "0000:03:00.0"))
        #expect(device.state == "probation")
    }

    @Test func surpriseRemovalIsNotHeldAgainstTheDevice() throws {
        let corral = Self.run("nvme-surprise-removal")
        #expect(Self.entries(corral, .action).isEmpty, "no containment for a pulled drive")
        let statistics = try #require(corral.engineStatistics)
        #expect(statistics.ignoredAfterRemoval == 2_000)
        #expect(corral.timeline.contains { $0.text.contains("counting resumes with its history") })
        #expect(Self.tally(corral, "0000:04:00.0")?.handled == 2_000)
    }

    @Test func correctableAERFloodIsReportedNotContained() {
        let corral = Self.run("aer-correctable-flood")
        #expect(corral.containedAfter == nil)
        #expect(Self.entries(corral, .detection).contains { $0.text.contains("reported, not contained") })
        #expect(!corral.timeline.contains { $0.kind == .action })
    }

    @Test func intxStormIsMaskedWithinASample() throws {
        let corral = Self.run("intx-storm")
        #expect(try #require(corral.containedAfter) <= .milliseconds(11))
        #expect(Self.entries(corral, .action).first?.text.contains("disable INTx") == true)
        let linux = Self.run("intx-storm", .linuxToday)
        // kernel/irq/spurious.c gives up after 100,000 unhandled interrupts: 0.5 s at 200,000/s.
        let kernel = try #require(linux.containedAfter)
        #expect(kernel >= .milliseconds(450) && kernel <= .milliseconds(550))
        #expect(corral.cpuOtherWorkMean > linux.cpuOtherWorkMean)
    }

    @Test func vfioOwnerIsAskedFirst() throws {
        let corral = Self.run("vfio-owner")
        let first = Self.entries(corral, .action, "0000:09:00.0")
        #expect(first.count == 1 && first[0].text.contains("notify its vfio-pci owner"))
        #expect(Self.entries(corral, .owner, "0000:09:00.0").count == 1)
        let second = Self.entries(corral, .action, "0000:0a:00.0")
        #expect(second.first?.text.contains("notify its vfio-pci owner") == true)
        #expect(second.dropFirst().first?.text.contains("owner did not act within 5s") == true)
    }

    @Test func eehFreezesAtTheFirstError() throws {
        let eeh = Self.run("vtd-stray-dma-storm", .eeh)
        #expect(try #require(eeh.containedAfter) < .milliseconds(1))
        #expect(Self.entries(eeh, .freeze, "0000:03:00.0").count >= 1)
    }

    /// The price beside the speed (issue 17): how long devices could not work. EEH contains
    /// fastest and keeps the device out longest; linux-today never takes it out; Corral takes
    /// it out only from its second containment (stop DMA) to the end. A healthy VF under a
    /// stopped SR-IOV parent is out of work too, though nothing acted on it directly.
    @Test func eachPolicysCostIsMeasuredBesideItsSpeed() throws {
        let nic = PCIAddress(bus: 3, device: 0, function: 0)!
        let corral = Self.run("vtd-stray-dma-storm")
        let today = Self.run("vtd-stray-dma-storm", .linuxToday)
        let eeh = Self.run("vtd-stray-dma-storm", .eeh)
        #expect(today.misbehavingUnableToWork == .zero)
        #expect(eeh.misbehavingUnableToWork > corral.misbehavingUnableToWork)
        #expect(corral.misbehavingUnableToWork > .milliseconds(800) && corral.misbehavingUnableToWork < .seconds(1))
        #expect([corral, today, eeh].allSatisfy { $0.healthyUnableToWork == .zero })
        let stopped = try #require(corral.decisions.first { $0.action == .clearBusMaster(nic) })
        let end = Instant.zero + BuiltinScenarios.named("vtd-stray-dma-storm")!.duration
        // Out of work from the moment bus master is off (the decision, plus the action's
        // modelled latency of a few µs) to the end.
        let lag = (end - stopped.at) - corral.misbehavingUnableToWork
        #expect(lag >= .zero && lag < .microseconds(10), "\(lag)")
        let child = Self.run("child-reenable")
        #expect(child.healthyUnableToWork > .zero && child.healthyDisturbed.isEmpty)
    }

    /// A storm that ends because the card was pulled was contained by no policy: it is not
    /// credited as "contained after 0 ms".
    @Test func aSurpriseRemovalIsNotAContainment() {
        for policy in [SimPolicy.corral(Policy()), .linuxToday] {
            let result = Self.run("nvme-surprise-removal", policy)
            #expect(result.containedAfter == nil && result.endedWithoutContainment == "removed")
        }
    }
}

@Suite struct DeterminismTests {
    static func json(_ seed: UInt64) -> String {
        let scenario = BuiltinScenarios.named("shared-queue-overflow")!
        let results = [SimPolicy.corral(Policy()), .eeh].map { policy in
            var simulation = Simulation(scenario: scenario, policy: policy, seed: seed)
            return simulation.run()
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let document = SimDocument(scenario: scenario.name, seed: seed, duration: scenario.duration, results: results)
        return String(decoding: (try? encoder.encode(document)) ?? Data(), as: UTF8.self)
    }

    /// The document is JSON a script can read back, with every policy and the model named.
    @Test func documentIsReadableJSON() throws {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(Self.json(7).utf8)) as? [String: Any])
        #expect(object["model"] as? String == "simulated")
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(policies.map { $0["policy"] as? String } == ["corral", "eeh"])
        #expect((object["timeline"] as? [Any])?.isEmpty == false)
    }

    @Test func sameSeedSameBytes() {
        #expect(Self.json(7) == Self.json(7))
        #expect(Self.json(7) != Self.json(8), "the seed matters")
    }
}
