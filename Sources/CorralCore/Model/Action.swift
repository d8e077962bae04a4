/// What Corral tells a host to do, in the imperative. Every action names its target.
///
/// The host (`LinuxHost` or `SimHost`) carries the action out and reports an ``ActionOutcome``
/// back as a ``DeviceEvent/actionCompleted(_:)``; the engine never assumes success.
public enum Action: Hashable, Sendable, CustomStringConvertible {
    /// Write one coalesced summary instead of a line per fault (the ladder's first rung, and
    /// all that `observe` mode ever does).
    case reportStorm(Subject, summary: String)
    /// Mute the device's fault reporting at the IOMMU (VT-d context FPD, AMD-Vi DTE SA/SE,
    /// SMMUv3 CD.R=0, SMMUv2 CFIE/CFRE). Its DMA stays blocked; only the reporting stops.
    case silenceFaultReporting(DeviceAddress)
    /// Undo ``silenceFaultReporting(_:)``.
    case restoreFaultReporting(DeviceAddress)
    /// Attach the device to a blocking domain: every DMA aborts (SMMU abort STE, VT-d/AMD
    /// blocked domain). The only stop a non-PCI master has.
    case blockDMA(DeviceAddress)
    /// Undo ``blockDMA(_:)``.
    case unblockDMA(DeviceAddress)
    /// Set Interrupt Disable (PCI command register bit 10, `PCI_COMMAND_INTX_DISABLE`): the
    /// function stops asserting its legacy INTx line (`pci_intx()`).
    case disableINTx(PCIAddress)
    /// Clear Interrupt Disable again.
    case enableINTx(PCIAddress)
    /// Clear Bus Master Enable (PCI command register bit 2, `PCI_COMMAND_MASTER`).
    case clearBusMaster(PCIAddress)
    /// Set Bus Master Enable again.
    case setBusMaster(PCIAddress)
    /// Wait until the device has no transactions in flight (DevSta Transactions Pending, bit 5,
    /// or AF Status TP), failing at `deadline` (`pci_wait_for_pending()` polls ≈ 700 ms).
    case awaitQuiescence(PCIAddress, deadline: Instant)
    /// Reset the function with one method (`/sys/bus/pci/devices/D/reset_method` + `reset`).
    case reset(PCIAddress, ResetMethod)
    /// Power the device's slot off and on (`/sys/bus/pci/slots/N/power`).
    case powerCycleSlot(PCIAddress)
    /// Remove the device from the kernel (`/sys/bus/pci/devices/D/remove`).
    case remove(DeviceAddress)
    /// Rescan below a bridge, or the whole hierarchy (`/sys/bus/pci/rescan`).
    case rescan(PCIAddress?)
    /// Unbind the device's driver.
    case unbindDriver(DeviceAddress, DriverName)
    /// Tell the device's owner (a VMM behind `vfio-pci`) and give it until `deadline` to act.
    case notifyOwner(DeviceAddress, owner: DriverName, deadline: Instant)
    /// Shadow mode: what the action would have been. Hosts never perform these.
    indirect case recommend(Action)

    /// The device the action targets, when it targets one.
    public var target: DeviceAddress? {
        switch self {
        case .reportStorm(let subject, _): subject.device
        case .silenceFaultReporting(let d), .restoreFaultReporting(let d), .blockDMA(let d), .unblockDMA(let d),
            .remove(let d), .unbindDriver(let d, _), .notifyOwner(let d, _, _):
            d
        case .clearBusMaster(let p), .setBusMaster(let p), .awaitQuiescence(let p, _), .reset(let p, _),
            .powerCycleSlot(let p), .disableINTx(let p), .enableINTx(let p):
            .pci(p)
        case .rescan(let p): p.map { .pci($0) }
        case .recommend(let inner): inner.target
        }
    }

    /// True for actions that change a device (everything but reports, notifications and
    /// recommendations). These are what protection and the circuit breaker guard.
    public var changesDevice: Bool {
        switch self {
        case .reportStorm, .notifyOwner, .recommend: false
        default: true
        }
    }

    /// Takes the device's work away (DMA, interrupts, the device itself), as opposed to muting
    /// its fault reports or undoing a step: what an operator must be told the cost of.
    public var isDisruptive: Bool {
        switch self {
        case .blockDMA, .disableINTx, .clearBusMaster, .reset, .powerCycleSlot, .remove, .unbindDriver: true
        case .recommend(let inner): inner.isDisruptive
        default: false
        }
    }

    /// Undoes a containment step (re-enable): its outcome is not awaited.
    public var isReenableStep: Bool {
        switch self {
        case .setBusMaster, .enableINTx, .restoreFaultReporting, .unblockDMA, .rescan: true
        default: false
        }
    }

    /// True for a shadow-mode recommendation.
    public var isRecommendation: Bool {
        if case .recommend = self { return true }
        return false
    }

    /// The action itself, without a `recommend` wrapper.
    public var unwrapped: Action {
        if case .recommend(let inner) = self { return inner.unwrapped }
        return self
    }

    /// A stable machine name for the kind of action (JSON, metrics labels, the journal).
    public var kind: String {
        switch unwrapped {
        case .reportStorm: "report-storm"
        case .silenceFaultReporting: "silence-fault-reporting"
        case .restoreFaultReporting: "restore-fault-reporting"
        case .blockDMA: "block-dma"
        case .unblockDMA: "unblock-dma"
        case .disableINTx: "disable-intx"
        case .enableINTx: "enable-intx"
        case .clearBusMaster: "clear-bus-master"
        case .setBusMaster: "set-bus-master"
        case .awaitQuiescence: "await-quiescence"
        case .reset(_, let method): "reset-\(method.rawValue)"
        case .powerCycleSlot: "power-cycle-slot"
        case .remove: "remove"
        case .rescan: "rescan"
        case .unbindDriver: "unbind-driver"
        case .notifyOwner: "notify-owner"
        case .recommend: "recommend"
        }
    }

    public var description: String {
        switch self {
        case .reportStorm(let s, _): "report storm on \(s)"
        case .silenceFaultReporting(let d): "silence fault reporting of \(d)"
        case .restoreFaultReporting(let d): "restore fault reporting of \(d)"
        case .blockDMA(let d): "block DMA of \(d) at the IOMMU"
        case .unblockDMA(let d): "unblock DMA of \(d)"
        case .disableINTx(let p): "disable INTx of \(p)"
        case .enableINTx(let p): "enable INTx of \(p)"
        case .clearBusMaster(let p): "clear bus master of \(p)"
        case .setBusMaster(let p): "set bus master of \(p)"
        case .awaitQuiescence(let p, let deadline): "await quiescence of \(p) until \(deadline)"
        case .reset(let p, let method): "\(method) reset of \(p)"
        case .powerCycleSlot(let p): "power-cycle the slot of \(p)"
        case .remove(let d): "remove \(d)"
        case .rescan(let p): p.map { "rescan below \($0)" } ?? "rescan all buses"
        case .unbindDriver(let d, let driver): "unbind \(driver) from \(d)"
        case .notifyOwner(let d, let owner, let deadline): "notify \(owner) owner of \(d), deadline \(deadline)"
        case .recommend(let inner): "recommend: \(inner)"
        }
    }
}

/// Reset methods, in the kernel's names (`pci_reset_fn_methods[]`) and Corral's order of
/// preference: the least disruptive that the device supports comes first.
public enum ResetMethod: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Device-specific quirk (`pci_dev_specific_reset`).
    case deviceSpecific = "device_specific"
    /// ACPI `_RST`.
    case acpi
    /// PCIe Function Level Reset (DevCap bit 28; 100 ms then readiness poll).
    case flr
    /// Advanced Features FLR (conventional PCI AF capability).
    case afFLR = "af_flr"
    /// D3hot→D0 power-management reset (only when `No_Soft_Reset` is clear).
    case pm
    /// Secondary bus reset at the parent bridge: resets everything on that bus.
    case bus
    /// CXL bus reset.
    case cxlBus = "cxl_bus"

    public var description: String { rawValue }
}

/// Who a decision, an episode or a journal row is about: one vocabulary for the engine, the
/// journal, replay and the simulator. A device; an IOMMU unit or interrupt line when nothing
/// finer is known; or events no device can be held to (the kernel's rate limiting, faults whose
/// device was not named), which are shown as what they are, never as a device.
public enum Subject: Hashable, Sendable, Comparable, CustomStringConvertible {
    case device(DeviceAddress)
    case iommu(IOMMUInstance)
    case irq(IRQNumber)
    /// "kernel rate limiting", "intel-vtd faults, device not named": written in parentheses.
    case unattributed(String)

    public var device: DeviceAddress? {
        if case .device(let d) = self { return d }
        return nil
    }

    /// Events no device, unit or line can be held to: shown apart, never as a device.
    public var isUnattributed: Bool {
        if case .unattributed = self { return true }
        return false
    }

    /// The name the journal, `/status` and every output use; ``init(name:)`` reads it back.
    public var description: String {
        switch self {
        case .device(let d): d.description
        case .iommu(let i): "iommu \(i)"
        case .irq(let irq): "irq \(irq)"
        case .unattributed(let what): "(\(what))"
        }
    }

    /// Reads a name written by ``description`` (a journal row, a `--device` flag). Text that is
    /// none of the forms (a name with spaces from an old or crafted row) is kept as a platform
    /// name, exactly as written: what is read back prints as it was stored.
    public init(name: String) {
        if name.hasPrefix("("), name.hasSuffix(")"), name.count >= 2 {
            self = .unattributed(String(name.dropFirst().dropLast()))
        } else if name.hasPrefix("irq "), let number = UInt32(name.dropFirst(4)) {
            self = .irq(IRQNumber(number))
        } else if name.hasPrefix("iommu "), name.count > 6 {
            self = .iommu(IOMMUInstance(String(name.dropFirst(6))))
        } else if let device = try? DeviceAddress(parsing: name) {
            self = .device(device)
        } else {
            self = .device(.platform(PlatformDeviceName(name)))
        }
    }
}

/// What happened when a host carried out an action.
public struct ActionOutcome: Hashable, Sendable {
    public enum Result: Hashable, Sendable, CustomStringConvertible {
        case succeeded
        /// The action ran and failed (an errno, a timeout, the device read all-ones).
        case failed(ActionFailure)
        /// The host cannot do this at all (no such file, capability missing).
        case unsupported(String)
        /// Not carried out, for a reason on the host's side that says nothing about the device
        /// (`EMFILE`, `ENOMEM`, `ENOSPC`, `EACCES`, a read that failed while checking it): the
        /// same step is tried again later. Escalating on it would take a more disruptive step
        /// because of our own trouble (docs/safety.md).
        case deferred(ActionFailure)

        /// What the journal's `outcome` column says: `done`, `failed: … (errno N)`, `unsupported: …`.
        public var description: String {
            switch self {
            case .succeeded: "done"
            case .failed(let failure): "failed: \(failure)"
            case .unsupported(let why): "unsupported: \(why)"
            case .deferred(let failure): "deferred: \(failure)"
            }
        }
    }
    public var action: Action
    public var result: Result

    public init(action: Action, result: Result) {
        self.action = action
        self.result = result
    }

    public var succeeded: Bool { result == .succeeded }
}

/// Why an action failed, with the OS error number when there was one.
public struct ActionFailure: Hashable, Sendable, CustomStringConvertible {
    public var errno: Int32?
    public var message: String
    public init(errno: Int32? = nil, message: String) {
        self.errno = errno
        self.message = message
    }
    public var description: String { errno.map { "\(message) (errno \($0))" } ?? message }

    /// Errors that say the host could not act now, not that the device did anything: running out
    /// of descriptors, memory or space, a permission the daemon lacks, an interrupted or
    /// would-block call, a read-only file system.
    public static func isHostSide(_ errno: Int32) -> Bool {
        hostSideErrnos.contains(errno)
    }

    /// EACCES 13, EAGAIN 11, EINTR 4, EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12, ENOSPC 28,
    /// EROFS 30 (Linux values: CorralCore imports no libc).
    static let hostSideErrnos: Set<Int32> = [13, 11, 4, 24, 23, 105, 12, 28, 30]
}
