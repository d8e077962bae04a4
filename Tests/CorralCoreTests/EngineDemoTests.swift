import Foundation
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

/// `engine-demo --json` and `replay --json` lines: the stable action kind for scripts, the
/// reason as one string whatever it holds.
@Suite struct DecisionJSONTests {
    static func object(_ value: some Encodable) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func decisionCarriesKindRecommendationAndReason() throws {
        let reason = "x\", \"action\": \"remove\", \"y\": \"\u{7}\n"
        let decision = Decision(
            at: Instant(nanoseconds: 42), subject: .device(.pci(EngineDemo.nic)),
            action: .recommend(.clearBusMaster(EngineDemo.nic)), from: .healthy, to: .stopped(.verified),
            reason: reason)
        let object = try Self.object(decision)
        #expect(object["type"] as? String == "decision")
        #expect(object["action"] as? String == "clear-bus-master")
        #expect(object["recommendation"] as? Bool == true)
        #expect(object["reason"] as? String == reason)
        #expect(object["at_ns"] as? Int == 42)
        #expect(object["subject"] as? String == EngineDemo.nic.description)
        let bare = try Self.object(Decision(at: .zero, subject: .device(.pci(EngineDemo.nic)), reason: "r"))
        #expect(bare["action"] == nil && bare["recommendation"] == nil && bare["to"] == nil)
    }

    @Test func deviceStatusListsTotalsByClass() throws {
        let run = EngineDemo.run(policy: .enforcing)
        let status = try #require(run.engine.status(of: .pci(EngineDemo.sound)))
        let object = try Self.object(status)
        #expect(object["type"] as? String == "device")
        #expect((object["totals"] as? [String: Any])?["dma-fault"] as? Int == 3)
        #expect(object["state"] as? String == status.state.name)
    }
}

/// One vocabulary for who and what: every name the journal writes reads back as the same value.
@Suite struct JournalVocabularyTests {
    @Test func subjectsReadBackFromTheirNames() throws {
        let subjects: [Subject] = [
            .device(.pci(EngineDemo.nic)),
            .device(.stream(SMMUStream(iommu: IOMMUInstance("5040000.smmu"), streamID: StreamID(0x10)))),
            .device(.platform(PlatformDeviceName("a600000.usb"))),
            .iommu(IOMMUInstance("dmar0")), .irq(IRQNumber(16)), .unattributed("kernel rate limiting"),
            .unattributed("intel-vtd faults, device not named"),
        ]
        for subject in subjects { #expect(Subject(name: subject.description) == subject, "\(subject)") }
        #expect(Subject(name: "03:00.0") == .device(.pci(EngineDemo.nic)), "a short PCI address is canonical")
        #expect(Subject(name: "(kernel rate limiting)").description == "(kernel rate limiting)")
        let spaced = "usb evil\" name"
        #expect(Subject(name: spaced).description == spaced, "an odd stored name prints as stored")
    }

    @Test func classesReadBackFromTheirNames() {
        for observed in ObservedClass.known { #expect(ObservedClass(name: observed.description) == observed) }
        #expect(ObservedClass(name: "aer-fatal") == .aer(.fatal))
        #expect(ObservedClass.aer(nil).description == "aer-unknown")
        #expect(ObservedClass(name: "from-a-newer-corral") == .other("from-a-newer-corral"))
        #expect(Set(ObservedClass.known.map(\.description)).count == ObservedClass.known.count, "names are unique")
    }
}

@Suite struct FaultSourceSubjectTests {
    /// The subject a fault is journaled under is the name its source prints as.
    @Test func subjectIsTheSourcesName() {
        let rid = RequesterID(rawValue: 0x0300)
        let stream = SMMUStream(iommu: IOMMUInstance("5040000.smmu"), streamID: StreamID(0x10))
        for source in [FaultSource.requester(segment: 1, rid), .stream(stream), .device(.pci(EngineDemo.nic))] {
            #expect(source.subject == Subject(name: source.description), "\(source)")
        }
    }
}
