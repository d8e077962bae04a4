import CorralCore

/// Downstream Port Containment (drivers/pci/pcie/dpc.c, reference §6.6):
/// `DPC: containment event, status:0x1f21 source:0x0000` then `DPC: <reason> detected`;
/// newer kernels say `ERR_FATAL received from ...` in one line. Device = the port printing it.
enum DPCLog: LogEventFamily {
    static let containment: StaticString = "containment event"
    static let errFatal: StaticString = "ERR_FATAL"
    static let errNonFatal: StaticString = "ERR_NONFATAL"
    static let receivedFrom: StaticString = " received from "
    static let detected: StaticString = " detected"
    static let status: StaticString = "status:"

    static let dpcPrefix: StaticString = "DPC:"
    static let oldDPC: StaticString = "DPC "

    /// The gate: a device prefix, then `DPC:` or `DPC `.
    static func mayTake(_ message: KernelMessage) -> Bool {
        message.hasEmitter && (message.body.starts(with: dpcPrefix) || message.body.starts(with: oldDPC))
    }

    /// Anchored after the `dev_printk` prefix of the port (`pci_info(pdev, "containment event,
    /// status:%#06x source:%#06x\n")` in `dpc_process_error()`, `dev_fmt` `DPC: `; 4.x printed
    /// `DPC containment event, ...` from the `dpc` port service).
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard let body = message.devBody(), body.starts(with: dpcPrefix) || body.starts(with: oldDPC) else {
            return .notMine
        }
        let text = body
        let isContainment = text.contains(containment)
        let isReceived =
            !isContainment && (text.contains(errFatal) || text.contains(errNonFatal))
            && text.contains(receivedFrom) && text.contains("DPC")
        guard isContainment || isReceived else { return .notMine }
        var event = context.event(.dpc)
        event.device = message.pci
        event.severity = severity(text)
        if let at = text.find(status), let value = text.hexNumber(at: at + status.count), value.value <= 0xFFFF {
            event.status = UInt32(value.value)
        }
        if let at = text.find(receivedFrom), let (source, _) = text.pciAddress(at: at + receivedFrom.count) {
            event.reporter = source
        }
        return .event(event, .dpcDetail)
    }

    static func severity(_ text: ByteText) -> AERSeverity? {
        if text.contains(errNonFatal) { return .nonFatal }
        if text.contains(errFatal) { return .fatal }
        return nil
    }

    static func absorb(_ message: KernelMessage, into open: inout OpenEvent) -> Bool {
        guard case .dpcDetail = open.continuation, message.sameEmitter(as: open.emitter) else { return false }
        let body = message.body
        if body.trimmed.ends(with: detected) && !body.contains("PCIe Bus Error") {
            if open.event.severity == nil { open.event.severity = severity(body) }
            return true
        }
        return body.contains("rp_pio") || body.contains("RP PIO")
    }
}

/// PCIe native hot-plug (drivers/pci/hotplug/pciehp_*.c, reference §6.7):
/// `pciehp: Slot(2): Link Down | Link Up | Card not present | Card present | Attention button pressed`,
/// the old debug form `slot(6): Link Down event`, and `Card present on Slot(N)` (≤ v3).
/// Device = the port in the prefix (`0000:02:05.0:pcie24` → `0000:02:05.0`).
enum HotplugLog: LogEventFamily {
    static let phrases: [([UInt8], LogEvent.SlotChange)] = {
        let table: [(String, LogEvent.SlotChange)] = [
            ("Link Down", .linkDown), ("Link Up", .linkUp), ("Card not present", .cardNotPresent),
            ("Card present", .cardPresent), ("Attention button pressed", .attentionButton),
            ("Button pressed", .attentionButton),
        ]
        return table.map { (Array($0.0.utf8), $0.1) }
    }()
    static let slot: StaticString = "lot("

    static let pciehpPrefix: StaticString = "pciehp:"

    /// The gate: a device prefix, then `pciehp:`, `Slot(`/`slot(` or one of the phrases.
    static func mayTake(_ message: KernelMessage) -> Bool {
        guard message.hasEmitter else { return false }
        let body = message.body
        return body.starts(with: pciehpPrefix) || body.starts(with: "Slot(")
            || body.starts(with: "slot(") || phrases.contains(where: { body.starts(with: $0.0) })
    }

    /// Anchored after the `dev_printk` prefix of the port (`ctrl_info(ctrl, "Slot(%s): Link
    /// Down\n", slot_name(ctrl))` in pciehp_ctrl.c, `dev_fmt` `pciehp: `; older kernels printed
    /// `Card not present on Slot(%s)`): the slot phrase starts the body.
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard let text = message.devBody(droppingSubsystem: pciehpPrefix) else { return .notMine }
        let startsWithSlot = text.starts(with: "Slot(") || text.starts(with: "slot(")
        guard let at = text.find(slot), at > text.startIndex, text[at - 1] | 0x20 == 0x73,
            startsWithSlot || phrases.contains(where: { text.starts(with: $0.0) }),
            let close = text.find([0x29], from: at)
        else { return .notMine }
        // `Slot(N): Phrase` or `Phrase on Slot(N)`.
        var after = close + 1
        if after < text.endIndex, text[after] == 0x3A { after += 1 }
        after = text.skippingBlanks(from: after)
        let before = text[text.startIndex..<(at - 1)]
        for (phrase, change) in phrases {
            if text.matches(phrase, at: after) || before.trimmed.ends(with: phrase + [UInt8](ascii: " on")) {
                var event = context.event(.hotplug)
                event.device = message.pci
                event.slotChange = change
                return .event(event, nil)
            }
        }
        return .notMine
    }
}

/// A driver saying its device is gone (reference §6.7–6.8; corpus rules):
/// NVMe `controller is down; will reset: CSTS=0xffffffff` (all-ones: nothing answers config or
/// MMIO reads), `Removing after probe failure status: -19` (-ENODEV), `device disappeared`;
/// older NVMe wordings with an all-ones status — 3.19–4.4 `nvme_kthread()`'s `Failed status:
/// 0xffffffff, reset controller`, `nvme_reset_work()`'s `Device not ready; aborting reset,
/// CSTS=0xffffffff`. Not the PCI core's `Unable to change power state from ..., device
/// inaccessible`: the corpus's authoritative parse (58-E) counts no event for it.
enum DeviceLostLog: LogEventFamily {
    static let controllerDown: StaticString = "controller is down; will reset: CSTS="
    static let failedStatus: StaticString = "Failed status: "
    static let notReady: StaticString = "Device not ready; aborting reset, CSTS="
    static let probeFailure: StaticString = "Removing after probe failure status: -19"
    static let disappeared: StaticString = "device disappeared"

    /// The phrases the gate looks for, as one literal array (built once, not per line).
    static let gatePhrases: [StaticString] = [
        controllerDown, failedStatus, notReady, probeFailure, disappeared, "Device disappeared",
    ]

    /// The gate: a device prefix, then one of the phrases.
    static func mayTake(_ message: KernelMessage) -> Bool {
        guard message.hasEmitter else { return false }
        let body = message.body
        return gatePhrases.contains(where: { body.starts(with: $0) })
    }

    /// Anchored after the `dev_printk` prefix of the driver that lost the device
    /// (`dev_warn(ctrl->device, "controller is down; will reset: CSTS=%#x, PCI_STATUS=%#x\n")`
    /// in nvme_timeout(), `dev_warn(dev->ctrl.device, "Removing after probe failure status:
    /// %d\n")`): the phrase starts the body.
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        guard let text = message.devBody() else { return .notMine }
        if let anchor = [controllerDown, failedStatus, notReady].first(where: { text.starts(with: $0) }) {
            // All-ones: nothing answers; any other status is a controller that is still there.
            guard let csts = text.hexNumber(at: text.startIndex + anchor.count) else {
                return .malformed("NVMe controller status unreadable")
            }
            guard csts.value == 0xFFFF_FFFF else { return .noEvent }
        } else if !text.starts(with: probeFailure) && !text.starts(with: disappeared)
            && !text.starts(with: "Device disappeared")
        {
            return .notMine
        }
        var event = context.event(.deviceLost)
        event.device = message.pci
        event.reasonText = text.trimmed.string
        return .event(event, nil)
    }
}
