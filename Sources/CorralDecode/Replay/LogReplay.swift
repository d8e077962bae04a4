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
        public var events: [LogEvent.Kind: Int] = [:]
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
    }

    /// Subjects are keyed by value (`CorralCore.Subject`): hashing one per event is cheap,
    /// while formatting an address into a name per event was a fifth of replay time. The name
    /// is made once, when the subject first appears.
    public private(set) var engine: Engine
    private var table: [CorralCore.Subject: Subject] = [:]
    private var keyOrder: [CorralCore.Subject] = []
    /// Every subject by name.
    public var subjects: [String: Subject] {
        Dictionary(table.values.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
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
        let key = Self.subject(event)
        // Taken out while updated: a copy the table still held would copy its dictionary.
        var subject: Subject
        if let existing = table.removeValue(forKey: key) {
            subject = existing
        } else {
            subject = newSubject(key.description, firstLine: event.line)
            keyOrder.append(key)
        }
        subject.events[event.kind, default: 0] += 1
        let second = now.nanoseconds / 1_000_000_000
        if second != subject.bucket {
            subject.bucket = second
            subject.inBucket = 0
        }
        subject.inBucket += 1
        subject.peakPerSecond = max(subject.peakPerSecond, subject.inBucket)
        table[key] = subject
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
            let key = decision.subject
            var subject: Subject
            if let existing = table.removeValue(forKey: key) {
                subject = existing
            } else {
                subject = newSubject(key.description, firstLine: 0)
                keyOrder.append(key)
            }
            subject.decisionCount += 1
            if subject.decisions.count < decisionsKept {
                subject.decisions.append(decision)
            } else {
                subject.laterDecisions.append(decision)
            }
            if let to = decision.to, to.isContained || to.name == "awaiting-owner",
                !(decision.from?.isContained ?? false),
                decision.from?.name != "awaiting-owner"
            {
                subject.storms += 1
            }
            table[key] = subject
        }
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
