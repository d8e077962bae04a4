/// What the daemon counts about itself, journaled with each transaction so `/metrics` (in the
/// daemon or in `corral serve`) can show it: a typed vocabulary, one name per counter, each
/// exposed as `corral_<name>_total`.
public enum DaemonCounter: String, CaseIterable, Hashable, Sendable, Codable {
    /// Kernel records the ring buffer overwrote before the daemon read them (EPIPE and gaps).
    case kmsgRecordsLost = "kmsg_records_lost"
    /// Records from a facility other than the kernel (user space, forgeries): ignored.
    case kmsgRecordsNotKernel = "kmsg_records_not_kernel"
    /// Reads of /dev/kmsg that failed (the record is read again next time).
    case kmsgReadFailures = "kmsg_read_failures"
    /// Records whose header could not be read: skipped.
    case kmsgRecordsMalformed = "kmsg_records_malformed"
    /// Actions the circuit breaker turned into recommendations.
    case circuitBreakerDowngrades = "circuit_breaker_downgrades"
    /// Actions the host could not carry out for a reason of its own, tried again.
    case actionsDeferred = "actions_deferred"
    /// Inventory refreshes that could not read part of sysfs.
    case inventoryReadFailures = "inventory_read_failures"
    /// Events from before the daemon started: journaled, never acted on.
    case historyEvents = "history_events"
    /// Journal transactions that failed (their rows are kept and retried, or counted lost).
    case journalFailedWrites = "journal_failed_writes"
    /// Tracepoint records read and made into engine events.
    case traceRecords = "trace_records"
    /// Tracepoint records the kernel overwrote before the daemon read them, as the binary
    /// per-CPU pages stored their number.
    case traceRecordsLost = "trace_records_lost"
    /// Tracepoint pages that said records were lost before them (with or without a count).
    case tracePagesAfterLoss = "trace_pages_after_loss"
    /// Tracepoint pages that could not be walked: the rest of the page skipped.
    case tracePagesMalformed = "trace_pages_malformed"

    public var help: String {
        switch self {
        case .kmsgRecordsLost: "Kernel records overwritten in the ring buffer before Corral read them."
        case .kmsgRecordsNotKernel: "Records in /dev/kmsg not from the kernel (user space, forgeries), ignored."
        case .kmsgReadFailures: "Reads of /dev/kmsg that failed (the record is read again)."
        case .kmsgRecordsMalformed: "Records in /dev/kmsg whose header could not be read, skipped."
        case .circuitBreakerDowngrades: "Actions the circuit breaker turned into recommendations."
        case .actionsDeferred: "Actions deferred for a reason of the host's own (EMFILE, ENOMEM...), tried again."
        case .inventoryReadFailures: "PCI inventory refreshes that could not read part of sysfs."
        case .historyEvents: "Events logged before the daemon started: journaled, never acted on."
        case .journalFailedWrites: "Journal transactions that failed."
        case .traceRecords: "Tracepoint records read (AER, hot-plug, IOMMU page faults)."
        case .traceRecordsLost: "Tracepoint records overwritten in the per-CPU buffers before Corral read them."
        case .tracePagesAfterLoss: "Tracepoint pages that said records were lost before them."
        case .tracePagesMalformed: "Tracepoint pages that could not be read, skipped."
        }
    }
}
