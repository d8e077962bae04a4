/// One family of kernel messages (a vendor's IOMMU driver, AER, pciehp, ...), parsed by one file.
///
/// Like the kernel's IOMMU core and its vendor drivers: the parser knows nothing vendor-specific;
/// each family says whether a record starts one of its events and which following records
/// belong to an event it opened (multi-line reports are assembled into one event).
protocol LogEventFamily: Sendable {
    /// Whether `recognize` could take `message` at all: a few prefix checks on what
    /// `KernelMessage` already split, so that a line no family takes costs no family's
    /// parsing (issue 16: most lines of a log are not events). Must hold whenever `recognize`
    /// returns anything but `.notMine`; debug builds check that on every message the tests
    /// parse (`KernelLogParser.recognize`).
    static func mayTake(_ message: KernelMessage) -> Bool
    /// Whether `message` starts an event (or is one of this family's lines without an event).
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch
    /// Whether `message` continues `open` (an event this family opened); updates it if so.
    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool
}

extension LogEventFamily {
    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool { false }
}

/// What a family made of a record.
enum FamilyMatch {
    /// Not this family's message.
    case notMine
    /// This family's message, but not an event (`DRHD: handling fault status reg 2`).
    case noEvent
    /// An event, complete, or open for the records that follow (`continuation`).
    case event(LogEvent, Continuation?)
    /// This family's message with fields that could not be read: counted, never fatal.
    case malformed(String)
}

/// An event whose report continues over the next records.
struct OpenEvent {
    var event: LogEvent
    var continuation: Continuation
    let family: any LogEventFamily.Type
    /// The record that opened the event: its continuations come from the same emitter (a view
    /// of the parser's copy: the record itself lasts only until the next line).
    let emitter: KernelMessage
    /// The event is only valid once a continuation completes it (AMD-Vi `Event logged [` alone).
    var needsBody = false
}

/// The state of a multi-line report, per family.
enum Continuation {
    /// Old two-line VT-d form: waiting for `DMAR:[fault reason NN] ...`.
    case vtdReason
    /// AMD-Vi `Event logged [` split from its body; then DTE/command dumps.
    case amdBody
    case amdDumps
    /// SMMUv2 `FSR = ..., SID=` / `FSYNR0 = ...` decode lines, or `GFSR ...` after a global fault.
    case smmuContextDetail
    case smmuGlobalDetail
    /// SMMUv3: raw event dwords read so far, then the decoded 6.15+ lines.
    case smmuv3Words([UInt64])
    case smmuv3Decoded
    /// AER: detail lines of one reported error.
    case aerDetails(busErrorSeen: Bool, multiple: Bool)
    /// DPC: the `... detected` line after `containment event`.
    case dpcDetail
}

/// What families may remember between records (kept small and fixed-size).
struct FamilyContext {
    var line: Int
    var time: LogTime?
    /// The last `irq N: nobody cared`, so its `Disabling IRQ #N` is not a second storm.
    var lastNobodyCared: UInt32?

    func event(_ kind: LogEvent.Kind) -> LogEvent {
        var event = LogEvent(line: line, kind: kind)
        event.time = time
        return event
    }
}
