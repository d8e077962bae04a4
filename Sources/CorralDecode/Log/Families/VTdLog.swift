import CorralCore

/// Intel VT-d messages of `dmar_fault()` / `dmar_fault_do_one()` (drivers/iommu/intel/dmar.c), in
/// every generation (reference/kernel-anchors.md §1.2):
/// - `[DMA Read] Request device [00:02.0] fault addr 9c000000 [fault reason 06] ...` (≤ v4, `%02d`)
/// - `[DMA Read] Request device [00:02.0] PASID ffffffff fault addr ... [fault reason 06]` (v5.x)
/// - `[DMA Read NO_PASID] Request device [0x00:0x02.0] ...` (short-lived ~v5.9)
/// - `[DMA Write NO_PASID] Request device [00:03.0] fault addr 0x100000 [fault reason 0x05] ...`
/// - `[DMA Read PASID 0x1] Request device [0000:00:02.0] ...` (PASID, and segment in 7.x trees)
/// - `[INTR-REMAP] Request device [42:00.2] fault index 1600 [fault reason 37] ...`
/// - the old two-line form `DMAR:[DMA Write] ... fault addr A` + `DMAR:[fault reason NN] text`
/// - `DRHD: handling fault status reg N`: primary fault overflow when bit 0 (PFO) of N is set.
///
/// Anchored where dmar.c's text starts (docs/safety.md): the message must begin with `DMAR:`
/// (`#define pr_fmt(fmt) "DMAR: " fmt`; 3.x kernels printed `dmar: DMAR:[...]`), or
/// `INTR-REMAP:` (3.x `intr_remapping.c`), and the record's own text must follow right after
/// it: `[<access>] Request device [`, `DRHD: handling fault status reg `, `VT-d detected
/// Invalidation ...` (`qi_check_fault()`). A `DMAR: [DMA Write] Request device [...]` further
/// into a message (a USB product string, a firmware name) is not a VT-d record.
enum VTdLog: LogEventFamily {
    static let requestDevice: StaticString = "Request device ["
    static let faultReason: StaticString = "[fault reason "
    static let faultAddr: StaticString = "fault addr "
    static let faultIndex: StaticString = "fault index "
    static let intrRemap: StaticString = "INTR-REMAP"
    static let dmaRead: StaticString = "DMA Read"
    static let dmaWrite: StaticString = "DMA Write"
    static let pasid: StaticString = "PASID "
    static let statusReg: StaticString = "DRHD: handling fault status reg "
    static let invalidationDetected: StaticString = "VT-d detected Invalidation "
    static let invalidationTimeout: StaticString = "Time-out Error"
    static let prqOverflow: StaticString = "PRQ overflow detected"
    static let sid: StaticString = "SID "
    static let dmarPrefix: StaticString = "DMAR:"
    static let legacyPrefix: StaticString = "dmar: "
    static let intrRemapPrefix: StaticString = "INTR-REMAP: "
    static let iommuPrefix: StaticString = "IOMMU: "

    /// The text after dmar.c's `pr_fmt` prefix, or nil when the message does not start with it.
    /// Current kernels: `DMAR: `. 3.x: `dmar: ` (`dmar: DRHD: handling fault status reg 2`),
    /// whose fault line itself began `DMAR:[DMA Read] ...` and whose reason line, printed by
    /// the same printk after a newline, has only `DMAR:[fault reason 12] ...`.
    static func anchored(_ message: KernelMessage) -> ByteText? {
        var text = message.text
        var prefixed = false
        if text.starts(with: legacyPrefix) {
            text = text[text.skippingBlanks(from: text.startIndex + legacyPrefix.count)...]
            prefixed = true
        }
        if text.starts(with: dmarPrefix) {
            return text[text.skippingBlanks(from: text.startIndex + dmarPrefix.count)...]
        }
        if prefixed { return text }
        if text.starts(with: intrRemapPrefix) { return text }
        return nil
    }

    /// `[DMA Write NO_PASID] Request device [`: the bracket closes and `Request device [`
    /// follows at once (or, 3.x, `INTR-REMAP: Request device [`). The index of the device.
    static func requestDeviceStart(_ text: ByteText) -> Int? {
        if text.starts(with: intrRemapPrefix), text.matches(requestDevice, at: text.startIndex + intrRemapPrefix.count)
        {
            return text.startIndex + intrRemapPrefix.count + requestDevice.count
        }
        guard text.first == 0x5B, let close = text.find([0x5D]), text.matches([0x20], at: close + 1),
            text.matches(requestDevice, at: close + 2)
        else { return nil }
        return close + 2 + requestDevice.count
    }

    /// The gate (`LogEventFamily.mayTake`): `anchored(_:)` needs one of the prefixes at the start.
    static func mayTake(_ message: KernelMessage) -> Bool {
        let text = message.text
        return text.starts(with: dmarPrefix) || text.starts(with: legacyPrefix) || text.starts(with: intrRemapPrefix)
    }

    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard let text = anchored(message) else { return .notMine }
        if let at = requestDeviceStart(text) {
            return request(text, deviceAt: at, context)
        }
        if text.starts(with: statusReg) {
            guard let status = text.hexNumber(at: text.startIndex + statusReg.count, allowPrefix: true) else {
                return .malformed("VT-d fault status register value unreadable")
            }
            // FSTS bit 0 = PFO: a fault arrived while every fault recording register was full.
            guard status.value & 1 == 1 else { return .noEvent }
            var event = context.event(.queueOverflow)
            event.vendor = .intelVTd
            event.status = UInt32(truncatingIfNeeded: status.value)
            event.reasonText = "primary fault overflow (FSTS.PFO)"
            return .event(event, nil)
        }
        if text.starts(with: faultReason) { return .noEvent }  // orphan second line of the old form
        if text.starts(with: invalidationDetected) {
            var event = context.event(.iommuError)
            event.vendor = .intelVTd
            let kind = text[(text.startIndex + invalidationDetected.count)...]
            event.reasonText =
                kind.starts(with: invalidationTimeout) ? "invalidation time-out" : "invalidation queue error"
            if let at = text.find(sid), let sid = text.hexNumber(at: at + sid.count), sid.value <= 0xFFFF {
                event.device = PCIAddress(requesterID: RequesterID(rawValue: UInt16(sid.value)))
            }
            return .event(event, nil)
        }
        // `prq_event_thread()`: `pr_info_ratelimited("IOMMU: %s: PRQ overflow detected\n", iommu->name)`.
        if text.starts(with: prqOverflow) || (text.starts(with: iommuPrefix) && text.contains(prqOverflow)) {
            var event = context.event(.queueOverflow)
            event.vendor = .intelVTd
            event.reasonText = "page request queue overflow"
            return .event(event, nil)
        }
        return .notMine
    }

    /// One `... Request device [BDF] ...` line.
    static func request(_ text: ByteText, deviceAt: Int, _ context: FamilyContext) -> FamilyMatch {
        // 3.x `intr_remapping.c` printed "Request device [[%02x:%02x.%d] fault index %llx": a
        // doubled bracket in its format string.
        var deviceAt = deviceAt
        if deviceAt < text.endIndex, text[deviceAt] == UInt8(ascii: "[") { deviceAt += 1 }
        guard let (device, afterDevice) = text.pciAddress(at: deviceAt) else {
            return .malformed("VT-d fault: device after 'Request device [' unreadable")
        }
        let head = text[text.startIndex..<deviceAt]
        let interruptRemap = head.contains(intrRemap) || text.contains(faultIndex)
        var event = context.event(interruptRemap ? .interruptRemapFault : .dmaFault)
        event.vendor = .intelVTd
        event.device = device
        if !interruptRemap {
            if head.contains(dmaRead) {
                event.access = .read
            } else if head.contains(dmaWrite) {
                event.access = .write
            }
        }
        // PASID: `[DMA Read PASID 0x1]` (current) or `PASID ffffffff` after the device (v5.x; all-ones = none).
        if let at = text.find(pasid), !text.matches("NO_PASID", at: at - 3),
            let value = text.hexNumber(at: at + pasid.count), value.value < 0xFFFF_FFFF
        {
            event.pasid = PASID(UInt32(value.value))
        }
        if let at = text.find(faultAddr, from: afterDevice) {
            guard let address = text.hexNumber(at: at + faultAddr.count) else {
                return .malformed("VT-d fault: address after 'fault addr' unreadable")
            }
            event.address = IOVA(address.value)
        }
        if let at = text.find(faultReason, from: afterDevice) {
            guard let reason = text.hexOrDecimalNumber(at: at + faultReason.count), reason.value <= 0xFF else {
                return .malformed("VT-d fault: reason unreadable")
            }
            event.reason = UInt32(reason.value)
            event.reasonText = reasonText(text, after: reason.end, code: UInt8(reason.value))
            return .event(event, nil)
        }
        // Old two-line form: the reason comes on the next line — for DMA faults `DMAR:[fault
        // reason NN] text`, and for 3.x interrupt-remapping faults (`... fault index 15`)
        // `INTR-REMAP:[fault reason NN] text` (3.x dmar.c, `dmar_fault_do_one()`: one pr_err
        // with two lines).
        return .event(event, .vtdReason)
    }

    /// The second line of a 3.x interrupt-remapping fault, `INTR-REMAP:[fault reason 34] ...`
    /// (no blank after the colon, so `anchored(_:)` does not take it), after such a head only.
    static func interruptRemapReason(_ message: KernelMessage, _ head: LogEvent) -> ByteText? {
        guard head.kind == .interruptRemapFault else { return nil }
        return message.afterPrefix(intrRemapColon)
    }

    static let intrRemapColon: StaticString = "INTR-REMAP:"

    /// The reason's text: dmar.c's table (no string built per line) unless the table does not
    /// know the code, then what the kernel printed.
    static func reasonText(_ text: ByteText, after: Int, code: UInt8) -> String {
        let known = VTdFaultReason(code)
        if known.table != .unknown, known.text != "Unknown" { return known.text }
        var index = after
        if index < text.endIndex, text[index] == 0x5D { index += 1 }
        let printed = text[index...].trimmed
        return printed.isEmpty ? VTdFaultReason(code).text : printed.string
    }

    /// Only the kernel's own second line of the old form continues a head: `DMAR:[fault reason
    /// NN] text` (after the same `pr_fmt` prefix). A later fault's line, which also contains
    /// `[fault reason`, is a record of its own.
    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool {
        guard case .vtdReason = open.continuation,
            let text = anchored(message) ?? interruptRemapReason(message, open.event), text.starts(with: faultReason),
            let reason = text.hexOrDecimalNumber(at: text.startIndex + faultReason.count), reason.value <= 0xFF
        else { return false }
        open.event.reason = UInt32(reason.value)
        open.event.reasonText = reasonText(text, after: reason.end, code: UInt8(reason.value))
        return true
    }
}
