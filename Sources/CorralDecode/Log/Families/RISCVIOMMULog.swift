import CorralCore

/// The RISC-V IOMMU's fault queue as `riscv_iommu_fault()` reports it (drivers/iommu/riscv/
/// iommu.c, 6.13+): `dev_warn_ratelimited(iommu->dev, "Fault %d devid: 0x%x iotval: %llx
/// iotval2: %llx\n", cause, devid, iotval, iotval2)`.
///
/// CAUSE (RISC-V IOMMU spec, fault-queue record): 1/5/7 instruction/read/write access fault,
/// 12/13/15 instruction/read/write page fault, 20/21/23 the guest-stage ones — faults of the
/// device's DMA, with IOTVAL its address; 256 and up are the IOMMU's own (device or process
/// context unreadable, invalid or misconfigured, transaction type disallowed, MSI faults).
/// The device ID is the requester's (for PCI, its RID): held as a stream of that unit.
enum RISCVIOMMULog: LogEventFamily {
    static let fault: StaticString = "Fault "
    static let devid: StaticString = " devid: "
    static let iotval: StaticString = "iotval: "
    static let readCauses: Set<UInt64> = [1, 5, 12, 13, 20, 21]
    static let writeCauses: Set<UInt64> = [7, 15, 23]

    /// The gate: printed by a driver whose name holds `iommu`.
    static func mayTake(_ message: KernelMessage) -> Bool { message.driverContains("iommu") }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard message.driverContains("iommu") else { return .notMine }
        let text = message.body
        guard text.starts(with: fault), let cause = text.decimalNumber(at: text.startIndex + fault.count),
            text.matches(devid, at: cause.end)
        else { return .notMine }
        guard let device = text.hexNumber(at: cause.end + devid.count), device.value <= 0xFF_FFFF,
            let at = text.find(iotval, from: device.end), let address = text.hexNumber(at: at + iotval.count)
        else { return .malformed("RISC-V IOMMU fault: devid or iotval unreadable") }
        let isFault = readCauses.contains(cause.value) || writeCauses.contains(cause.value)
        var event = context.event(isFault ? .dmaFault : .iommuError)
        event.vendor = .riscv
        event.iommu = message.deviceName.map { IOMMUInstance($0.string) }
        event.streamID = StreamID(UInt32(device.value))
        event.reason = UInt32(truncatingIfNeeded: cause.value)
        if isFault {
            event.address = IOVA(address.value)
            event.access = writeCauses.contains(cause.value) ? .write : .read
        }
        return .event(event, nil)
    }
}
