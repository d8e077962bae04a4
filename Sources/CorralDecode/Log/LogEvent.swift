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

extension LogEvent {
    /// One JSON object (no trailing newline): the schema keys in the README's order, then extras.
    public var json: String {
        var out = "{\"line\": \(line), \"class\": \"\(kind.rawValue)\""
        if let vendor { out += ", \"vendor\": \"\(vendor.rawValue)\"" }
        if let device { out += ", \"device\": \"\(device)\"" }
        if let iommu { out += ", \"iommu\": \(JSONText.quoted(iommu.name))" }
        if let streamID { out += ", \"stream_id\": \(streamID.rawValue)" }
        if let address { out += ", \"address\": \"\(address)\"" }
        if let access { out += ", \"access\": \"\(access.rawValue)\"" }
        if let reason { out += ", \"reason\": \(reason)" }
        if let severity { out += ", \"severity\": \"\(severity.rawValue)\"" }
        if let count { out += ", \"count\": \(count)" }
        if let irq { out += ", \"irq\": \(irq.rawValue)" }
        if lastLine != line { out += ", \"last_line\": \(lastLine)" }
        if let time { out += ", \"time\": \(time.description), \"clock\": \"\(time.clock.rawValue)\"" }
        if let pasid { out += ", \"pasid\": \(pasid.rawValue)" }
        if let reasonText { out += ", \"reason_text\": \(JSONText.quoted(reasonText))" }
        if let function { out += ", \"function\": \(JSONText.quoted(function))" }
        if let slotChange { out += ", \"slot_change\": \"\(slotChange.rawValue)\"" }
        if let status { out += ", \"status\": \"0x\(Hex.padded(status, width: 8))\"" }
        if let reporter { out += ", \"reporter\": \"\(reporter)\"" }
        if let raw {
            out += ", \"raw\": [" + raw.map { "\"0x\(Hex.padded($0, width: 16))\"" }.joined(separator: ", ") + "]"
        }
        if recoverable { out += ", \"recoverable\": true" }
        if stalled { out += ", \"stalled\": true" }
        return out + "}"
    }
}

/// Minimal JSON string quoting (the decode module stays free of Foundation).
public enum JSONText {
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out += "\\u" + Hex.padded(c.value, width: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
