import CorralCore

/// Rockchip IOMMU faults as `rk_iommu_irq()` reports them (drivers/iommu/rockchip-iommu.c):
/// `Page fault at %pad of type %s` (`read` or `write`; the unit serves one master, so the
/// fault is the unit's) and `BUS_ERROR occurred at %pad` (the unit's own error). The
/// `log_iova()` lines after it (`iova = ...: dte_index: ...`) carry no event.
enum RockchipIOMMULog: LogEventFamily {
    static let pageFault: StaticString = "Page fault at "
    static let ofType: StaticString = " of type "
    static let busError: StaticString = "BUS_ERROR occurred at "
    static let write: StaticString = "write"

    /// The gate: printed by `rk_iommu` or a `rockchip` driver.
    static func mayTake(_ message: KernelMessage) -> Bool {
        message.driverContains("rk_iommu") || message.driverContains("rockchip")
    }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard message.driverContains("rk_iommu") || message.driverContains("rockchip")
        else { return .notMine }
        let text = message.body
        if text.starts(with: pageFault) {
            guard let address = text.hexNumber(at: text.startIndex + pageFault.count),
                let at = text.find(ofType, from: address.end)
            else { return .malformed("Rockchip IOMMU page fault: address or type unreadable") }
            var event = context.event(.dmaFault)
            event.vendor = .rockchip
            event.iommu = message.iommuInstance
            event.address = IOVA(address.value)
            event.access = text.matches(write, at: at + ofType.count) ? .write : .read
            return .event(event, nil)
        }
        if text.starts(with: busError) {
            var event = context.event(.iommuError)
            event.vendor = .rockchip
            event.iommu = message.iommuInstance
            event.address = text.hexNumber(at: text.startIndex + busError.count).map { IOVA($0.value) }
            event.reasonText = "bus error"
            return .event(event, nil)
        }
        return .notMine
    }
}
