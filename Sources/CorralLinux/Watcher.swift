import CorralCore
import CorralDecode
import CorralRuntime

/// The daemon's core, one step at a time: read what the kernel said, feed the engine, carry
/// out its decisions through the `LinuxHost`, feed the outcomes back. `corral watch` calls
/// `step` in a loop (or once with `--once`); tests call it on a fake root with a fake kmsg.
public struct Watcher {
    /// The engine and the `LinuxHost`, driven by the loop the simulator also runs.
    public private(set) var loop: ContainmentLoop<LinuxHost>
    public var engine: Engine { loop.engine }
    public var host: LinuxHost { loop.host }
    /// The clock actions' outcomes are stamped with (`LinuxHost.clock`): the daemon's
    /// CLOCK_MONOTONIC; nil in tests on fake trees, where outcomes take the step's `now`.
    public var actionClock: (@Sendable () -> Instant)? {
        get { loop.host.clock }
        set { loop.host.clock = newValue }
    }
    public private(set) var follower: KmsgFollower
    /// Devices never written to, with their reasons (docs/safety.md, rule (c)).
    public private(set) var protection: Protection
    public var protected: Set<DeviceAddress> { protection.devices }
    /// The latest decisions, in order (the daemon journals every one as it is made; memory keeps
    /// the last 10,000 so that months of running do not grow it).
    public var decisions: RecentHistory<Decision> { loop.decisions }
    public var sampler = InterruptSampler()
    public var aerCounters = AERCounters()
    /// The kernel half's exact per-device fault counts, when the kernel has them.
    public var faultCounters = IOMMUFaultCounters()
    /// Fault lines read after the kernel's counts that already held them (not counted twice).
    public private(set) var faultLinesAlreadyCounted = 0
    /// Tracepoints, when tracefs is there: preferred over kmsg for what they cover.
    public let trace: TraceSource?
    /// The kernel's uevents, on a real host: a PCI add, remove, bind or unbind makes this step
    /// re-read the inventory at once (otherwise it is polled every `inventoryInterval`).
    public var uevents: UeventMonitor?
    /// How often the PCI inventory is re-read (the polling fallback for uevents).
    public var inventoryInterval: Duration = .seconds(1)
    private var lastInventory: Instant?
    /// How many times the inventory was read (at start, then on each refresh): a reader of it
    /// (the daemon's journal of device identities) looks again only when this moved.
    public private(set) var inventoryReads = 1
    /// Inventory refreshes that could not read part of sysfs (and kept the previous view of it).
    public private(set) var inventoryReadFailures = 0
    /// New NVMe functions whose serial is not readable yet, and how many looks they had.
    private var awaitingSerial: [PCIAddress: Int] = [:]
    /// How often interrupt and AER counters are sampled (a quiet machine should cost nothing).
    public var counterInterval: Duration = .seconds(1)
    /// Counter sampling while nothing has happened for `activityWindow` (nil: always
    /// `counterInterval`). Safe because every fault source also logs (rate-limited, but its
    /// first lines always arrive), and a kernel log event makes the watcher active at once;
    /// counters are cumulative, so a later sample loses no count.
    public var idleCounterInterval: Duration?
    public var activityWindow: Duration = .seconds(30)
    private var lastCounters: Instant?
    /// The last time anything happened: a kernel log event, a counter-derived event, a decision.
    private var lastActivity: Instant?
    /// Log counts since the last counter sample (de-duplication spans the whole interval).
    private var pendingLogged: [IOMMUVendor: [PCIAddress: UInt64]] = [:]
    private var pendingAER: [PCIAddress: [AERSeverity: UInt64]] = [:]
    private var pendingKinds: [PCIAddress: [DMAFaultKind: UInt64]] = [:]
    let root: SysRoot

    /// When the daemon started, on the clock of kmsg's timestamps. What the kernel logged
    /// before it is history: journaled, counted and reported, never acted on. It starts as the
    /// caller's reading of `CLOCK_MONOTONIC`; when the daemon's start marker comes back from
    /// `/dev/kmsg` (`KmsgFollower.startMarker`), the marker's own kernel timestamp replaces it:
    /// kmsg stamps records with `local_clock()`, which drifts from `CLOCK_MONOTONIC` over a long
    /// uptime, and a backlog from just before the start must not look live.
    public private(set) var startedAt: Instant
    /// How far the kernel's log clock (`local_clock()`) is ahead of `CLOCK_MONOTONIC`, from the
    /// start marker: an event's kernel time minus this is on the loop's clock (reaction times).
    public private(set) var kernelClockAhead: Duration?
    /// When the start marker was written, on `CLOCK_MONOTONIC` (its kernel timestamp minus this
    /// is `kernelClockAhead`).
    public var startMarkerWrittenAt: Instant?
    /// Kernel records read by the last `step` (the loop paces itself on bursts).
    public private(set) var lastStepRecords = 0

    /// `protectedPaths`: files whose storage must never be touched beyond the system's own
    /// (the daemon's journal).
    public init(
        root: SysRoot, policy: Policy, startedAt: Instant, resumeAfter: UInt64? = nil, protectedPaths: [String] = []
    ) {
        self.root = root
        self.startedAt = startedAt
        // A device part of whose sysfs could not be read (EMFILE, EIO) is read again: with no
        // earlier view to keep, a missing driver link would make it look driverless (strict).
        var inventory = Inventory.load(root)
        for _ in 0..<5 where !inventory.unreadable.isEmpty { inventory = Inventory.load(root, previous: inventory) }
        var protection = ProtectedDevices.detect(root, inventory, paths: protectedPaths)
        for device in policy.protectedDevices { protection.add(device, .policy) }
        self.protection = protection
        let profiles = inventory.devices.map { device -> DeviceProfile in
            var profile = device.profile
            profile.protection = protection.reasons[profile.address] ?? []
            return profile
        }
        // PCI functions behind an SMMU: their faults arrive as stream IDs.
        var resolver = DeviceResolver()
        Self.registerAliases(&resolver, inventory)
        for (stream, device) in StreamMap.load(root, inventory: inventory) {
            resolver.registerStream(stream, device: .pci(device))
        }
        var engine = Engine(policy: policy, profiles: profiles, resolver: resolver)
        engine.liveFrom = startedAt
        var host = LinuxHost(root: root, mode: policy.mode, inventory: inventory, protection: protection)
        host.ownerDrivers = policy.ownerDrivers
        loop = ContainmentLoop(engine: engine, host: host)
        follower = KmsgFollower(resumeAfter: resumeAfter)
        sampler.floodRate = policy.interruptFloodRate
        trace = TraceSource(root: root)
    }

    /// Handles everything pending at `now` (boot-clock time, like kmsg's timestamps).
    /// `observe` sees every kernel log event, `counted` every event the interrupt and AER
    /// counters found beyond the log: with both, the journal has every count.
    ///
    /// Each decision is carried out as soon as it is made, and its outcome goes back to the
    /// engine before the next event: a rung's deadline counts from when its action was carried
    /// out, and the events of one batch that happened before it are no evidence against it, so
    /// one pass never climbs the ladder on stale evidence.
    @discardableResult
    public mutating func step(
        _ source: inout some KmsgSource, now: Instant, observe: (LogEvent, Instant, Subject) -> Void = { _, _, _ in },
        counted: (DeviceEvent, Instant) -> Void = { _, _ in }
    ) -> [Decision] {
        var new: [Decision] = []
        let trace = self.trace
        var logged: [IOMMUVendor: [PCIAddress: UInt64]] = [:]
        var loggedKinds: [PCIAddress: [DMAFaultKind: UInt64]] = [:]
        var loggedAER: [PCIAddress: [AERSeverity: UInt64]] = [:]
        let inventory = host.inventory
        let root = self.root
        let resolver = engine.resolver
        var heard = false
        let recordsBefore = follower.records
        var read: [(LogEvent, Instant)] = []
        // A fault line from before the kernel's counts were last read is in those counts
        // already (the kernel counts a fault before printing it): read late, it is not counted
        // again — neither by the engine nor in the journal.
        let countedThrough = faultCounters.lastPoll.flatMap { poll in kernelClockAhead.map { poll + $0 } }
        let exactlyCounted = faultCounters.counting
        var alreadyCounted = 0
        // Everything read in this step happened before anything this step does: an event is
        // stamped at most just before `now`, when this step's actions are carried out. (A
        // kernel clock ahead of CLOCK_MONOTONIC, as under emulation, would otherwise stamp a
        // line from before an action at the action's own time, and make it evidence against it.)
        let readBefore = now - .nanoseconds(1)
        follower.poll(&source) { event in
            heard = true
            let at = event.time.map { min(Instant(nanoseconds: $0.nanoseconds), readBefore) } ?? readBefore
            if let countedThrough, event.kind == .dmaFault, at <= countedThrough,
                let device = Self.faultDevice(event, resolver), exactlyCounted.contains(device)
            {
                alreadyCounted += 1
                return
            }
            observe(event, at, Self.subject(of: event, resolver))
            read.append((event, at))
        }
        faultLinesAlreadyCounted += alreadyCounted
        // The start marker read in this batch anchors "live" on the kernel's own clock.
        if let marker = follower.startMarkerTime, marker != startedAt {
            if kernelClockAhead == nil, let written = startMarkerWrittenAt {
                kernelClockAhead = marker - written
                loop.host.kernelClockLead = max(.zero, marker - written)
            }
            startedAt = marker
            loop.engine.liveFrom = marker
        }
        let startedAt = self.startedAt
        var incoming: [(DeviceEvent, Instant)] = []
        for (event, at) in read {
            // The samplers compare the log with counters that start at the daemon's start:
            // only live lines are what the counters also saw.
            let live = at >= startedAt
            if live, event.kind == .dmaFault, let vendor = event.vendor,
                let device = Self.faultDevice(event, resolver)
            {
                logged[vendor, default: [:]][device, default: 0] += 1
                if case .dmaFault(let fault)? = event.deviceEvent {
                    loggedKinds[device, default: [:]][fault.kind, default: 0] += 1
                }
            }
            if live, event.kind == .aer, trace?.enabled.contains("ras/aer_event") != true,
                let device = event.device, let severity = event.severity
            {
                loggedAER[device, default: [:]][severity, default: 0] += 1
            }
            guard var deviceEvent = event.deviceEvent else { continue }
            // "irq N: nobody cared" names the line and its handlers, never the function that
            // asserts it: the functions on that line, the asserting one first.
            if case .irqStorm(var storm) = deviceEvent, storm.devices.isEmpty {
                storm.devices = InterruptSampler.suspects(on: Int(storm.irq.rawValue), root, inventory).map { .pci($0) }
                deviceEvent = .irqStorm(storm)
            }
            // Counted from the tracepoint instead: not twice.
            if trace?.covers(deviceEvent) == true { continue }
            incoming.append((deviceEvent, at))
        }
        for (event, at) in incoming { feed(event, at: at, now: now, into: &new) }
        for event in trace?.read() ?? [] {
            if case .aerError(let error) = event {
                loggedAER[error.device, default: [:]][error.severity, default: 0] += 1
            }
            // Not `counted`: the journal has these from their kmsg lines (`observe`), which the
            // kernel prints alongside the tracepoint.
            feed(event, at: now, now: now, into: &new)
        }
        if heard || !new.isEmpty { lastActivity = now }
        lastStepRecords = follower.records - recordsBefore
        // What the interrupt counters saw beyond the log, and unhandled-interrupt storms.
        let countersDue = lastCounters.map { now - $0 >= currentCounterInterval(at: now, engine) } ?? true
        if countersDue {
            lastCounters = now
            // The kernel half's exact counts first: what they counted, the interrupt sampler
            // must not count again from the IOMMU's fault interrupts.
            let exact = faultCounters.poll(
                root, inventory: host.inventory, at: now, logged: pendingKinds.mergingCounts(loggedKinds))
            for event in exact.events {
                lastActivity = now
                counted(event, now)
                feed(event, at: exact.since ?? now, now: now, into: &new)
            }
            pendingKinds = [:]
            var accountedFor = pendingLogged.merging(logged)
            for (vendor, devices) in exact.counted {
                for (device, count) in devices {
                    accountedFor[vendor, default: [:]][device] = Swift.max(accountedFor[vendor]?[device] ?? 0, count)
                }
            }
            for event in sampler.sample(
                root, inventory: host.inventory, at: now, logged: accountedFor,
                exactlyCounted: faultCounters.counting)
            {
                lastActivity = now
                counted(event, now)
                feed(event, at: now, now: now, into: &new)
            }
            pendingLogged = [:]
        } else {
            pendingLogged = pendingLogged.merging(logged)
            pendingKinds = pendingKinds.mergingCounts(loggedKinds)
        }
        // Devices added, removed, bound or unbound since the last look (re-enable triggers): at
        // once when the kernel's uevents say a PCI function changed, else at the next poll.
        if let uevents, uevents.read().contains(where: { $0.subsystem == "pci" }) {
            lastInventory = nil
            lastActivity = now
        }
        for event in refreshInventory(at: now) { feed(event, at: now, now: now, into: &new) }
        // AER counters: errors the log did not show.
        if countersDue {
            for event in aerCounters.poll(root, inventory: host.inventory, logged: pendingAER.mergingCounts(loggedAER))
            {
                lastActivity = now
                counted(event, now)
                feed(event, at: now, now: now, into: &new)
            }
            pendingAER = [:]
        } else {
            pendingAER = pendingAER.mergingCounts(loggedAER)
        }
        // A driver setting bus master again on a device we stopped: its re-enable.
        for event in loop.host.busMasterRestored() { feed(event, at: now, now: now, into: &new) }
        loop.host.claimKernelStorms(at: now)
        new += loop.advance(to: now)
        return new
    }

    /// The daemon is stopping: the kernel handles storms again at once (`LinuxHost`).
    public mutating func releaseKernelStormClaims() { loop.host.releaseKernelStormClaims() }

    /// One event through the loop: decided, carried out at once, outcomes fed back.
    mutating func feed(_ event: DeviceEvent, at time: Instant, now: Instant, into new: inout [Decision]) {
        new += loop.feed(event, at: time, now: now)
    }

    /// When the loop must run again at the latest, after `now`: the engine's next timer, the
    /// host's next Transactions Pending poll, the next counter sample. The daemon waits on kmsg
    /// until then (a kernel record wakes it at once).
    public func nextWake(after now: Instant) -> Instant {
        let sample = (lastCounters ?? now) + currentCounterInterval(at: now, engine)
        return [engine.nextDeadline, host.nextPoll(after: now), sample].compactMap { $0 }.min() ?? sample
    }

    /// How often counters are sampled now: `counterInterval` while anything happened within
    /// `activityWindow` or a device has a timer running (an episode in progress), else
    /// `idleCounterInterval`.
    func currentCounterInterval(at now: Instant, _ engine: Engine) -> Duration {
        guard let idle = idleCounterInterval else { return counterInterval }
        let recentlyActive = lastActivity.map { now - $0 < activityWindow } ?? false
        return recentlyActive || engine.nextDeadline != nil ? counterInterval : idle
    }

    /// The PCI function a fault line is about: the one it names, or the one its stream ID maps
    /// to (SMMU lines name a StreamID, not an address).
    static func faultDevice(_ event: LogEvent, _ resolver: DeviceResolver) -> PCIAddress? {
        if let device = event.device { return device }
        if case .device(let device) = subject(of: event, resolver) { return device.pciAddress }
        return nil
    }

    /// Who a kernel log event is about, for the journal: the device the engine holds accountable
    /// (an SMMU stream resolved to its PCI function, a DMA alias to its bridge), else the log's
    /// own subject.
    static func subject(of event: LogEvent, _ resolver: DeviceResolver) -> Subject {
        if case .dmaFault(let fault)? = event.deviceEvent {
            return .device(resolver.resolve(fault.source).device)
        }
        return LogReplay.subject(event)
    }

    /// DMA alias groups as the kernel computes them (`DMAAliases`): a fault carrying a shared
    /// requester ID is held against its group.
    static func registerAliases(_ resolver: inout DeviceResolver, _ inventory: Inventory) {
        resolver.removeAllAliases()
        for entry in DMAAliases.groups(inventory) {
            resolver.registerAlias(
                segment: entry.segment, requester: entry.requester, members: entry.group.members,
                accountable: entry.group.accountable)
        }
    }

    /// Re-reads the inventory (at most every `inventoryInterval`) and reports what changed.
    mutating func refreshInventory(at now: Instant) -> [DeviceEvent] {
        if let last = lastInventory, now - last < inventoryInterval { return [] }
        lastInventory = now
        inventoryReads &+= 1
        let old = host.inventory
        let fresh = Inventory.load(root, previous: old)
        if !fresh.unreadable.isEmpty {
            inventoryReadFailures += 1
            loop.host.note(
                "could not read \(fresh.unreadable.joined(separator: ", ")) in sysfs; kept what was known of it")
        }
        var events: [DeviceEvent] = []
        let before = Dictionary(uniqueKeysWithValues: old.devices.map { ($0.address, $0) })
        let after = Dictionary(uniqueKeysWithValues: fresh.devices.map { ($0.address, $0) })
        for (address, device) in after.sorted(by: { $0.key < $1.key }) {
            let waited = awaitingSerial[address]
            guard let previous = before[address], waited == nil else {
                // An NVMe function shows its serial only once the nvme driver has bound (a few
                // ms after the function appears): wait up to three looks for it, so that a
                // re-inserted drive is recognised as the same one.
                if device.serial == nil, (device.classCode ?? 0) >> 8 == 0x0108, (waited ?? 0) < 3 {
                    awaitingSerial[address] = (waited ?? 0) + 1
                    continue
                }
                awaitingSerial[address] = nil
                var profile = device.profile
                profile.protection = protection.reasons[.pci(address)] ?? []
                loop.engine.register(profile)
                events.append(.deviceAdded(.pci(address), serial: device.serial.map { SerialNumber($0) }))
                continue
            }
            if previous.driver != device.driver {
                if let gone = previous.driver { events.append(.driverUnbound(.pci(address), driver: DriverName(gone))) }
                if let bound = device.driver { events.append(.driverBound(.pci(address), driver: DriverName(bound))) }
            }
            // Enabled by its driver since the last look (`pci_enable_device()` in its probe): a
            // re-enable trigger for it and for the port above it (a child coming back means the
            // port forwards for it again). Only with a driver bound: `enable` written by hand
            // on a driverless function is not a driver's re-initialisation.
            if previous.enabled == false, device.enabled == true, device.driver != nil {
                events.append(.deviceEnabled(.pci(address)))
            }
        }
        for address in before.keys.sorted() where after[address] == nil {
            events.append(.deviceRemoved(.pci(address)))
        }
        for address in awaitingSerial.keys where after[address] == nil { awaitingSerial[address] = nil }
        loop.host.inventory = fresh
        if before.keys.sorted() != after.keys.sorted() { Self.registerAliases(&loop.engine.resolver, fresh) }
        return events
    }

    /// Told every decision and action outcome as the loop makes or receives it (the daemon's
    /// journal and hooks).
    public var recorder: (any LoopRecorder)? {
        get { loop.recorder }
        set { loop.recorder = newValue }
    }

    /// The text of the start marker the daemon wrote into `/dev/kmsg` (see `startedAt`).
    public var startMarker: [UInt8]? {
        get { follower.startMarker }
        set { follower.startMarker = newValue }
    }

    /// Applies a new policy (SIGHUP): thresholds, mode, protection.
    public mutating func reload(_ policy: Policy) {
        loop.engine.update(policy: policy)
        sampler.floodRate = policy.interruptFloodRate
        loop.host.mode = policy.mode
        loop.host.ownerDrivers = policy.ownerDrivers
        for device in policy.protectedDevices { protection.add(device, .policy) }
        loop.host.protection = protection
        // A new mode or new protected devices: claims are made afresh from the new policy
        // (none outside enforce mode) at the next step.
        loop.host.releaseKernelStormClaims()
    }
}

extension Dictionary where Value == [PCIAddress: UInt64] {
    func merging(_ other: Self) -> Self {
        var out = self
        for (key, counts) in other {
            for (device, count) in counts { out[key, default: [:]][device, default: 0] += count }
        }
        return out
    }
}

extension Dictionary where Key == PCIAddress, Value: ExpressibleByDictionaryLiteral {
    /// Adds `other`'s counts per device and key (AER severities, fault kinds).
    func mergingCounts<Inner: Hashable>(_ other: Self) -> Self where Value == [Inner: UInt64] {
        var out = self
        for (device, counts) in other {
            for (key, count) in counts { out[device, default: [:]][key, default: 0] += count }
        }
        return out
    }
}
