import CorralCore

/// One device event found in a kernel log, in the normalized schema of `corral decode --json`
/// (the spec is `shared/corpus/kernel-logs/README.md`; every corpus `.expected.jsonl` uses it).
///
/// The schema fields come first; the rest are optional extras that scripts may use and the
/// corpus comparison ignores.
public struct LogEvent: Hashable, Sendable {
    /// The `class` values of the schema.
    public enum Kind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        case dmaFault = "dma-fault"
        case interruptRemapFault = "interrupt-remap-fault"
        case iommuError = "iommu-error"
        case queueOverflow = "queue-overflow"
        case suppressed = "suppressed"
        case aer = "aer"
        case dpc = "dpc"
        case hotplug = "hotplug"
        case deviceLost = "device-lost"
        case irqStorm = "irq-storm"
        public var description: String { rawValue }

        /// Position in `allCases` (dense counters: no hashing per event).
        public var index: Int {
            switch self {
            case .dmaFault: 0
            case .interruptRemapFault: 1
            case .iommuError: 2
            case .queueOverflow: 3
            case .suppressed: 4
            case .aer: 5
            case .dpc: 6
            case .hotplug: 7
            case .deviceLost: 8
            case .irqStorm: 9
            }
        }
    }

    /// What a pciehp line said happened to the slot.
    public enum SlotChange: String, Hashable, Sendable {
        case linkDown = "link-down"
        case linkUp = "link-up"
        case cardPresent = "card-present"
        case cardNotPresent = "card-not-present"
        case attentionButton = "attention-button"
    }

    // Schema fields.
    /// 1-based input line where the event's record starts.
    public var line: Int
    public var kind: Kind
    public var vendor: IOMMUVendor?
    public var device: PCIAddress?
    public var iommu: IOMMUInstance?
    public var streamID: StreamID?
    public var address: IOVA?
    public var access: DMAAccess?
    /// VT-d fault reason, AMD-Vi event code, SMMUv3 event ID or SMMUv2 FSR value.
    public var reason: UInt32?
    public var severity: AERSeverity?
    /// Messages the kernel dropped (`suppressed` only).
    public var count: UInt64?
    public var irq: IRQNumber?

    // Extras.
    /// When the kernel logged it, if the line said.
    public var time: LogTime?
    /// Last input line of the record (multi-line records).
    public var lastLine: Int
    public var pasid: PASID?
    /// The reason or event name as the kernel printed or as the tables say.
    public var reasonText: String?
    /// The rate-limited function (`suppressed`), e.g. `dmar_fault`.
    public var function: String?
    public var slotChange: SlotChange?
    /// AER uncorrectable/correctable status register, when printed.
    public var status: UInt32?
    /// The device that reported it, when it differs from `device` (AER root port; DPC source).
    public var reporter: PCIAddress?
    /// Raw record words, when the log printed them (SMMUv3 event dwords).
    public var raw: RawWords?
    /// The fault was a recoverable one (page request, stalled transaction).
    public var recoverable: Bool
    /// The transaction was stalled (SMMUv3 STALL, SMMUv2 FSR.SS). In a printed record that is
    /// *not* recoverable: the kernel prints only the events it failed to resolve.
    public var stalled = false

    public init(line: Int, kind: Kind) {
        self.line = line
        self.lastLine = line
        self.kind = kind
        self.recoverable = false
    }
}

/// A log timestamp. Kernel timestamps (`[  12.345678]`, `/dev/kmsg` microseconds) count from
/// boot; syslog/journald stamps are wall-clock, often without a year and at 1 s resolution.
public struct LogTime: Hashable, Sendable, CustomStringConvertible {
    public enum Clock: String, Hashable, Sendable {
        /// Seconds since boot (dmesg, /dev/kmsg).
        case sinceBoot = "boot"
        /// Wall clock, as printed by syslog, journald or `dmesg -T`.
        case wallClock = "wall"
    }
    public var clock: Clock
    /// Nanoseconds on that clock (wall clock: from an arbitrary origin, only differences matter).
    public var nanoseconds: Int64

    public init(clock: Clock, nanoseconds: Int64) {
        self.clock = clock
        self.nanoseconds = nanoseconds
    }

    public var description: String {
        let seconds = nanoseconds / 1_000_000_000
        let micros = (nanoseconds % 1_000_000_000) / 1000
        let fraction = String(micros)
        return "\(seconds)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}

extension LogEvent: Encodable {
    enum JSONKey: String, CodingKey {
        case line, vendor, device, iommu, address, access, reason, severity, count, irq, time, clock, pasid
        case function, status, reporter, raw, recoverable, stalled
        case kind = "class"
        case faultKind = "kind"
        case streamID = "stream_id"
        case lastLine = "last_line"
        case reasonText = "reason_text"
        case slotChange = "slot_change"
    }

    /// One object of `corral decode --json`: the README's schema keys, then the extras; keys
    /// that do not apply are left out. Text the kernel printed (an IOMMU's name, a reason, a
    /// function) is whatever a driver or device put there, so it is encoded, never pasted.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode(line, forKey: .line)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encodeIfPresent(vendor?.rawValue, forKey: .vendor)
        try container.encodeIfPresent(device?.description, forKey: .device)
        try container.encodeIfPresent(iommu?.name, forKey: .iommu)
        try container.encodeIfPresent(streamID?.rawValue, forKey: .streamID)
        try container.encodeIfPresent(address?.description, forKey: .address)
        try container.encodeIfPresent(access?.rawValue, forKey: .access)
        // What the fault was, as the engine reads it (`not-present`, `write-to-read-only`, ...):
        // shown, not only computed.
        if kind == .dmaFault, vendor != nil { try container.encode(faultKind.rawValue, forKey: .faultKind) }
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(severity?.rawValue, forKey: .severity)
        try container.encodeIfPresent(count, forKey: .count)
        try container.encodeIfPresent(irq?.rawValue, forKey: .irq)
        if lastLine != line { try container.encode(lastLine, forKey: .lastLine) }
        if let time {
            // Seconds with microseconds, as the kernel prints them (a number, for scripts).
            try container.encode(time.seconds, forKey: .time)
            try container.encode(time.clock.rawValue, forKey: .clock)
        }
        try container.encodeIfPresent(pasid?.rawValue, forKey: .pasid)
        try container.encodeIfPresent(reasonText, forKey: .reasonText)
        try container.encodeIfPresent(function, forKey: .function)
        try container.encodeIfPresent(slotChange?.rawValue, forKey: .slotChange)
        try container.encodeIfPresent(status.map { "0x" + Hex.padded($0, width: 8) }, forKey: .status)
        try container.encodeIfPresent(reporter?.description, forKey: .reporter)
        try container.encodeIfPresent(raw?.map { "0x" + Hex.padded($0, width: 16) }, forKey: .raw)
        if recoverable { try container.encode(true, forKey: .recoverable) }
        if stalled { try container.encode(true, forKey: .stalled) }
    }
}

extension LogTime {
    /// Seconds on the log's clock, rounded to the microsecond the kernel prints.
    public var seconds: Double {
        Double(nanoseconds / 1_000_000_000) + Double((nanoseconds % 1_000_000_000) / 1000) / 1_000_000
    }
}

/// Counts of events per `LogEvent.Kind`, in an array indexed by `Kind.index`: counted on the
/// per-event path without hashing (the parser's statistics, each replayed device).
struct EventKindCounts: Sendable {
    private var counts = [Int](repeating: 0, count: LogEvent.Kind.allCases.count)

    mutating func add(_ kind: LogEvent.Kind) { counts[kind.index] += 1 }

    /// Adds what `later` counted after `point` (an earlier copy of `later`).
    mutating func add(_ later: EventKindCounts, since point: EventKindCounts) {
        for index in counts.indices { counts[index] += later.counts[index] - point.counts[index] }
    }

    var total: Int { counts.reduce(0, +) }

    /// The kinds that occurred, with their counts.
    var byKind: [LogEvent.Kind: Int] {
        var out: [LogEvent.Kind: Int] = [:]
        for kind in LogEvent.Kind.allCases where counts[kind.index] > 0 { out[kind] = counts[kind.index] }
        return out
    }
}
