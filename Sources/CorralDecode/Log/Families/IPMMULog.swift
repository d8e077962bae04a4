import CorralCore

/// Renesas IPMMU-VMSA faults as `ipmmu_domain_irq()` reports them (drivers/iommu/
/// ipmmu-vmsa.c): `Unhandled fault: status 0x%08x iova 0x%lx` (a translation or permission
/// fault no handler took; the unit does not say which master), and the unit's own errors
/// `Page Table Walk Abort @0x%lx`, `Multiple TLB hits @0x%lx`.
enum IPMMULog: LogEventFamily {
    static let unhandled: StaticString = "Unhandled fault: status "
    static let iova: StaticString = "iova "
    static let walkAbort: StaticString = "Page Table Walk Abort @"
    static let multipleHits: StaticString = "Multiple TLB hits @"

    /// The gate: printed by an `ipmmu` driver.
    static func mayTake(_ message: KernelMessage) -> Bool { message.driverContains("ipmmu") }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard message.driverContains("ipmmu") else { return .notMine }
        let text = message.body
        if text.starts(with: unhandled) {
            guard let status = text.hexNumber(at: text.startIndex + unhandled.count),
                let at = text.find(iova, from: status.end), let address = text.hexNumber(at: at + iova.count)
            else { return .malformed("IPMMU fault: status or iova unreadable") }
            var event = context.event(.dmaFault)
            event.vendor = .renesasIPMMU
            event.iommu = message.iommuInstance
            event.reason = UInt32(truncatingIfNeeded: status.value)
            event.address = IOVA(address.value)
            return .event(event, nil)
        }
        for (anchor, what) in [(walkAbort, "page table walk abort"), (multipleHits, "multiple TLB hits")]
        where text.starts(with: anchor) {
            var event = context.event(.iommuError)
            event.vendor = .renesasIPMMU
            event.iommu = message.iommuInstance
            event.address = text.hexNumber(at: text.startIndex + anchor.count).map { IOVA($0.value) }
            event.reasonText = what
            return .event(event, nil)
        }
        return .notMine
    }
}
