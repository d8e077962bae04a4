import CorralCore

/// Runs a kernel log through the containment engine in virtual time taken from the log's own
/// timestamps, and says per device what happened and what Corral would have done.
///
/// The engine runs in recommend mode whatever the policy says: a log records what the kernel
/// saw, not what an action would have changed, so every action is reported as a
/// recommendation with the time it would have been taken.
///
/// Memory stays flat however long the log: every decision goes to `onDecision` as it is made
/// (the journal writer, the JSON printer); a subject keeps only its counts and its first and
/// last `decisionsKept` decisions for the text report.
public struct LogReplay {
    /// What one device (or IOMMU, or IRQ) did in the log.
    public struct Subject: Sendable {
        public var name: String
        public var firstLine: Int
        /// Events by kind.
        public var events: [LogEvent.Kind: Int] { eventCounts.byKind }
        var eventCounts = EventKindCounts()
        /// Most events in one second of log time (1 s buckets).
        public var peakPerSecond = 0
        /// Storms the engine found (entries into containment).
        public var storms = 0
        /// Its first decisions (up to `decisionsKept`).
        public var decisions: [Decision] = []
        /// Its latest decisions after those (the last `decisionsKept`).
        public var laterDecisions: RecentHistory<Decision>
        /// All its decisions, kept or not.
        public var decisionCount = 0
        /// Decisions neither in `decisions` nor in `laterDecisions`.
        public var decisionsNotKept: Int { decisionCount - decisions.count - laterDecisions.count }
        var bucket: Int64 = .min
        var inBucket = 0

        /// Counts one event in log second `second` (1 s buckets) toward `peakPerSecond`.
        mutating func countInBucket(second: Int64) {
            if second != bucket {
                bucket = second
                inBucket = 0
            }
            inBucket += 1
            peakPerSecond = max(peakPerSecond, inBucket)
        }
    }

    public private(set) var engine: Engine
    /// Subjects in the order they first appeared, found by value (`CorralCore.Subject`):
    /// formatting an address into a name per event was a fifth of replay time, so the name is
    /// made once, when the subject first appears. Updated in place in `table` (one hash per
    /// event, none while a storm repeats the subject before: `lastSubject`).
    private var table: [Subject] = []
    private var positions: [CorralCore.Subject: Int] = [:]
    private var keyOrder: [CorralCore.Subject] = []
    private var lastSubject: (key: CorralCore.Subject, position: Int)?
    /// Every subject by name.
    public var subjects: [String: Subject] {
        Dictionary(table.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
    /// Subject names in the order they first appeared.
    public var order: [String] { keyOrder.map(\.description) }
    /// Events the log gives no device for (by class), still counted.
    public private(set) var unattributed: [LogEvent.Kind: Int] = [:]
    /// Total the kernel said it dropped (`callbacks suppressed`): the counts are lower bounds.
    public private(set) var suppressed: UInt64 = 0
    public private(set) var overflows = 0
    /// How often a timestamp went backwards (kept at the last time instead).
    public private(set) var timeWentBackwards = 0
    /// The clock virtual time came from (nil: no timestamps; one line per `lineInterval`).
    public private(set) var clock: LogTime.Clock?
    public let lineInterval: Duration
    public private(set) var now = Instant.zero
    /// Virtual time of the last event (the log's span from its first event).
    public private(set) var lastEventAt = Instant.zero
    private var origin: Int64?
    /// Decisions made so far, all subjects.
    public private(set) var decisionCount = 0
    /// How many first and how many last decisions a subject keeps for the report.
    public let decisionsKept: Int
    /// Called with every decision, in order, as the engine makes it.
    public var onDecision: (Decision) -> Void

    public init(
        policy: Policy, lineInterval: Duration = .milliseconds(1), decisionsKept: Int = 50,
        onDecision: @escaping (Decision) -> Void = { _ in }
    ) {
        var policy = policy
        policy.mode = .recommend
        engine = Engine(policy: policy)
        self.lineInterval = lineInterval
        self.decisionsKept = max(1, decisionsKept)
        self.onDecision = onDecision
    }

    private func newSubject(_ name: String, firstLine: Int) -> Subject {
        Subject(name: name, firstLine: firstLine, laterDecisions: RecentHistory(capacity: decisionsKept))
    }

    /// Feeds one event from the parser (in line order).
    public mutating func add(_ event: LogEvent) {
        advanceClock(to: event)
        lastEventAt = now
        let position = position(of: Self.subject(event), firstLine: event.line)
        let second = now.nanoseconds / 1_000_000_000
        table[position].eventCounts.add(event.kind)
        table[position].countInBucket(second: second)
        if event.kind == .suppressed, let count = event.count { suppressed &+= count }
        if event.kind == .queueOverflow { overflows += 1 }
        guard let deviceEvent = event.deviceEvent else {
            if event.kind != .suppressed && event.kind != .queueOverflow { unattributed[event.kind, default: 0] += 1 }
            return
        }
        record(engine.handle(deviceEvent, at: now))
    }

    /// Ends the replay: timers due within a minute of the last event fire.
    public mutating func finish() {
        let end = now + .seconds(60)
        while let deadline = engine.nextDeadline, deadline <= end {
            now = max(now, deadline)
            record(engine.advance(to: deadline))
        }
    }

    private mutating func advanceClock(to event: LogEvent) {
        let target: Instant
        if let time = event.time, clock == nil || clock == time.clock {
            clock = time.clock
            let base = origin ?? time.nanoseconds
            origin = base
            target = Instant(nanoseconds: time.nanoseconds &- base)
        } else if clock == nil {
            target = Instant(nanoseconds: Int64(event.line) &* lineInterval.nanosecondsClamped)
        } else {
            target = now
        }
        if target < now {
            timeWentBackwards += 1
        } else if target > now {
            record(engine.advance(to: target))
            now = target
        }
    }

    private mutating func record(_ decisions: [Decision]) {
        for decision in decisions {
            onDecision(decision)
            decisionCount += 1
            let position = position(of: decision.subject, firstLine: 0)
            table[position].decisionCount += 1
            if table[position].decisions.count < decisionsKept {
                table[position].decisions.append(decision)
            } else {
                table[position].laterDecisions.append(decision)
            }
            if let to = decision.to, to.isContained || to.name == "awaiting-owner",
                !(decision.from?.isContained ?? false),
                decision.from?.name != "awaiting-owner"
            {
                table[position].storms += 1
            }
        }
    }

    /// Where `key`'s subject is in `table`, made (named once) when it first appears.
    private mutating func position(of key: CorralCore.Subject, firstLine: Int) -> Int {
        if let last = lastSubject, last.key == key { return last.position }
        let position: Int
        if let known = positions[key] {
            position = known
        } else {
            position = table.count
            table.append(newSubject(key.description, firstLine: firstLine))
            positions[key] = position
            keyOrder.append(key)
        }
        lastSubject = (key, position)
        return position
    }

    /// Who a log event is about, in the vocabulary the engine and the journal use.
    public static func subject(_ event: LogEvent) -> CorralCore.Subject {
        if let device = event.device { return .device(.pci(device)) }
        if let iommu = event.iommu, let streamID = event.streamID {
            return .device(.stream(SMMUStream(iommu: iommu, streamID: streamID)))
        }
        if let irq = event.irq { return .irq(irq) }
        if let iommu = event.iommu { return .iommu(iommu) }
        if event.kind == .suppressed { return .unattributed("kernel rate limiting") }
        return .unattributed("\(event.vendor?.rawValue ?? event.kind.rawValue): no device named")
    }

    public static func subjectName(_ event: LogEvent) -> String { subject(event).description }
}
