import CorralCore

/// Arm SMMUv2 (and MMU-500) messages of drivers/iommu/arm/arm-smmu/arm-smmu.c
/// (reference/kernel-anchors.md §4):
/// - `Unhandled context fault: fsr=0x402, iova=0x9c4b9000, fsynr=0x7c0020, cbfrsynra=0x800, cb=7`
///   (older kernels without `cbfrsynra`); access from FSYNR0.WNR (bit 4, 1 = write).
///   `cbfrsynra` is not a stream ID; the v6.11+ follow-up `FSR = ... SID=0x800` line gives it.
///   Lines without `fsr=` (NVIDIA Tegra's `iova=..., fsynr=..., cb=N, sid=N(...)`, downstream
///   trees) are faults all the same, with no reason.
/// - `Unexpected context fault (fsr 0x2)` (3.x `arm_smmu_context_fault()`): a fault, reason FSR.
/// - `Unexpected global fault, this could be serious` / `Blocked unknown Stream ID 0x..` + `GFSR ...`.
///
/// Qualcomm's firmware-managed SMMUv2 (drivers/iommu/arm/arm-smmu/qcom_iommu.c,
/// `qcom_iommu_fault()`) prints the pre-`cbfrsynra` line from each context bank's own device:
/// `qcom-iommu-ctx 1ef4000.iommu-ctx: Unhandled context fault: fsr=0x402,
/// iova=0x0000000012345000, fsynr=0x1, cb=3` (`cb` is the bank's ASID). Each bank serves its
/// own masters, so that device is the fault's unit.
enum SMMUv2Log: LogEventFamily {
    static let contextFault: StaticString = "Unhandled context fault:"
    static let unexpectedContextFault: StaticString = "Unexpected context fault (fsr "
    static let globalFault: StaticString = "Unexpected global fault"
    static let blockedStream: StaticString = "Blocked unknown Stream ID "
    static let fsr: StaticString = "fsr="
    static let iova: StaticString = "iova="
    static let fsynr: StaticString = "fsynr="
    static let sid: StaticString = "SID="
    static let cbfrsynra: StaticString = "cbfrsynra="
    static let tegraSid: StaticString = "sid="
    /// The lines of one report after (or, downstream, around) the fault line: upstream
    /// `arm_smmu_print_context_fault_info()` (6.11+: `FSR = ... SID=`, `FSYNR0 = ...`), and
    /// Qualcomm's downstream `print_ctx_regs()` and follow-ups (`SSD=0x%x SID=0x%x`,
    /// `Client info: ...`, `soft iova-to-phys=...`, a lone `SID=0x40`).
    static let detailPrefixes: [StaticString] = [
        "FSR", "FSYNR", "FAR", "PAR", "TTBR", "SCTLR", "CONTEXTIDR", "CBFRSYNRA", "SSD=", "SID=", "Client info:",
        "soft iova-to-phys", "hard iova-to-phys", "SOFTWARE TABLE WALK", "MAIR", "CBAR", "ACTLR",
    ]
    static let gfsr: StaticString = "GFSR"

    static let smmuDriver: StaticString = "smmu"
    static let qcomContextDriver: StaticString = "qcom-iommu"

    /// The gate: printed by an SMMU driver, or by a bank of Qualcomm's `qcom_iommu`.
    static func mayTake(_ message: KernelMessage) -> Bool {
        message.driverContains(smmuDriver) || message.driverContains(qcomContextDriver)
    }

    /// Anchored after the `dev_printk` prefix of the SMMU itself (`dev_err_ratelimited(smmu->dev,
    /// ...)` in `arm_smmu_context_fault()` and `arm_smmu_global_fault()`; driver `arm-smmu`, or a
    /// vendor's `*smmu*`): every format below starts the message body.
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard mayTake(message) else { return .notMine }
        let text = message.body
        if text.starts(with: contextFault) {
            let at = text.startIndex
            var event = context.event(.dmaFault)
            event.vendor = .armSMMU
            event.iommu = message.iommuInstance
            var fsrValue: UInt32?
            if text.find(fsr, from: at) != nil {
                guard let value = text.hexField(fsr, from: at), value.value <= 0xFFFF_FFFF else {
                    return .malformed("SMMU context fault: fsr= unreadable")
                }
                fsrValue = UInt32(value.value)
            }
            event.reason = fsrValue
            if let address = text.hexField(iova, from: at) { event.address = IOVA(address.value) }
            // The faulting stream, so the fault is held against it and not the whole SMMU:
            // `cbfrsynra=` (4.x–6.10; CBFRSYNRA[15:0] is the StreamID, `ARM_SMMU_CBFRSYNRA_SID`,
            // what 6.11+ prints as `SID=`), NVIDIA Tegra's `sid=`, else a later `SID=` line.
            if let value = text.hexField(cbfrsynra, from: at) {
                event.streamID = StreamID(UInt32(value.value & 0xFFFF))
            } else if let sidAt = text.find(tegraSid, from: at),
                let value = text.hexOrDecimalNumber(at: sidAt + tegraSid.count), value.value <= 0xFFFF_FFFF
            {
                event.streamID = StreamID(UInt32(value.value))
            }
            if let syndrome = text.hexField(fsynr, from: at) {
                event.access = syndrome.value & SMMUv2ContextFault.fsynr0WNR != 0 ? .write : .read
            }
            event.reasonText = fsrValue.map { SMMUv2ContextFault.describe(fsr: $0) }
            return .event(event, .smmuContextDetail)
        }
        if text.starts(with: unexpectedContextFault) {
            guard let value = text.hexNumber(at: text.startIndex + unexpectedContextFault.count),
                value.value <= 0xFFFF_FFFF
            else { return .malformed("SMMU context fault: fsr unreadable") }
            var event = context.event(.dmaFault)
            event.vendor = .armSMMU
            event.iommu = message.iommuInstance
            event.reason = UInt32(value.value)
            event.reasonText = SMMUv2ContextFault.describe(fsr: UInt32(value.value))
            return .event(event, .smmuContextDetail)
        }
        if text.starts(with: globalFault) || text.starts(with: blockedStream) {
            var event = context.event(.iommuError)
            event.vendor = .armSMMU
            event.iommu = message.iommuInstance
            event.reasonText = "global fault"
            if let at = text.find(blockedStream), let stream = text.hexNumber(at: at + blockedStream.count),
                stream.value <= 0xFFFF_FFFF
            {
                event.streamID = StreamID(UInt32(stream.value))
                event.reasonText = "blocked unknown stream ID"
            }
            return .event(event, .smmuGlobalDetail)
        }
        // A decode line whose fault line is not in the log (a paste that starts after it).
        if detailPrefixes.contains(where: { text.starts(with: $0) }) { return .noEvent }
        return .notMine
    }

    /// A report continues only with lines the same SMMU printed.
    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool {
        guard message.sameEmitter(as: open.emitter) else { return false }
        let body = message.body.trimmed
        switch open.continuation {
        case .smmuContextDetail:
            guard detailPrefixes.contains(where: { body.starts(with: $0) }) else { return false }
            // An explicit `SID=` wins over the first line's `cbfrsynra=`: upstream prints the same
            // value in both; Qualcomm's downstream trees print the real one only here (after
            // `soft iova-to-phys=`), with a `cbfrsynra` that is not it.
            if let value = body.hexField(sid), value.value <= 0xFFFF_FFFF {
                open.event.streamID = StreamID(UInt32(value.value))
            }
            return true
        case .smmuGlobalDetail:
            return body.starts(with: gfsr)
        default:
            return false
        }
    }
}
