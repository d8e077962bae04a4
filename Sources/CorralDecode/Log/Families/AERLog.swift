import CorralCore

/// PCIe AER reports of drivers/pci/pcie/aer.c (reference/kernel-anchors.md §6.1), one event per
/// reported error at its header line, in all four header generations:
/// - `AER: Corrected error received: id=00e5` / `AER: Multiple Corrected error received: id=0010` (≤ v4;
///   the ID is bus << 8 | devfn)
/// - `AER: Corrected error received: 0000:01:00.0` (v5.x–6.7)
/// - `AER: Correctable error message received from 0000:03:04.0` (6.8+; `(no details found)` in 6.16+)
/// - or `PCIe Bus Error: severity=..., type=..., (Receiver ID)` when no header precedes it.
/// The `device [...] error status/mask=`, `[ n] Name`, `TLP Header:` lines belong to the error.
/// Severity: Corrected/Correctable → corrected, (Non-Fatal) → nonfatal, (Fatal) → fatal.
enum AERLog: LogEventFamily {
    static let errorReceived: StaticString = "error received"
    static let errorMessageReceived: StaticString = "error message received"
    static let busError: StaticString = "PCIe Bus Error: severity="
    static let statusMask: StaticString = "error status/mask="
    static let id: StaticString = "id="
    static let multiple: StaticString = "Multiple "
    static let detailAnchors: [StaticString] = [
        "TLP Header:", "Error of this Agent", "can't find device of ID", "found no error details",
        "aer_status:", "aer_layer=", "aer_agent=", "TLP Prefix", "Prefix Header", "AER: aer_", "Error Status",
    ]

    static let aerPrefix: StaticString = "AER:"
    /// Recovery and setup lines of aer.c and err.c (`pcie_do_recovery()`, `report_*()`): known
    /// to the family, no error of their own.
    static let recoveryPhrases: [StaticString] = [
        "device recovery", "can't recover", "Downstream Port link has been reset", "Root Port link has been reset",
        "broadcast ", "enabled with IRQ", "Device recovery", "Port link has been reset",
    ]
    static let severityWords: [StaticString] = [
        "Corrected", "Correctable", "Uncorrected", "Uncorrectable", "Multiple ",
    ]

    /// The gate: a device prefix, then `AER:`, a severity word or `PCIe Bus Error: severity=`.
    static func mayTake(_ message: KernelMessage) -> Bool {
        guard message.hasEmitter else { return false }
        let body = message.body
        return body.starts(with: aerPrefix) || body.starts(with: busError)
            || severityWords.contains(where: { body.starts(with: $0) })
    }

    /// Anchored after the `dev_printk` prefix of the port or device aer.c prints for
    /// (`pci_info(dev, "%s%s error message received from %s\n")`, `aer_print_error()`'s
    /// `"PCIe Bus Error: severity=%s, type=%s, (%s)\n"`), with its `dev_fmt` `AER: ` when
    /// present: the severity phrase or `PCIe Bus Error:` starts the body.
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard let text = message.devBody(droppingSubsystem: aerPrefix) else { return .notMine }
        if severityWords.contains(where: { text.starts(with: $0) }),
            let at = text.find(errorMessageReceived) ?? text.find(errorReceived), at - text.startIndex <= 48
        {
            let phrase = text[text.startIndex..<at]
            guard let severity = severity(phrase) else { return .notMine }
            var event = context.event(.aer)
            event.severity = severity
            event.reporter = message.pci
            var index =
                at + (text.matches(errorMessageReceived, at: at) ? errorMessageReceived.count : errorReceived.count)
            index = text.skippingBlanks(from: index)
            if text.matches("from", at: index) { index = text.skippingBlanks(from: index + 4) }
            if index < text.endIndex, text[index] == 0x3A { index = text.skippingBlanks(from: index + 1) }
            if text.matches(id, at: index) {
                guard let source = text.hexNumber(at: index + id.count, allowPrefix: false), source.value <= 0xFFFF
                else {
                    return .malformed("AER header: source id= unreadable")
                }
                event.device = PCIAddress(
                    segment: message.pci?.segment ?? 0, requesterID: RequesterID(rawValue: UInt16(source.value)))
            } else if let (source, _) = text.pciAddress(at: index) {
                event.device = source
            } else {
                event.device = message.pci
            }
            return .event(event, .aerDetails(busErrorSeen: false, multiple: phrase.contains(multiple)))
        }
        if text.starts(with: busError) {
            let at = text.startIndex
            guard let severity = severity(text[(at + busError.count)...]) else {
                return .malformed("AER detail: severity unreadable")
            }
            var event = context.event(.aer)
            event.severity = severity
            event.device = message.pci
            if let idAt = text.find(id, from: at), let source = text.hexNumber(at: idAt + id.count, allowPrefix: false),
                source.value <= 0xFFFF
            {
                event.device = PCIAddress(
                    segment: message.pci?.segment ?? 0, requesterID: RequesterID(rawValue: UInt16(source.value)))
            }
            return .event(event, .aerDetails(busErrorSeen: true, multiple: false))
        }
        if message.body.starts(with: aerPrefix), recoveryPhrases.contains(where: { text.starts(with: $0) }) {
            return .noEvent
        }
        return .notMine
    }

    /// Severity words of either vocabulary (before/after v6.8).
    static func severity(_ text: ByteText) -> AERSeverity? {
        if text.contains("Non-Fatal") || text.contains("non-fatal") { return .nonFatal }
        if text.contains("Fatal") { return .fatal }
        if text.contains("Corrected") || text.contains("Correctable") {
            return .corrected
        }
        return nil
    }

    /// A report continues only with lines printed for the same device (its detail lines come
    /// from `aer_print_error()` with the same `dev_printk` prefix).
    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool {
        guard case .aerDetails(let busErrorSeen, let multiple) = open.continuation,
            message.sameEmitter(as: open.emitter)
                || message.pci != nil && (message.pci == open.event.device || multiple),
            let body = message.devBody(droppingSubsystem: aerPrefix)
        else { return false }
        if body.starts(with: busError) {
            guard !busErrorSeen || multiple else { return false }
            open.continuation = .aerDetails(busErrorSeen: true, multiple: multiple)
            return true
        }
        if body.trimmed.starts(with: statusMask) || body.trimmed.starts(with: "device ["),
            let at = body.find(statusMask)
        {
            if open.event.status == nil, let status = body.hexNumber(at: at + statusMask.count, allowPrefix: false),
                status.value <= 0xFFFF_FFFF
            {
                open.event.status = UInt32(status.value)
            }
            return true
        }
        if isBitLine(body) { return true }
        return detailAnchors.contains { body.contains($0) }
    }

    /// `   [ 0] RxErr                  (First)` (after an optional `AER: `).
    static func isBitLine(_ body: ByteText) -> Bool {
        var text = body.trimmed
        if text.starts(with: "AER:") { text = text.dropFirst(4).trimmed }
        guard text.first == 0x5B else { return false }
        var index = text.skippingBlanks(from: text.startIndex + 1)
        guard let bit = text.decimalNumber(at: index), bit.value < 32 else { return false }
        index = bit.end
        return index < text.endIndex && text[index] == 0x5D
    }
}
