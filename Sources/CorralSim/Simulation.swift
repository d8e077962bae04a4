import CorralCore
import CorralRuntime

/// A deterministic discrete-event simulation of one scenario under one policy.
///
/// Devices issue transactions at their behaviours' rates (seeded jitter); the IOMMU models
/// record faults in their vendor layouts, drop what does not fit and raise interrupts; the
/// handler reads the records back through the decoders at a CPU cost; the policy reacts
/// (Linux today: print and forget; EEH: freeze; Corral: the engine in `ContainmentLoop`, the
/// daemon's own loop, whose actions `SimHost` hands to this world). Same scenario, policy and
/// seed: same result.
public struct Simulation {
    public let scenario: Scenario
    public let policy: SimPolicy
    public let seed: UInt64
    public let costs: CostModel

    var devices: [SimDevice]
    var iommus: [any SimIOMMU]
    var agenda = EventQueue<Agenda>()
    var cpu = CPUModel()
    var random: SplitMix64
    var now = Instant.zero
    /// Corral's loop (engine and host), for the `corral` policy.
    var loop: ContainmentLoop<SimHost>?
    var scheduledTimer: Instant?
    var interruptScheduled: [Bool]
    var handlerBusy: [Bool]
    var generations: [[Int]]
    var timeline: [TimelineEntry] = []
    var tallies: [SimResult.DeviceTally]
    var indexByAddress: [DeviceAddress: Int] = [:]
    var containedAt: [Int: Instant] = [:]
    /// A device whose fault source went away by itself (surprise removal): not contained by
    /// any policy, so no policy is credited with containing it.
    var goneAt: [Int: Instant] = [:]
    /// When each device last became unable to work (`canWork`), and its time unable to work so
    /// far: what a policy's containment costs the machine (issue 17).
    var downSince: [Instant?] = []
    var downTime: [Duration] = []
    var disturbed: Set<Int> = []
    var pageRequests: UInt64 = 0
    var simulatedEvents: UInt64 = 0
    var printkWindow: [String: (start: Instant, count: Int)] = [:]
    var overflowNoted: Set<Int> = []
    var eehFreezes: [Int: (windowStart: Instant, count: Int)] = [:]
    var intxCount: [Int: Int] = [:]
    var scanCursor: [Int: UInt64] = [:]
    var intxSampled: [Int: Int] = [:]
    /// Silenced faults not simulated one by one: (since, rate) per device and behaviour.
    var silencedSince: [Int: [Int: Instant]] = [:]
    var decisions: [Decision] = []
    /// Events that happened before the daemon started (`scenario.daemonStart`), read at its start.
    var backlog: [(DeviceEvent, Instant)] = []
    /// Called for everything a device does (faults, errors, interrupts), e.g. to journal a run.
    public var onEvent: ((SimEvent) -> Void)?
    /// Told every decision and action outcome of the `corral` policy's loop as it happens (the
    /// journal), as the daemon's loop tells its own.
    public var recorder: (any LoopRecorder)? {
        get { loop?.recorder }
        set { loop?.recorder = newValue }
    }

    public init(
        scenario: Scenario, policy: SimPolicy, seed: UInt64 = 1, costs: CostModel = CostModel(),
        host: SimHost = SimHost()
    ) {
        self.scenario = scenario
        self.policy = policy
        self.seed = seed
        self.costs = costs
        devices = scenario.devices
        iommus = scenario.iommus.indices.map { scenario.makeIOMMU($0) }
        random = SplitMix64(seed: seed)
        interruptScheduled = iommus.map { _ in false }
        handlerBusy = iommus.map { _ in false }
        generations = scenario.devices.map { $0.behaviours.map { _ in 0 } }
        tallies = scenario.devices.map { SimResult.DeviceTally(device: $0.address, healthy: $0.isHealthy) }
        for index in tallies.indices { tallies[index].healthy = Self.healthy(index, in: scenario.devices) }
        for (index, device) in scenario.devices.enumerated() { indexByAddress[device.address] = index }
        if case .corral(var enginePolicy) = policy {
            enginePolicy.mode = .enforce
            var resolver = DeviceResolver()
            for group in scenario.aliasGroups {
                resolver.registerAlias(
                    requester: group.bridge.requesterID, members: group.members.map { .pci($0) },
                    accountable: .pci(group.bridge))
            }
            for device in scenario.devices {
                let iommu = iommus[device.iommu]
                guard iommu.vendor == .armSMMU || iommu.vendor == .armSMMUv3 else { continue }
                // Platform devices have their own stream; PCI devices behind an SMMU use their
                // requester ID as stream ID (IORT ID mapping with identity, as QEMU's virt board).
                let stream = device.streamID ?? device.requesterID.map { StreamID(UInt32($0.rawValue)) }
                if let stream {
                    resolver.registerStream(SMMUStream(iommu: iommu.instance, streamID: stream), device: device.address)
                }
            }
            var profiles = scenario.devices.map(\.profile)
            for index in profiles.indices { profiles[index].iommu = iommus[scenario.devices[index].iommu].instance }
            var engine = Engine(policy: enginePolicy, profiles: profiles, resolver: resolver)
            engine.liveFrom = scenario.daemonStart.map { .zero + $0 }
            loop = ContainmentLoop(engine: engine, host: host)
        }
    }

    // MARK: - Running

    /// Runs the scenario to its end and returns what happened.
    public mutating func run() -> SimResult {
        for (index, device) in devices.enumerated() {
            for (behaviour, spec) in device.behaviours.enumerated() {
                agenda.schedule(.behaviourStart(device: index, behaviour: behaviour), at: .zero + spec.start)
            }
            for (happening, spec) in device.happenings.enumerated() {
                agenda.schedule(.happening(device: index, index: happening), at: .zero + spec.at)
            }
        }
        if case .corral = policy, devices.contains(where: { $0.behaviours.contains { $0.kind == .intxStorm } }) {
            agenda.schedule(.interruptSample, at: .zero + .milliseconds(10))
        }
        let end = Instant.zero + scenario.duration
        downSince = Array(repeating: nil, count: devices.count)
        downTime = Array(repeating: .zero, count: devices.count)
        while let next = agenda.nextTime, next <= end, let (at, item) = agenda.pop() {
            now = at
            simulatedEvents += 1
            handle(item)
            trackAvailability()
        }
        now = end
        for device in devices.indices where downSince[device] != nil {
            downTime[device] += end - downSince[device]!
            downSince[device] = nil
        }
        for device in devices.indices { settleSilenced(device) }
        return result()
    }

    /// Whether `device` can do its work now: present, bus master on, DMA not blocked, its
    /// interrupts on, not frozen (EEH), retired or in a reset. Silenced fault reporting does not
    /// stop a device working.
    func canWork(_ device: Int) -> Bool {
        // Field by field: a copy of the whole `SimDevice` retains its arrays (per event).
        devices[device].present && devices[device].busMaster && !devices[device].blocked
            && !devices[device].intxDisabled && !devices[device].frozen && !devices[device].retired
            && (devices[device].resettingUntil.map { now >= $0 } ?? true)
    }

    /// Notes, after each event, which devices stopped or resumed working (O(devices) per event).
    mutating func trackAvailability() {
        for device in devices.indices {
            let working = canWork(device)
            if !working, downSince[device] == nil {
                downSince[device] = now
            } else if working, let since = downSince[device] {
                downTime[device] += now - since
                downSince[device] = nil
            }
        }
    }

    mutating func handle(_ item: Agenda) {
        switch item {
        case .behaviourStart(let device, let behaviour):
            startBehaviour(device, behaviour)
        case .tick(let device, let behaviour, let generation):
            guard generations[device][behaviour] == generation, devices[device].active[behaviour] else { return }
            tick(device, behaviour)
        case .interrupt(let iommu):
            interruptScheduled[iommu] = false
            runHandler(iommu)
        case .handlerDone(let iommu, let events, let overflowed):
            handlerBusy[iommu] = false
            deliverHandled(iommu, events, overflowed: overflowed)
            if iommus[iommu].pending > 0 { raiseInterrupt(iommu) }
        case .actionDone(let action):
            complete(action)
        case .engineTimer:
            scheduledTimer = nil
            if loop != nil { carryOut(loop!.advance(to: now)) }
        case .happening(let device, let index):
            happen(device, devices[device].happenings[index])
        case .strayAfterRemoval(let device, let remaining):
            let address = 0xdead_0000 + UInt64(remaining) * 0x1000
            fault(device, address: address, write: true, lookup: .notPresent)
            if remaining > 1 {
                agenda.schedule(
                    .strayAfterRemoval(device: device, remaining: remaining - 1), at: now + .microseconds(10))
            }
        case .eehRecovered(let device):
            eehRecover(device)
        case .deliver(let event):
            deliver(event)
        case .interruptSample:
            sampleInterrupts()
        case .daemonReads:
            readBacklog()
        }
    }
}
