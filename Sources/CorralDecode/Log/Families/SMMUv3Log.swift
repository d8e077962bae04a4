import CorralCore

/// Arm SMMUv3 messages of drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (reference §3.3):
/// - `event 0x10 received:` + four `\t0x%016llx` lines (the raw record, decoded by
///   `SMMUv3EventRecord`); pastes may split a word (`0x00000180 00000010`)
/// - 6.15+: `event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x... ipa: 0x0`
///   then `unpriv data write s1 "Input address caused fault" stag: 0x0`
/// - `EVTQ overflow detected -- events lost`, `PRIQ overflow detected -- requests lost`,
///   `unexpected global error reported (0x...)`, `device has entered Service Failure Mode!`.
enum SMMUv3Log: LogEventFamily {
    static let event: StaticString = "event 0x"
    static let received: StaticString = " received:"
    static let decoded: StaticString = "event: "
    static let client: StaticString = "client: "
    static let sid: StaticString = "sid: "
    static let ssid: StaticString = "ssid: "
    static let iova: StaticString = "iova: "
    static let evtqOverflow: StaticString = "EVTQ overflow detected"
    static let priqOverflow: StaticString = "PRIQ overflow detected"
    static let globalError: StaticString = "unexpected global error reported"
    static let deviceEntered: StaticString = "device has entered Service Failure Mode"
    static let writeAborted: StaticString = "write aborted -- events may have been lost"
    static let read: StaticString = " read "
    static let write: StaticString = " write "

    static let smmu: StaticString = "smmu"

    /// The gate: printed by an SMMU driver.
    static func mayTake(_ message: KernelMessage) -> Bool { message.driverContains(smmu) }

    /// Anchored after the `dev_printk` prefix of the SMMU itself (`dev_info(smmu->dev, ...)` in
    /// `arm_smmu_evtq_thread()`, `arm_smmu_dump_event()`, `arm_smmu_gerror_handler()`): the
    /// driver is `arm-smmu-v3` and every format below starts the message body.
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard message.driverContains(smmu) else { return .notMine }
        let text = message.body
        if text.starts(with: event), let id = text.hexNumber(at: text.startIndex + event.count - 2),
            text.matches(received, at: id.end)
        {
            guard id.value <= 0xFF else { return .malformed("SMMUv3 event ID out of range") }
            var record = context.event(SMMUv3EventID.isDMAFault(UInt8(id.value)) ? .dmaFault : .iommuError)
            record.vendor = .armSMMUv3
            record.iommu = message.iommuInstance
            record.reason = UInt32(id.value)
            record.reasonText = SMMUv3EventID(rawValue: UInt8(id.value))?.name
            return .event(record, .smmuv3Words([]))
        }
        if text.starts(with: decoded), let (record, _) = decodedLine(text, message, context) {
            return .event(record, .smmuv3Decoded)
        }
        if text.starts(with: evtqOverflow) || text.starts(with: priqOverflow) {
            var record = context.event(.queueOverflow)
            record.vendor = .armSMMUv3
            record.iommu = message.iommuInstance
            record.reasonText = text.contains(evtqOverflow) ? "event queue overflow" : "page request queue overflow"
            return .event(record, nil)
        }
        if text.starts(with: globalError) || text.starts(with: deviceEntered)
            || ((text.starts(with: "EVTQ ") || text.starts(with: "PRIQ "))
                && text.contains(writeAborted))
        {
            var record = context.event(.iommuError)
            record.vendor = .armSMMUv3
            record.iommu = message.iommuInstance
            record.reasonText = text.trimmed.string
            return .event(record, nil)
        }
        return .notMine
    }

    /// The decoded 6.15+ line; returns the event and whether it named its event.
    static func decodedLine(_ text: ByteText, _ message: KernelMessage, _ context: FamilyContext) -> (LogEvent, Bool)? {
        let (name, _) = text.token(at: text.startIndex + decoded.count)
        guard text.contains(sid) || text.contains(client) else { return nil }
        let id = SMMUv3EventID(name: name)
        var record = context.event(id.map { SMMUv3EventID.isDMAFault($0.rawValue) } ?? false ? .dmaFault : .iommuError)
        record.vendor = .armSMMUv3
        record.iommu = message.iommuInstance
        if let id {
            record.reason = UInt32(id.rawValue)
            record.reasonText = id.name
        }
        enrich(&record, decoded: text)
        return (record, id != nil)
    }

    static func enrich(_ record: inout LogEvent, decoded text: ByteText) {
        if let at = text.find(client), let (device, _) = text.pciAddress(at: at + client.count) {
            record.device = device
        }
        if record.streamID == nil, let at = text.find(sid), let value = text.hexNumber(at: at + sid.count),
            value.value <= 0xFFFF_FFFF
        {
            record.streamID = StreamID(UInt32(value.value))
        }
        if record.address == nil, record.kind == .dmaFault, let at = text.find(iova),
            let value = text.hexNumber(at: at + iova.count)
        {
            record.address = IOVA(value.value)
        }
    }

    /// A report continues only with lines the same SMMU printed.
    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool {
        guard message.sameEmitter(as: open.emitter) else { return false }
        let body = message.body.trimmed
        switch open.continuation {
        case .smmuv3Words(var words):
            guard let word = rawWord(body) else { return false }
            words.append(word)
            if words.count == 4 {
                apply(SMMUv3EventRecord(words: (words[0], words[1], words[2], words[3])), to: &open.event)
                open.continuation = .smmuv3Decoded
            } else {
                open.continuation = .smmuv3Words(words)
            }
            return true
        case .smmuv3Decoded:
            if body.starts(with: decoded) {
                enrich(&open.event, decoded: body)
                return true
            }
            // `unpriv data write s1 "..." stag: 0x0` and `fetch_addr:` lines.
            if body.starts(with: "priv ") || body.starts(with: "unpriv ") {
                if open.event.access == nil, open.event.kind == .dmaFault {
                    if body.contains(read) { open.event.access = .read }
                    if body.contains(write) { open.event.access = .write }
                }
                return true
            }
            return body.contains("fetch_addr:")
        default:
            return false
        }
    }

    /// One printed dword: `0x0000010000000010`, tolerating a split (`0x00000180 00000010`).
    static func rawWord(_ text: ByteText) -> UInt64? {
        guard text.starts(with: "0x") else { return nil }
        var value: UInt64 = 0
        var digits = 0
        var index = text.startIndex + 2
        while index < text.endIndex {
            let byte = text[index]
            if let digit = byte.hexValue {
                digits += 1
                guard digits <= 16 else { return nil }
                value = value << 4 | UInt64(digit)
            } else if !byte.isBlank {
                return nil
            }
            index += 1
        }
        return digits == 16 ? value : nil
    }

    static func apply(_ record: SMMUv3EventRecord, to event: inout LogEvent) {
        event.raw = RawWords(record.words.0, record.words.1, record.words.2, record.words.3)
        event.streamID = record.streamID
        if let ssid = record.substreamID { event.pasid = PASID(ssid) }
        if SMMUv3EventID.isDMAFault(record.id) {
            event.address = IOVA(record.inputAddress)
            event.access = record.readNotWrite ? .read : .write
        }
        // `arm_smmu_evtq_thread()` prints an event only when `arm_smmu_handle_evt()` failed:
        // a stalled transaction that was printed is one the kernel could not resolve (no IOPF
        // handler took it, or it failed) — a fault like any other. Only page requests and
        // stalls the kernel resolved are recoverable, and those are never printed.
        event.stalled = record.stalled
        event.recoverable = false
    }
}
