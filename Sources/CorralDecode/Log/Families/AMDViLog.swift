import CorralCore

/// AMD-Vi messages (drivers/iommu/amd/iommu.c; reference/kernel-anchors.md §2.3), in each form:
/// - `AMD-Vi: Event logged [IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0x... flags=0x0070]` (≤ v4)
/// - `nvme 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0x... flags=0x0000]`
///   (per-device `pci_err()`: the device is the prefix's)
/// - `AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:01.0 ...]` (with PCI segment, ≥ v5.19)
/// - `iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=...]` (the IOMMU's own
///   name in the prefix is not the faulting device), followed by `DTE[n]:` dumps
/// - the record split by an unterminated printk: `Event logged [` then `NAME device=...]`
/// - `IOMMU event log overflow`, `Completion-Wait loop timed out`, `Command buffer timeout`.
enum AMDViLog: LogEventFamily {
    static let eventLogged: StaticString = "Event logged ["
    static let logOverflow: StaticString = "log overflow"
    static let completionWait: StaticString = "Completion-Wait loop timed out"
    static let commandTimeout: StaticString = "Command buffer timeout"
    static let device: StaticString = "device="
    static let address: StaticString = "address="
    static let flags: StaticString = "flags="
    static let pasid: StaticString = "pasid="
    static let domain: StaticString = "domain="
    static let gpa: StaticString = "gpa="
    static let spa: StaticString = "spa="
    static let dte: StaticString = "DTE["
    static let cmd: StaticString = "CMD["
    static let unknownWords: [StaticString] = ["event[0]=", "event[1]=", "event[2]=", "event[3]="]

    static let amdViPrefix: StaticString = "AMD-Vi:"
    static let iommuWord: StaticString = "IOMMU "
    static let eventLogOverflow: StaticString = "Event log overflow"

    /// Where amd/iommu.c's text starts (docs/safety.md): after its `pr_fmt` `AMD-Vi: ` at the
    /// start of the message (`pr_err`, 3.x–4.x `Event logged [IO_PAGE_FAULT device=...`), or
    /// after the `dev_printk` prefix with `dev_fmt` `AMD-Vi: ` (`iommu ivhd0: AMD-Vi: ...`,
    /// `nvme 0000:01:00.0: AMD-Vi: Event logged [...]`), or after the `pci_err(pdev, ...)`
    /// prefix of the faulting PCI device (`amd_iommu_report_page_fault()`, no `dev_fmt`).
    static func anchored(_ message: KernelMessage) -> ByteText? {
        if let rest = message.afterPrefix(amdViPrefix) { return rest }
        guard let body = message.devBody() else { return nil }
        if body.starts(with: amdViPrefix) {
            return body[body.skippingBlanks(from: body.startIndex + amdViPrefix.count)...]
        }
        return message.pci != nil && body.starts(with: eventLogged) ? body : nil
    }

    /// The gate: `anchored(_:)` needs `AMD-Vi:` first, or after a device prefix, or `Event logged [` there.
    static func mayTake(_ message: KernelMessage) -> Bool {
        if message.text.starts(with: amdViPrefix) { return true }
        guard message.hasEmitter else { return false }
        return message.body.starts(with: amdViPrefix) || message.body.starts(with: eventLogged)
    }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard let text = anchored(message) else { return .notMine }
        if text.starts(with: eventLogged) {
            var event = context.event(.iommuError)
            event.vendor = .amdVi
            // The prefix names the faulting device only when it is a PCI device (pci_err(pdev, ...)).
            event.device = message.pci
            let body = text[(text.startIndex + eventLogged.count)...].trimmed
            if body.isEmpty { return .event(event, .amdBody) }
            // `Event logged [Device not attached to domain properly]`: prose, not an event record.
            if body.count > 1, body[body.startIndex + 1].isLower { return .noEvent }
            return fill(&event, body: body).map { .malformed($0) } ?? .event(event, .amdDumps)
        }
        // `IOMMU event log overflow`, `IOMMU PPR log overflow` (`amd_iommu_int_thread()`).
        if (text.starts(with: iommuWord) || text.starts(with: eventLogOverflow)) && text.contains(logOverflow) {
            var event = context.event(.queueOverflow)
            event.vendor = .amdVi
            event.reasonText = text.trimmed.string
            return .event(event, nil)
        }
        if text.starts(with: completionWait) || text.starts(with: commandTimeout) {
            var event = context.event(.iommuError)
            event.vendor = .amdVi
            event.reasonText =
                text.starts(with: completionWait) ? "completion-wait loop timed out" : "command buffer timeout"
            return .event(event, nil)
        }
        return .notMine
    }

    static func fill(_ event: inout LogEvent, body: ByteText) -> String? {
        var end = body.startIndex
        while end < body.endIndex, body[end].isUpper || body[end].isDigit || body[end] == 0x5F { end += 1 }
        let name = body[body.startIndex..<end]
        guard !name.isEmpty else { return "AMD-Vi event without an event name" }
        if name.elementsEqual("UNKNOWN".utf8) {
            return fillUnknown(&event, body: body)
        }
        guard let code = AMDViEventCode(name: name) else {
            event.reasonText = name.string
            return nil
        }
        event.reason = UInt32(code.rawValue)
        event.reasonText = code.name
        if let at = body.find(device) {
            guard let (address, _) = body.pciAddress(at: at + device.count) else {
                return "AMD-Vi \(code.name): device= unreadable"
            }
            event.device = address
        }
        let addressValue = body.hexField(address) ?? body.hexField(gpa) ?? body.hexField(spa)
        if let addressValue { event.address = IOVA(addressValue.value) }
        if code == .ioPageFault {
            event.kind = .dmaFault
            if let flagsValue = body.hexField(flags) {
                // EVENT_FLAG_RW (0x020): 1 = write (the opposite polarity of VT-d's T bit).
                event.access = flagsValue.value & 0x20 != 0 ? .write : .read
                event.status = UInt32(truncatingIfNeeded: flagsValue.value)
                // GN (0x001): the domain field holds a PASID.
                if flagsValue.value & 0x1 != 0, let value = body.hexField(domain) ?? body.hexField(pasid) {
                    event.pasid = PASID(UInt32(truncatingIfNeeded: value.value))
                }
            }
        } else if let value = body.hexField(pasid), value.value != 0 {
            event.pasid = PASID(UInt32(truncatingIfNeeded: value.value))
        }
        return nil
    }

    /// `UNKNOWN event[0]=0x... event[1]=0x... event[2]=0x... event[3]=0x...`: decode the raw entry.
    static func fillUnknown(_ event: inout LogEvent, body: ByteText) -> String? {
        var words: [UInt32] = []
        for key in unknownWords {
            guard let value = body.hexField(key), value.value <= 0xFFFF_FFFF else {
                return "AMD-Vi UNKNOWN event: raw words unreadable"
            }
            words.append(UInt32(value.value))
        }
        let code = UInt8(words[1] >> 28)
        event.reason = UInt32(code)
        event.reasonText = AMDViEventCode(rawValue: code)?.name ?? "UNKNOWN"
        event.raw = RawWords(UInt64(words[1]) << 32 | UInt64(words[0]), UInt64(words[3]) << 32 | UInt64(words[2]))
        return nil
    }

    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool {
        switch open.continuation {
        case .amdBody:
            // The 3.x body printed as its own line right after `Event logged [`: a bare line
            // (no dev_printk prefix) that starts with an event name the driver knows.
            let body = message.body.trimmed
            guard !message.hasEmitter, let first = body.first, first.isUpper else { return false }
            var end = body.startIndex
            while end < body.endIndex, body[end].isUpper || body[end].isDigit || body[end] == 0x5F { end += 1 }
            let name = body[body.startIndex..<end]
            guard AMDViEventCode(name: name) != nil || name.elementsEqual("UNKNOWN".utf8) else { return false }
            if let problem = fill(&open.event, body: body) {
                open.event.reasonText = problem
                return false
            }
            open.continuation = .amdDumps
            open.needsBody = false
            return true
        case .amdDumps:
            // `dump_dte_entry()` / `dump_command()`: `DTE[%d]: %016llx`, `CMD[%d]: %08x`.
            guard let text = anchored(message) ?? (!message.hasEmitter ? message.text : nil) else { return false }
            return text.starts(with: dte) || text.starts(with: cmd)
        default:
            return false
        }
    }
}
