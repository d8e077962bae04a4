import CorralCore

/// MediaTek M4U faults as `mtk_iommu_isr()` reports them (drivers/iommu/mtk_iommu.c):
/// `[bank(%u) ]fault type=0x%x iova=0x%llx pa=0x%llx master=0x%x(larb=%d port=%d) layer=%d
/// %s` (`master=` since 5.13, `bank(N)` since 6.0; before: `... pa=0x%llx larb=%d port=%d
/// layer=%d %s`), the last word `read` or `write`. The master ID names the DMA master on the
/// unit; without it the fault is the unit's.
enum MediaTekIOMMULog: LogEventFamily {
    static let faultType: StaticString = "fault type="
    static let bank: StaticString = "bank("
    static let iova: StaticString = "iova="
    static let master: StaticString = "master="
    static let write: StaticString = " write"

    /// The gate: printed by a `mtk` driver.
    static func mayTake(_ message: KernelMessage) -> Bool { message.driverContains("mtk") }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard message.driverContains("mtk") else { return .notMine }
        let text = message.body.trimmed
        var start = text.startIndex
        if text.starts(with: bank), let close = text.firstIndex(of: 0x29) {
            start = text.skippingBlanks(from: close + 1)
        }
        guard text.matches(faultType, at: start) else { return .notMine }
        guard let type = text.hexNumber(at: start + faultType.count), let address = text.hexField(iova, from: start)
        else { return .malformed("MediaTek IOMMU fault: type or iova unreadable") }
        var event = context.event(.dmaFault)
        event.vendor = .mediatek
        event.iommu = message.iommuInstance
        event.reason = UInt32(truncatingIfNeeded: type.value)
        event.address = IOVA(address.value)
        if let id = text.hexField(master, from: start), id.value <= 0xFFFF_FFFF {
            event.streamID = StreamID(UInt32(id.value))
        }
        event.access = text.ends(with: write) ? .write : .read
        return .event(event, nil)
    }
}
