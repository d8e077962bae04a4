import CorralCore
import CorralDecode
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
        while let next = agenda.nextTime, next <= end, let (at, item) = agenda.pop() {
            now = at
            simulatedEvents += 1
            handle(item)
        }
        now = end
        for device in devices.indices { settleSilenced(device) }
        return result()
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

    // MARK: - Devices

    mutating func startBehaviour(_ device: Int, _ behaviour: Int) {
        let spec = devices[device].behaviours[behaviour]
        devices[device].active[behaviour] = true
        devices[device].activeUntil[behaviour] = spec.duration.map { now + $0 }
        if spec.isMisbehaviour {
            note(.onset, device, "\(spec.kind.rawValue) begins at \(rateText(spec.rate))")
        }
        generations[device][behaviour] += 1
        agenda.schedule(
            .tick(device: device, behaviour: behaviour, generation: generations[device][behaviour]), at: now)
    }

    /// Halts behaviours that stop when the device stops DMA; they may come back on re-enable.
    mutating func halt(_ device: Int, byReset: Bool = false, all: Bool = false) {
        settleSilenced(device)
        for (index, spec) in devices[device].behaviours.enumerated() where devices[device].active[index] {
            if all || spec.obeysBusMaster || byReset || spec.kind == .intxStorm && devices[device].intxDisabled {
                if byReset && spec.survivesReset { continue }
                devices[device].active[index] = false
                generations[device][index] += 1
            }
        }
    }

    /// The device may issue DMA again. Without a reset, relapsing behaviours start again (the
    /// cause is still there); after a reset only behaviours that survive resets do.
    mutating func reenabled(_ device: Int, afterReset: Bool = false) {
        for (index, spec) in devices[device].behaviours.enumerated() where !devices[device].active[index] {
            guard now >= .zero + spec.start else { continue }
            if afterReset {
                if spec.survivesReset {
                    note(.relapse, device, "\(spec.kind.rawValue) resumes after the reset")
                    startBehaviour(device, index)
                }
            } else if devices[device].relapsesLeft[index] > 0 {
                devices[device].relapsesLeft[index] -= 1
                note(.relapse, device, "\(spec.kind.rawValue) resumes after the device was re-enabled")
                startBehaviour(device, index)
            }
        }
    }

    mutating func tick(_ device: Int, _ behaviour: Int) {
        let spec = devices[device].behaviours[behaviour]
        if let until = devices[device].activeUntil[behaviour], now >= until {
            devices[device].active[behaviour] = false
            if spec.isMisbehaviour { note(.note, device, "\(spec.kind.rawValue) stops by itself") }
            return
        }
        switch spec.kind {
        case .aerCorrected:
            guard devices[device].present else { return }
            // aer_isr() and aer_print_error() run whatever the policy: before v6.16 every error
            // is printed (no AER ratelimit), so each one costs an interrupt, a read and a printk.
            let cost = costs.interrupt + costs.record + costs.printk
            let done = cpu.run(cost, readyAt: now)
            tallies[device].faults += 1
            tallies[device].handled += 1
            emit(device, "aer-corrected", count: 1, status: 1)
            if let address = devices[device].address.pciAddress {
                agenda.schedule(
                    .deliver(.aerError(AERError(device: address, severity: .corrected, status: 1))), at: done)
            }
        case .intxStorm:
            guard devices[device].present, !devices[device].intxDisabled else { return }
            // Every handler on the shared line returns IRQ_NONE: entry, handlers, exit.
            _ = cpu.run(costs.interrupt, readyAt: now)
            tallies[device].faults += 1
            intxCount[device, default: 0] += 1
            emit(device, "intx-interrupt", count: 1)
            // kernel/irq/spurious.c: 99,900 of 100,000 unhandled → "nobody cared", disabled.
            if intxCount[device, default: 0] >= 100_000 {
                devices[device].intxDisabled = true
                markContained(device)
                note(.kernel, device, "irq \(irqNumber(device)): nobody cared; Disabling IRQ #\(irqNumber(device))")
                if let address = devices[device].address.pciAddress {
                    agenda.schedule(
                        .deliver(
                            .irqStorm(
                                IRQStorm(
                                    irq: IRQNumber(irqNumber(device)), devices: [.pci(address)], disabledByKernel: true)
                            )),
                        at: now)
                }
                return
            }
        case .pageRequests:
            guard devices[device].issuesDMA(spec, at: now) else { return pause(device, behaviour) }
            pageRequests += 1
            let sim = devices[device]
            if iommus[sim.iommu].stallsInFaultQueue {
                // SMMUv3 stall model: the stalled transaction is an event-queue record.
                var stalled = SimFault(
                    device: device, requesterID: sim.requesterID, streamID: sim.streamID, address: randomAddress(),
                    write: false, lookup: .notPresent)
                stalled.stalled = true
                if case .recorded = iommus[sim.iommu].record(stalled) { raiseInterrupt(sim.iommu) }
            } else {
                // VT-d PRQ / AMD-Vi PPR log: a separate queue, answered by the IOMMU driver.
                _ = cpu.run(costs.record, readyAt: now)
                if case .corral = policy, let pci = sim.address.pciAddress {
                    deliver(
                        .dmaFault(
                            DMAFault(
                                source: .requester(segment: pci.segment, pci.requesterID),
                                vendor: iommus[sim.iommu].vendor, kind: .pageRequest, access: .read,
                                address: IOVA(randomAddress()), recoverable: true)))
                }
            }
        default:
            guard devices[device].issuesDMA(spec, at: now) else { return pause(device, behaviour) }
            if devices[device].silenced || abortsSilently(device) {
                // No fault would be recorded: account for them in bulk instead of one by one.
                silencedSince[device, default: [:]][behaviour] = now
                generations[device][behaviour] += 1
                return
            }
            let (address, write, secure) = transaction(device, spec.kind)
            let lookup = devices[device].domain.translate(address, write: write, secure: secure)
            if lookup != .translated {
                fault(device, address: address, write: write, lookup: lookup)
            }
        }
        let interval = 1.0 / max(spec.rate, 1e-9)
        let jitter = 0.9 + Double(random.next() % 2001) / 10_000  // ±10%
        let nanos = max(1, Int64(interval * jitter * 1e9))
        agenda.schedule(
            .tick(device: device, behaviour: behaviour, generation: generations[device][behaviour]),
            at: now + .nanoseconds(nanos))
    }

    mutating func pause(_ device: Int, _ behaviour: Int) {
        generations[device][behaviour] += 1
        // Stays active: it resumes if the device is re-enabled while the behaviour lasts.
    }

    /// Resumes paused chains of a device whose DMA may flow again.
    mutating func resume(_ device: Int) {
        settleSilenced(device)
        for (index, spec) in devices[device].behaviours.enumerated() where devices[device].active[index] {
            guard devices[device].issuesDMA(spec, at: now) else { continue }
            generations[device][index] += 1
            agenda.schedule(.tick(device: device, behaviour: index, generation: generations[device][index]), at: now)
        }
    }

    /// Books the faults a silenced device made since it was silenced (rate × time).
    mutating func settleSilenced(_ device: Int) {
        guard let since = silencedSince[device] else { return }
        for (behaviour, start) in since {
            let spec = devices[device].behaviours[behaviour]
            var end = now
            if let until = devices[device].activeUntil[behaviour] { end = min(end, until) }
            let seconds = Double((end - start).nanosecondsClamped) / 1e9
            let count = UInt64(max(0, seconds * spec.rate))
            tallies[device].faults += count
            tallies[device].silenced += count
            if count > 0 { emit(device, "dma-fault", count: count, at: end) }
        }
        silencedSince[device] = nil
    }

    /// An SMMU blocking a stream (STE.Config abort, S2CR fault type) terminates its transactions
    /// without recording events; VT-d and AMD-Vi still report faults from a blocked device
    /// (its context/DTE has no valid translation) unless reporting is silenced too.
    func abortsSilently(_ device: Int) -> Bool {
        guard devices[device].blocked else { return false }
        let vendor = iommus[devices[device].iommu].vendor
        return vendor == .armSMMU || vendor == .armSMMUv3
    }

    mutating func randomAddress() -> UInt64 { (random.next() % 0x10_0000) << 12 }

    /// The transaction a behaviour makes: where, read or write, secure or not.
    mutating func transaction(_ device: Int, _ kind: Behaviour.Kind) -> (UInt64, Bool, Bool) {
        let domain = devices[device].domain
        func inside(_ range: Range<UInt64>?) -> UInt64 {
            guard let range, !range.isEmpty else { return randomAddress() }
            return range.lowerBound + (random.next() % UInt64(range.count)) & ~0xFFF
        }
        switch kind {
        case .readOnlyWrites:
            return (inside(domain.readOnlyRange), true, false)
        case .secureAccess:
            return (inside(domain.nonSecureRange), random.next() % 2 == 0, true)
        case .scanning:
            // A sweep across the whole 64-bit space, page by page from a random start: mostly
            // unmapped, and beyond the input width for most of it.
            scanCursor[device, default: random.next() & ~0xFFF] &+= 0x1000_0000_0000
            return (scanCursor[device]!, false, false)
        default:
            return (randomAddress(), random.next() % 2 == 0, false)
        }
    }

    func irqNumber(_ device: Int) -> UInt32 { UInt32(16 + device) }

    // MARK: - Faults and the handler

    mutating func fault(_ device: Int, address: UInt64, write: Bool, lookup: IOMMUDomain.Lookup) {
        tallies[device].faults += 1
        emit(device, "dma-fault", count: 1, address: address)
        let sim = devices[device]
        let fault = SimFault(
            device: device, requesterID: sim.requesterID, streamID: sim.streamID, address: address, write: write,
            lookup: lookup)
        switch iommus[sim.iommu].record(fault) {
        case .recorded:
            tallies[device].recorded += 1
            raiseInterrupt(sim.iommu)
        case .lost:
            tallies[device].lost += 1
            if !overflowNoted.contains(sim.iommu) {
                overflowNoted.insert(sim.iommu)
                timeline.append(
                    TimelineEntry(
                        at: now, kind: .overflow, subject: iommus[sim.iommu].instance.name,
                        text: "fault queue full (\(iommus[sim.iommu].capacity) records): faults are being lost"))
            }
        case .silenced:
            tallies[device].silenced += 1
        }
    }

    mutating func raiseInterrupt(_ iommu: Int) {
        guard !interruptScheduled[iommu], !handlerBusy[iommu] else { return }
        interruptScheduled[iommu] = true
        agenda.schedule(.interrupt(iommu: iommu), at: now + costs.interruptLatency)
    }

    mutating func runHandler(_ iommu: Int) {
        let events = iommus[iommu].drain()
        let overflowed = iommus[iommu].takeOverflow()
        var cost = costs.interrupt + costs.record * events.count
        switch policy {
        case .linuxToday:
            for event in events where printkAllowed(event, iommu: iommu) { cost += costs.printk }
        case .corral:
            cost += costs.engine * (events.count + (overflowed ? 1 : 0))
        case .eeh:
            break
        }
        handlerBusy[iommu] = true
        let done = cpu.run(cost, readyAt: now)
        agenda.schedule(.handlerDone(iommu: iommu, events: events, overflowed: overflowed), at: done)
    }

    /// The kernel's DEFAULT_RATELIMIT (10 per 5 s): one state for all VT-d/SMMU faults, one
    /// per device for AMD-Vi (reference §1.3, §2.3).
    mutating func printkAllowed(_ event: LogEvent, iommu: Int) -> Bool {
        let key = event.vendor == .amdVi ? (event.device?.description ?? "") : iommus[iommu].instance.name
        var window = printkWindow[key] ?? (now, 0)
        if now - window.start >= .seconds(5) { window = (now, 0) }
        window.count += 1
        printkWindow[key] = window
        return window.count <= 10
    }

    mutating func deliverHandled(_ iommu: Int, _ events: [LogEvent], overflowed: Bool) {
        for event in events where !event.recoverable {
            if let index = deviceIndex(for: event) { tallies[index].handled += 1 }
        }
        switch policy {
        case .linuxToday:
            break
        case .eeh:
            for event in events where !event.recoverable {
                if let index = deviceIndex(for: event) { eehFreeze(index) }
            }
        case .corral:
            if overflowed {
                deliver(
                    .queueOverflowed(
                        QueueOverflow(
                            vendor: iommus[iommu].vendor, iommu: iommus[iommu].instance, queue: overflowQueue(iommu))))
            }
            for event in events {
                if let deviceEvent = event.deviceEvent { deliver(deviceEvent) }
            }
        }
    }

    func overflowQueue(_ iommu: Int) -> QueueOverflow.Queue {
        switch iommus[iommu].vendor {
        case .intelVTd: .faultRecords
        case .amdVi: .eventLog
        case .armSMMU, .armSMMUv3: .eventQueue
        }
    }

    func deviceIndex(for event: LogEvent) -> Int? {
        if let device = event.device {
            if let index = indexByAddress[.pci(device)] { return index }
            // A DMA alias: the bridge's requester ID stands for the devices behind it.
            return devices.firstIndex { $0.requesterID == device.requesterID }
        }
        if let stream = event.streamID {
            return devices.firstIndex {
                $0.streamID == stream
                    || ($0.streamID == nil && UInt32($0.requesterID?.rawValue ?? 0) == stream.rawValue)
            }
        }
        return nil
    }

    // MARK: - Other events to the policy

    /// One event to Corral's loop (when the daemon has started; before, it waits in the kernel's
    /// log as a backlog, `scenario.daemonStart`).
    mutating func deliver(_ event: DeviceEvent) {
        guard loop != nil, case .corral = policy else { return }
        if let readAt = daemonReadsAt() {
            if backlog.isEmpty { agenda.schedule(.daemonReads, at: readAt) }
            backlog.append((event, now))
            return
        }
        carryOut(loop!.feed(event, at: now, now: now))
    }

    /// When the daemon next reads the kernel's log, if it is not reading now: its start
    /// (`daemonStart`), or the end of a stall.
    func daemonReadsAt() -> Instant? {
        if let start = scenario.daemonStart, now < .zero + start { return .zero + start }
        for stall in scenario.daemonStalls where now >= .zero + stall.at && now < .zero + stall.at + stall.duration {
            return .zero + stall.at + stall.duration
        }
        return nil
    }

    /// The daemon reads what waited (each event at the time it happened) in one pass: a backlog
    /// at its start is history; after a stall it is live evidence, read late.
    mutating func readBacklog() {
        guard loop != nil else { return }
        let waiting = backlog
        backlog = []
        let started = scenario.daemonStart.map { now == .zero + $0 } ?? false
        timeline.append(
            TimelineEntry(
                at: now, kind: .note, subject: "corral",
                text: "\(started ? "corral starts" : "corral's loop turns again"); it reads \(waiting.count) events "
                    + "that waited in the kernel log"))
        for (event, at) in waiting { carryOut(loop!.feed(event, at: at, now: now)) }
    }

    /// Corral's view of /proc/interrupts every 10 ms: a line firing far above any device's
    /// need with nobody handling it is an INTx storm.
    mutating func sampleInterrupts() {
        for (device, count) in intxCount {
            let delta = count - intxSampled[device, default: 0]
            intxSampled[device] = count
            let rate = UInt64(delta) * 100
            if rate >= 10_000, !devices[device].intxDisabled, let address = devices[device].address.pciAddress {
                deliver(
                    .irqStorm(
                        IRQStorm(irq: IRQNumber(irqNumber(device)), devices: [.pci(address)], ratePerSecond: rate)))
            }
        }
        if now + .milliseconds(10) <= .zero + scenario.duration {
            agenda.schedule(.interruptSample, at: now + .milliseconds(10))
        }
    }

    mutating func happen(_ device: Int, _ happening: Happening) {
        let address = devices[device].address
        switch happening.kind {
        case .surpriseRemoval(let faultsAfter):
            devices[device].present = false
            halt(device, all: true)
            markContained(device)
            note(.removal, device, "surprise removal: link down, card not present")
            if let port = devices[device].profile.parent?.pciAddress {
                deliver(.linkChanged(port: port, up: false))
                deliver(.dpcContained(DPCContainment(port: port, severity: .fatal)))
            }
            if faultsAfter > 0 {
                agenda.schedule(.strayAfterRemoval(device: device, remaining: faultsAfter), at: now + .microseconds(5))
            }
        case .reinsertion:
            devices[device].present = true
            devices[device].busMaster = true
            note(
                .insertion, device,
                "inserted again (serial \(devices[device].profile.serial?.description ?? "unknown"))")
            deliver(.deviceAdded(address, serial: devices[device].profile.serial))
        case .busMasterCycle:
            devices[device].busMaster = true
            note(.note, device, "its driver cycles bus master off and on (re-initialisation)")
            deliver(.busMasterChanged(address, enabled: true))
            resume(device)
        case .childEnabled:
            if let child = devices[device].profile.children.first {
                note(.note, device, "child \(child) enabled by its driver")
                devices[device].busMaster = true
                deliver(.deviceEnabled(child))
                resume(device)
            }
        }
    }

    // MARK: - EEH

    mutating func eehFreeze(_ device: Int) {
        guard !devices[device].frozen, !devices[device].retired else { return }
        var window = eehFreezes[device] ?? (now, 0)
        if now - window.windowStart > .seconds(3600) { window = (now, 0) }
        window.count += 1
        eehFreezes[device] = window
        for member in peMembers(device) {
            devices[member].frozen = true
            halt(member, all: true)
            markContained(member)
            if isHealthy(member) { disturbed.insert(member) }
        }
        if window.count > 5 {
            for member in peMembers(device) { devices[member].retired = true }
            note(.retired, device, "EEH: failed \(window.count) times in the last hour; permanently disabled")
            return
        }
        note(
            .freeze, device,
            "EEH: frozen (freeze \(window.count) of 5 per hour); recovery in \(costs.eehRecovery.readable)")
        agenda.schedule(.eehRecovered(device: device), at: now + costs.eehRecovery)
    }

    mutating func eehRecover(_ device: Int) {
        for member in peMembers(device) where !devices[member].retired {
            devices[member].frozen = false
            note(.recovery, member, "EEH: recovered (reset, driver resumed)")
            reenabled(member, afterReset: true)
            resume(member)
        }
    }

    /// The partitionable endpoint: the device and every function sharing its requester ID or slot.
    func peMembers(_ device: Int) -> [Int] {
        let address = devices[device].address.pciAddress
        return devices.indices.filter { index in
            index == device || devices[index].requesterID == devices[device].requesterID
                || (address != nil
                    && devices[index].address.pciAddress.map {
                        $0.segment == address!.segment && $0.bus == address!.bus && $0.device == address!.device
                    } == true)
        }
    }

    // MARK: - The host: carrying out the engine's actions

    /// What one pass of the loop decided: into the timeline; what `SimHost` was handed, into the
    /// world; the engine's next timer, onto the agenda.
    mutating func carryOut(_ decisions: [Decision]) {
        for decision in decisions { record(decision) }
        guard loop != nil else { return }
        for (action, _) in loop!.host.takeRequested() where !action.isRecommendation { begin(action) }
        if let deadline = loop!.engine.nextDeadline, scheduledTimer.map({ deadline < $0 }) ?? true {
            scheduledTimer = deadline
            agenda.schedule(.engineTimer, at: max(deadline, now))
        }
    }

    /// Starts carrying out `action` in the world: its effect and outcome come after the cost
    /// model's latency (`complete`).
    mutating func begin(_ action: Action) {
        let latency: Duration
        switch action {
        case .reportStorm, .recommend:
            return
        case .silenceFaultReporting, .restoreFaultReporting, .blockDMA, .unblockDMA:
            latency = costs.iommuEntryUpdate
        case .clearBusMaster, .setBusMaster, .disableINTx, .enableINTx:
            latency = costs.configWrite
        case .awaitQuiescence(let pci, let deadline):
            guard let index = indexByAddress[.pci(pci)] else { return }
            let draining = devices[index].behaviours.indices.contains { behaviour in
                devices[index].active[behaviour] && devices[index].behaviours[behaviour].isDMA
                    && !devices[index].behaviours[behaviour].obeysBusMaster
            }
            if draining {
                // Transactions Pending never clears: the poll gives up at the deadline.
                agenda.schedule(.actionDone(action), at: max(deadline, now))
                return
            }
            latency = costs.drainTime
        case .reset(_, let method):
            latency = method == .flr || method == .afFLR ? costs.functionReset : costs.busReset
            if let target = action.target.flatMap({ indexByAddress[$0] }) {
                for index in affected(by: action, target: target) {
                    devices[index].resettingUntil = now + latency
                    halt(index, byReset: true)
                    markContained(index)
                }
            }
        case .powerCycleSlot:
            latency = costs.slotPowerCycle
            if let target = action.target.flatMap({ indexByAddress[$0] }) {
                for index in affected(by: action, target: target) {
                    devices[index].resettingUntil = now + latency
                    halt(index, byReset: true)
                    markContained(index)
                }
            }
        case .remove, .rescan, .unbindDriver:
            latency = costs.removal
        case .notifyOwner(let device, _, _):
            if let index = indexByAddress[device], devices[index].ownerResponds == true {
                // The VMM stops its device (bus master off) and says so.
                agenda.schedule(.deliver(.busMasterChanged(device, enabled: false)), at: now + .milliseconds(1))
                agenda.schedule(.actionDone(.clearBusMaster(device.pciAddress!)), at: now + .milliseconds(1))
                note(.owner, index, "its owner (VMM) answers: it stops the device")
            }
            return
        }
        if let target = action.target, let index = indexByAddress[target], isHealthy(index), action.changesDevice {
            disturbed.insert(index)
        }
        agenda.schedule(.actionDone(action), at: now + latency)
    }

    /// An action takes effect; its outcome goes back to the engine.
    mutating func complete(_ action: Action) {
        var result: ActionOutcome.Result = .succeeded
        if let target = action.target.flatMap({ indexByAddress[$0] }) {
            for index in affected(by: action, target: target) {
                if let failure = apply(action, to: index) { result = failure }
            }
        }
        guard loop != nil else { return }
        carryOut(loop!.feed(.actionCompleted(ActionOutcome(action: action, result: result)), at: now, now: now))
    }

    /// The devices an action on `target` reaches: a bridge's bus master and resets reach the
    /// devices behind it (their DMA is forwarded through it, under its requester ID).
    func affected(by action: Action, target: Int) -> [Int] {
        switch action {
        case .clearBusMaster, .setBusMaster, .reset, .powerCycleSlot, .remove, .rescan, .silenceFaultReporting,
            .restoreFaultReporting, .blockDMA, .unblockDMA:
            let address = devices[target].address
            return [target]
                + devices.indices.filter { index in
                    index != target
                        && (devices[index].profile.parent == address
                            || (devices[index].requesterID != nil
                                && devices[index].requesterID == devices[target].requesterID))
                }
        default:
            return [target]
        }
    }

    /// One device's part of an action's effect; a failure to report, if any.
    mutating func apply(_ action: Action, to index: Int) -> ActionOutcome.Result? {
        let device = devices[index]
        switch action {
        case .silenceFaultReporting:
            settleSilenced(index)
            devices[index].silenced = true
            iommus[device.iommu].setSilenced(requesterID: device.requesterID, streamID: device.streamID, true)
            markContained(index)
        case .restoreFaultReporting:
            settleSilenced(index)
            devices[index].silenced = false
            iommus[device.iommu].setSilenced(requesterID: device.requesterID, streamID: device.streamID, false)
            resume(index)
        case .blockDMA:
            settleSilenced(index)
            devices[index].blocked = true
            if abortsSilently(index) { markContained(index) }
        case .unblockDMA:
            settleSilenced(index)
            devices[index].blocked = false
            resume(index)
        case .clearBusMaster:
            devices[index].busMaster = false
            halt(index)
            if devices[index].behaviours.contains(where: { $0.isMisbehaviour && $0.obeysBusMaster }) {
                markContained(index)
            }
        case .setBusMaster:
            devices[index].busMaster = true
            reenabled(index)
            resume(index)
        case .disableINTx:
            devices[index].intxDisabled = true
            halt(index)
            markContained(index)
        case .enableINTx:
            devices[index].intxDisabled = false
            reenabled(index)
        case .awaitQuiescence(_, let deadline):
            let stillBusy = device.behaviours.indices.contains {
                device.active[$0] && device.behaviours[$0].isDMA && !device.behaviours[$0].obeysBusMaster
            }
            if now >= deadline && stillBusy {
                return .failed(ActionFailure(errno: 110, message: "Transactions Pending still set"))
            }
            note(.quiescence, index, "Transactions Pending clear: no DMA in flight")
        case .reset, .powerCycleSlot:
            devices[index].resettingUntil = nil
            devices[index].busMaster = true  // pci_reset_function() restores the saved state
            reenabled(index, afterReset: true)
            resume(index)
        case .remove:
            devices[index].present = false
            halt(index, all: true)
            markContained(index)
        case .rescan:
            devices[index].present = true
            resume(index)
        default:
            break
        }
        return nil
    }

    /// Healthy: nothing about it misbehaves, nor anything behind it or sharing its requester ID
    /// (a bridge accountable for a DMA alias is not an innocent bystander).
    func isHealthy(_ index: Int) -> Bool { Self.healthy(index, in: devices) }

    static func healthy(_ index: Int, in devices: [SimDevice]) -> Bool {
        guard devices[index].isHealthy else { return false }
        let address = devices[index].address
        return !devices.indices.contains { other in
            other != index && !devices[other].isHealthy
                && (devices[other].profile.parent == address
                    || (devices[other].requesterID != nil && devices[other].requesterID == devices[index].requesterID))
        }
    }

    mutating func markContained(_ device: Int) {
        guard containedAt[device] == nil,
            devices[device].behaviours.contains(where: { $0.isMisbehaviour && now >= .zero + $0.start })
                || !devices[device].happenings.isEmpty
        else { return }
        containedAt[device] = now
    }

    // MARK: - Story and result

    func emit(
        _ device: Int, _ eventClass: String, count: UInt64, address: UInt64? = nil, status: UInt32? = nil,
        at: Instant? = nil
    ) {
        onEvent?(
            SimEvent(
                subject: devices[device].address.description, eventClass: eventClass, at: at ?? now, count: count,
                address: address, status: status))
    }

    mutating func record(_ decision: Decision) {
        decisions.append(decision)
        let subject = decision.subject.description
        let kind: TimelineEntry.Kind
        switch (decision.action, decision.to) {
        case (.some(.reportStorm), _): kind = .detection
        case (.some, _): kind = .action
        case (nil, .some(.retired)): kind = .retired
        case (nil, .some(.probation)), (nil, .some(.healthy)): kind = .reenable
        default: kind = .note
        }
        timeline.append(TimelineEntry(at: decision.at, kind: kind, subject: subject, text: decision.reason))
    }

    mutating func note(_ kind: TimelineEntry.Kind, _ device: Int, _ text: String) {
        timeline.append(TimelineEntry(at: now, kind: kind, subject: devices[device].address.description, text: text))
    }

    func rateText(_ rate: Double) -> String {
        rate >= 1000 ? "\(Count.grouped(Int(rate)))/s" : "\(Int(rate))/s"
    }

    func result() -> SimResult {
        let onset = scenario.onset
        let offender = devices.indices.filter {
            !devices[$0].isHealthy && devices[$0].behaviours.contains { $0.kind != .aerCorrected }
                || !devices[$0].happenings.isEmpty
        }
        .min { (start(of: $0) ?? .seconds(1 << 30)) < (start(of: $1) ?? .seconds(1 << 30)) }
        var containedAfter: Duration?
        if let offender, let at = containedAt[offender], let start = start(of: offender) {
            containedAfter = at - (.zero + start)
        }
        let windowStart = onset ?? .zero
        let remaining = (Instant.zero + scenario.duration) - windowStart
        let window = min(.seconds(1), remaining)
        let shares = cpu.otherWork(from: windowStart, length: max(window, .milliseconds(1)))
        var tallies = self.tallies
        var retired: [DeviceAddress] = []
        for index in devices.indices {
            if let engine = loop?.engine, let status = engine.status(of: devices[index].address) {
                tallies[index].state = status.state.name
                if status.state == .retired { retired.append(devices[index].address) }
            } else if devices[index].retired {
                tallies[index].state = "retired"
                retired.append(devices[index].address)
            } else if devices[index].frozen {
                tallies[index].state = "frozen"
            }
        }
        return SimResult(
            scenario: scenario.name, seed: seed, policy: policy.name, containedAfter: containedAfter,
            cpuOtherWorkMin: shares.min() ?? 1,
            cpuOtherWorkMean: shares.isEmpty ? 1 : shares.reduce(0, +) / Double(shares.count),
            faultsHandled: tallies.map(\.handled).reduce(0, +), faultsRecorded: tallies.map(\.recorded).reduce(0, +),
            faultsLost: tallies.map(\.lost).reduce(0, +), faultsSilenced: tallies.map(\.silenced).reduce(0, +),
            pageRequests: pageRequests, healthyDisturbed: disturbed.sorted().map { devices[$0].address },
            retired: retired, devices: tallies, timeline: timeline, simulatedEvents: simulatedEvents,
            engineStatistics: loop?.engine.statistics, decisions: decisions,
            finalStates: loop?.engine.devices ?? [])
    }

    func start(of device: Int) -> Duration? {
        let starts =
            devices[device].behaviours.filter(\.isMisbehaviour).map(\.start) + devices[device].happenings.map(\.at)
        return starts.min()
    }
}
