/// A built-in event script that drives the engine through the main paths — storm,
/// containment, verified quiescence, automatic re-enable, relapse, a driver's re-enable,
/// surprise removal, owner routing — so `corral engine-demo` shows the engine at work before
/// the simulator exists.
///
/// Not a simulation: events come from a fixed script, every action "succeeds" after a fixed
/// scripted latency (``actionLatency``), and a device obeys: its scripted faults are dropped
/// while Corral holds it silenced, stopped or removed. The figures it prints describe the
/// script, not hardware. The simulator (`CorralSim`) will replace it as the embedded default.
public struct EngineDemo: Sendable {
    /// Scripted time a host takes to report an action's outcome.
    public static let actionLatency: Duration = .microseconds(20)
    /// Scripted time for Transactions Pending to read clear after bus master is cleared.
    public static let quiescenceLatency: Duration = .milliseconds(1)

    public static let nic = PCIAddress(bus: 3, device: 0, function: 0)!
    public static let gpu = PCIAddress(bus: 1, device: 0, function: 0)!
    public static let sound = PCIAddress(bus: 0, device: 0x1f, function: 3)!
    public static let nvmePort = PCIAddress(bus: 0, device: 0x1d, function: 0)!
    public static let nvme = PCIAddress(bus: 4, device: 0, function: 0)!
    public static let vfioNIC = PCIAddress(bus: 5, device: 0, function: 1)!

    /// What the demo host knows about each device.
    public static let profiles: [DeviceProfile] = [
        DeviceProfile(
            address: .pci(nic), resetMethods: [.flr, .bus], transactionsPending: true, driver: "ixgbe",
            serial: SerialNumber("00-1b-21-ff-fe-8a-10-00")),
        DeviceProfile(
            address: .pci(gpu), resetMethods: [.flr], transactionsPending: true, ats: true, pri: true, driver: "amdgpu"),
        DeviceProfile(address: .pci(sound), resetMethods: [.flr], driver: "snd_hda_intel"),
        DeviceProfile(address: .pci(nvmePort), driver: "pcieport"),
        DeviceProfile(
            address: .pci(nvme), resetMethods: [.flr], transactionsPending: true, slotPowerControl: true,
            driver: "nvme", parent: .pci(nvmePort), serial: SerialNumber("S4EVNF0M912345")),
        DeviceProfile(address: .pci(vfioNIC), resetMethods: [.flr], transactionsPending: true, driver: .vfioPCI),
    ]

    /// The scripted events, in time order.
    public static func script() -> [(Instant, DeviceEvent)] {
        var events: [(Instant, DeviceEvent)] = []
        func faults(
            _ device: PCIAddress, count: Int, from start: Instant, every spacing: Duration,
            kind: DMAFaultKind = .writeToReadOnly, recoverable: Bool = false
        ) {
            for index in 0..<count {
                let fault = DMAFault(
                    source: .requester(segment: 0, device.requesterID), vendor: .intelVTd,
                    iommu: IOMMUInstance("dmar0"),
                    kind: kind, access: .write, address: IOVA(0x7cd8_0000 + UInt64(index % 64) * 0x1000),
                    recoverable: recoverable, rawCode: 0x05)
                events.append((start + spacing * index, .dmaFault(fault)))
            }
        }
        // 1. A runaway DMA engine: 2,000 writes through a read-only mapping at 500,000/s.
        faults(nic, count: 2_000, from: .seconds(1), every: .microseconds(2))
        events.append(
            (
                .seconds(1) + .milliseconds(5),
                .messagesSuppressed(
                    SuppressedMessages(
                        function: "dmar_fault", count: 1_990, vendor: .intelVTd, iommu: IOMMUInstance("dmar0")))
            ))
        // 2. A GPU's recoverable page requests (SVA): normal traffic, never counted.
        faults(gpu, count: 5_000, from: .seconds(1), every: .microseconds(5), kind: .pageRequest, recoverable: true)
        // 3. A quiet device with a rare stray DMA: counted, never disturbed.
        faults(sound, count: 3, from: .seconds(1), every: .milliseconds(1), kind: .notPresent)
        // 4. After Corral's automatic re-enable (hold 1 s), the NIC relapses.
        faults(nic, count: 200, from: .seconds(3), every: .microseconds(2))
        // 5. Its driver re-initialises it (a bus-master disable→enable cycle): probation again.
        events.append((.seconds(5), .busMasterChanged(.pci(nic), enabled: true)))
        // 6. NVMe surprise removal: link down, then stray faults that must not count.
        events.append((.seconds(10), .linkChanged(port: nvmePort, up: false)))
        faults(nvme, count: 1_500, from: .seconds(10) + .milliseconds(1), every: .microseconds(3), kind: .notPresent)
        events.append((.seconds(20), .deviceAdded(.pci(nvme), serial: SerialNumber("S4EVNF0M912345"))))
        // 7. A device passed to a VM through vfio-pci storms for 6 s; its VMM never answers.
        faults(vfioNIC, count: 12_000, from: .seconds(30), every: .microseconds(500))
        return events.sorted { $0.0 < $1.0 }
    }

    /// Runs the script through an engine under `policy` and returns every decision.
    public static func run(policy: Policy) -> (decisions: [Decision], engine: Engine) {
        var engine = Engine(policy: policy, profiles: profiles)
        var decisions: [Decision] = []
        var outcomes: [(Instant, ActionOutcome)] = []
        var script = script()[...]
        var held: Set<DeviceAddress> = []

        func answer(_ new: [Decision], at now: Instant) {
            for decision in new {
                guard let action = decision.action, !action.isRecommendation, action.changesDevice else { continue }
                if let target = action.target {
                    switch action {
                    case .silenceFaultReporting, .clearBusMaster, .blockDMA, .disableINTx, .remove: held.insert(target)
                    case .restoreFaultReporting, .setBusMaster, .unblockDMA, .enableINTx, .rescan: held.remove(target)
                    default: break
                    }
                }
                let latency: Duration
                if case .awaitQuiescence = action { latency = quiescenceLatency } else { latency = actionLatency }
                outcomes.append((now + latency, ActionOutcome(action: action, result: .succeeded)))
            }
        }

        while true {
            let nextScript = script.first?.0
            let nextOutcome = outcomes.map(\.0).min()
            let nextTimer = engine.nextDeadline
            guard let now = [nextScript, nextOutcome, nextTimer].compactMap({ $0 }).min() else { break }
            if let index = outcomes.firstIndex(where: { $0.0 == now }) {
                let outcome = outcomes.remove(at: index).1
                let new = engine.handle(.actionCompleted(outcome), at: now)
                decisions += new
                answer(new, at: now)
            } else if nextScript == now, let (_, event) = script.popFirst() {
                switch event {
                case .dmaFault(let fault):
                    // A held device's faults are not reported any more.
                    if held.contains(engine.resolver.resolve(fault.source).device) { continue }
                case .busMasterChanged(let device, true), .deviceAdded(let device, _):
                    held.remove(device)
                default:
                    break
                }
                let new = engine.handle(event, at: now)
                decisions += new
                answer(new, at: now)
            } else {
                let new = engine.advance(to: now)
                decisions += new
                answer(new, at: now)
            }
        }
        return (decisions, engine)
    }
}
