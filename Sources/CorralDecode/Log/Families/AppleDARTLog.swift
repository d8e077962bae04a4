import CorralCore

/// Apple DART faults as `apple_dart_t8020_irq()` / `apple_dart_t8110_irq()` report them
/// (drivers/iommu/apple-dart.c): `translation fault: status:0x%x stream:%d code:0x%x (%s) at
/// 0x%llx`, the name one of `READ FAULT`, `WRITE FAULT`, `NO PTE FOR IOVA`, `NO PMD FOR IOVA`,
/// `NO PGD FOR IOVA`, `NO TTBR FOR IOVA`, `unknown`. The stream index names the master.
enum AppleDARTLog: LogEventFamily {
    static let translationFault: StaticString = "translation fault: status:"
    static let stream: StaticString = "stream:"
    static let code: StaticString = "code:"
    static let at: StaticString = ") at "
    static let writeFault: StaticString = "(WRITE FAULT)"

    /// The gate: printed by a `dart` driver.
    static func mayTake(_ message: KernelMessage) -> Bool { message.driverContains("dart") }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard message.driverContains("dart") else { return .notMine }
        let text = message.body
        guard text.starts(with: translationFault) else { return .notMine }
        guard let streamAt = text.find(stream), let index = text.decimalNumber(at: streamAt + stream.count),
            index.value <= 0xFFFF_FFFF, let codeAt = text.find(code, from: index.end),
            let error = text.hexNumber(at: codeAt + code.count), let addressAt = text.find(at, from: error.end),
            let address = text.hexNumber(at: addressAt + at.count)
        else { return .malformed("Apple DART fault: stream, code or address unreadable") }
        var event = context.event(.dmaFault)
        event.vendor = .appleDART
        event.iommu = message.iommuInstance
        event.streamID = StreamID(UInt32(index.value))
        event.reason = UInt32(truncatingIfNeeded: error.value)
        event.address = IOVA(address.value)
        if let open = text[error.end...].firstIndex(of: 0x28), let close = text[open...].firstIndex(of: 0x29) {
            let name = text[open...close]
            event.reasonText = String(decoding: name.dropFirst().dropLast(), as: UTF8.self)
            event.access =
                name.equals(writeFault) ? .write : (name.starts(with: "(READ") ? .read : nil)
        }
        return .event(event, nil)
    }
}
