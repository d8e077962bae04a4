import CorralCore
import Foundation

/// The engine's `Host` on a real Linux machine: actions become sysfs and config-space writes
/// under the injectable root; outcomes come back as events (`takeEvents`).
///
/// Defence in depth beyond the engine's own rules: nothing is written unless `mode` is
/// `enforce`; a protected device is never written; right before acting, the device is re-read
/// and must still be the same (vendor, device, serial) — a device replaced between decision and
/// action is not touched. Every errno becomes a failed outcome with its meaning.
public struct LinuxHost: CorralCore.Host {
    public let root: SysRoot
    public var mode: Policy.Mode
    public var inventory: Inventory
    /// Devices never written to: checked against the whole reach of each action (a port above
    /// a protected device is refused too), whatever the engine decided.
    public var protection: Protection
    /// Outcomes and observations waiting for the engine.
    private var events: [(Instant, DeviceEvent)] = []
    /// Quiescence polls in progress: device → deadline.
    private var awaiting: [PCIAddress: (Action, Instant)] = [:]
    /// Writes done or refused, for the daemon's log and tests: the last 10,000 (`log.total`
    /// counts them all).
    public private(set) var log = RecentHistory<String>(capacity: 10_000)
    /// Devices whose bus master we cleared: re-read each step to see a driver set it again.
    private var stoppedByUs: Set<PCIAddress> = []
    /// Functions below a bridge whose bus master was cleared with the bridge's, to set again
    /// with it.
    private var stoppedBelow: [PCIAddress: [PCIAddress]] = [:]

    /// How long each claim on the kernel half's storm handling lasts (`claimKernelStorms`).
    public var claimLease: Duration = .seconds(120)
    private var claimsRenewedAt: Instant?
    /// Devices whose storms Corral claimed from the kernel, to give back at exit.
    public private(set) var claimed: Set<PCIAddress> = []
    /// Drivers whose devices belong to a user-space owner (`Policy.ownerDrivers`, a VM's
    /// vfio-pci): never claimed, as Corral only tells their owner and may never act itself.
    public var ownerDrivers: Set<DriverName> = [.vfioPCI]
    /// The clock (CLOCK_MONOTONIC) read when an action has been carried out, to stamp its
    /// outcome; nil: outcomes are stamped with the step's `now` (fake trees in tests).
    ///
    /// Why: a step decides at `now` and writes after it has read and handled its whole batch,
    /// which on a slow machine (the arm64 proving ground runs corral under emulation) is
    /// hundreds of milliseconds later. Faults the kernel logged in between were made before the
    /// write but stamped after `now`: stamped with `now`, the stop's outcome made them evidence
    /// that the stop had not held, and a stopped device was removed.
    public var clock: (@Sendable () -> Instant)?
    /// How far the kernel's log clock is ahead of `clock` (`Watcher.kernelClockAhead`, never
    /// negative): an outcome is stamped on the clock its evidence is stamped with.
    public var kernelClockLead: Duration = .zero

    public init(root: SysRoot, mode: Policy.Mode, inventory: Inventory, protection: Protection = Protection()) {
        self.root = root
        self.mode = mode
        self.inventory = inventory
        self.protection = protection
    }

    /// The protected device a write of `action` would reach, by the inventory's topology.
    func protectedInReach(_ action: Action) -> DeviceAddress? {
        action.reach(
            parent: { device in device.pciAddress.flatMap { inventory.device($0)?.parent }.map { .pci($0) } },
            children: { device in (device.pciAddress.flatMap { inventory.device($0)?.children } ?? []).map { .pci($0) }
            }
        ).first { protection.contains($0) }
    }

    public mutating func takeEvents() -> [(Instant, DeviceEvent)] {
        defer { events.removeAll() }
        return events
    }

    /// When the next quiescence poll is due (Linux polls Transactions Pending at 0, 100, 200, 400 ms).
    public func nextPoll(after now: Instant) -> Instant? { awaiting.isEmpty ? nil : now + .milliseconds(100) }

    public mutating func perform(_ action: Action, at now: Instant) {
        switch action {
        case .recommend(let inner):
            log.append("would \(inner)")
            return
        case .reportStorm, .notifyOwner:
            return
        default:
            break
        }
        guard mode == .enforce else {
            log.append("would \(action) (mode \(mode))")
            return
        }
        if let guarded = protectedInReach(action) {
            let why = "protected device \(guarded) (\(protection.explain(guarded)))"
            log.append("refused \(action): \(guarded == action.target ? "" : "would reach ")\(why)")
            complete(action, .failed(ActionFailure(errno: EPERM, message: why)), at: now)
            return
        }
        if let pci = action.target?.pciAddress {
            switch identity(pci) {
            case .same:
                break
            case .changed(let problem):
                log.append("refused \(action): \(problem)")
                complete(action, .failed(ActionFailure(errno: ENODEV, message: problem)), at: now)
                return
            case .unreadable(let error):
                let why =
                    "could not read \(pci)'s config space to check it is the same device: \(String(cString: strerror(error)))"
                log.append("deferred \(action): \(why)")
                complete(action, .deferred(ActionFailure(errno: error, message: why)), at: now)
                return
            }
        }
        let devicePath = action.target?.pciAddress.map { "/sys/bus/pci/devices/\($0)" } ?? ""
        var failure: Int32?
        switch action {
        case .clearBusMaster(let pci):
            failure = updateCommand(pci, set: false, bit: ConfigSpace.busMasterBit)
            if failure == nil { stopBelow(pci) }
        case .setBusMaster(let pci):
            failure = updateCommand(pci, set: true, bit: ConfigSpace.busMasterBit)
            if failure == nil { restartBelow(pci) }
        case .disableINTx(let pci): failure = updateCommand(pci, set: true, bit: ConfigSpace.intxDisableBit)
        case .enableINTx(let pci): failure = updateCommand(pci, set: false, bit: ConfigSpace.intxDisableBit)
        case .awaitQuiescence(let pci, let deadline):
            awaiting[pci] = (action, deadline)
            poll(at: now)
            return
        case .reset(let pci, let method):
            guard let result = report(reset(pci, method), of: action, at: now) else { return }
            failure = result
        case .powerCycleSlot(let pci):
            guard let slot = inventory.device(pci)?.slot else {
                complete(action, .unsupported("no hot-plug slot with power control"), at: now)
                return
            }
            failure =
                root.write("0", to: "/sys/bus/pci/slots/\(slot)/power")
                ?? root.write("1", to: "/sys/bus/pci/slots/\(slot)/power")
        case .remove:
            failure = root.write("1", to: "\(devicePath)/remove")
        case .rescan:
            failure = root.write("1", to: "/sys/bus/pci/rescan")
        case .unbindDriver(let device, let driver):
            failure = root.write(device.description, to: "/sys/bus/pci/drivers/\(driver)/unbind")
        case .silenceFaultReporting(let device), .restoreFaultReporting(let device):
            let silence: Bool
            if case .silenceFaultReporting = action { silence = true } else { silence = false }
            guard let result = report(setFaultReporting(device, silenced: silence), of: action, at: now) else {
                return
            }
            failure = result
        case .blockDMA, .unblockDMA:
            complete(
                action, .unsupported("the kernel has no interface to block a device's DMA at its IOMMU"), at: now)
            return
        default:
            return
        }
        switch (action, failure) {
        case (.clearBusMaster(let pci), nil): stoppedByUs.insert(pci)
        case (.setBusMaster(let pci), nil): stoppedByUs.remove(pci)
        case (.reset(let pci, _), nil) where stoppedByUs.contains(pci):
            // pci_reset_function() saves config space before the reset and restores it after:
            // the bus master we cleared stays cleared (seen under a real 6.1 kernel,
            // ../shared/lab/qemu/FINDINGS.md). The engine takes a reset device into probation,
            // usable again; a driven device gets its bus master back to match. A driverless one
            // stays stopped (strict devices are never re-enabled by Corral on its own).
            if inventory.device(pci)?.driver != nil, updateCommand(pci, set: true, bit: ConfigSpace.busMasterBit) == nil
            {
                stoppedByUs.remove(pci)
                restartBelow(pci)
                log.append("did set bus master of \(pci) again after its reset (the kernel restored it cleared)")
            }
        default: break
        }
        if let failure, ActionFailure.isHostSide(failure) {
            // Our trouble (descriptors, memory, space, permission), not the device's: the engine
            // tries the same step again instead of escalating.
            log.append("deferred \(action): \(String(cString: strerror(failure)))")
            complete(
                action, .deferred(ActionFailure(errno: failure, message: String(cString: strerror(failure)))), at: now)
        } else if let failure {
            log.append("failed \(action): \(String(cString: strerror(failure)))")
            complete(
                action, .failed(ActionFailure(errno: failure, message: String(cString: strerror(failure)))), at: now)
        } else {
            log.append("did \(action)")
            complete(action, .succeeded, at: now)
        }
    }

    /// Silences (or restores) the fault reporting of `device` at its IOMMU through Corral's
    /// kernel half: `iommu_faults/silenced` (kernel/patches, docs/kernel.md), which asks the
    /// IOMMU driver to stop recording the device's faults (VT-d: FPD in its context entry).
    /// Its translations are untouched. The kernel's answer is read back; whether the faults
    /// really stopped is what the per-device counts show next (`IOMMUFaultCounters`): the
    /// engine escalates a device still reported while silenced.
    mutating func setFaultReporting(_ device: DeviceAddress, silenced: Bool) -> WriteResult {
        guard let pci = device.pciAddress else {
            return .unsupported("only PCI functions have a fault-reporting switch in the kernel")
        }
        let file = "/sys/bus/pci/devices/\(pci)/iommu_faults/silenced"
        guard root.exists(file) else {
            return .unsupported(
                "this kernel has no \(file) (Corral's kernel half, docs/kernel.md, is not in it)")
        }
        if let errno = root.write(silenced ? "1" : "0", to: file) {
            if errno == EOPNOTSUPP || errno == ENOTSUP {
                return .unsupported("the IOMMU driver of \(pci) cannot silence its faults (set_fault_reporting)")
            }
            return .failed(errno)
        }
        let now = root.read(file)?.trimmingCharacters(in: .whitespacesAndNewlines)
        return now == (silenced ? "1" : "0") ? .done : .failed(EIO)
    }

    /// What a write that can also be unsupported came to, as `perform` goes on with it: the
    /// errno (`.some(nil)` when done), or nil when it was unsupported and already reported.
    private mutating func report(_ result: WriteResult, of action: Action, at now: Instant) -> Int32?? {
        switch result {
        case .done: return .some(nil)
        case .failed(let errno): return .some(errno)
        case .unsupported(let why):
            log.append("cannot \(action): \(why)")
            complete(action, .unsupported(why), at: now)
            return nil
        }
    }

    /// A reset or a fault-reporting switch: done, failed with an errno, or not possible here.
    enum WriteResult: Equatable {
        case done
        case failed(Int32)
        case unsupported(String)
    }

    /// Resets `pci` with `method`.
    ///
    /// Since Linux 5.15 (`reset_method`, commit d88f521da3ef): the method is written to
    /// `reset_method` (allowing only it), `reset` is written, then `reset_method` gets back what
    /// it held before (or `default`), so the device's own choice of methods outlives ours.
    ///
    /// Before 5.15 there is no choosing: `reset` runs `__pci_reset_function_locked()`, which tries
    /// device-specific, FLR, AF FLR, PM, slot, then bus reset and stops at the first that works.
    /// The method it will use is read from config space (`ResetMethod.legacyFirst`); when that is
    /// not the engine's choice, the reset is reported unsupported (the ladder moves on) instead of
    /// doing a different one behind its back. A device-specific quirk cannot be seen from config
    /// space: such a device may be reset by its quirk instead.
    mutating func reset(_ pci: PCIAddress, _ method: ResetMethod) -> WriteResult {
        let path = "/sys/bus/pci/devices/\(pci)"
        guard root.exists("\(path)/reset") else {
            return .unsupported("no \(path)/reset: the kernel knows no reset for this function")
        }
        guard root.exists("\(path)/reset_method") else {
            let config = ConfigSpace(root.readBytes("\(path)/config") ?? [])
            guard let first = ResetMethod.legacyFirst(config), first == method else {
                let first = ResetMethod.legacyFirst(config)
                return .unsupported(
                    "this kernel has no reset_method (before 5.15): its reset would use "
                        + "\(first.map { "\($0)" } ?? "a slot or bus reset") first, not \(method)")
            }
            return root.write("1", to: "\(path)/reset").map { .failed($0) } ?? .done
        }
        let previous = root.read("\(path)/reset_method").flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        if let failure = root.write(method.rawValue, to: "\(path)/reset_method") { return .failed(failure) }
        let result = root.write("1", to: "\(path)/reset")
        // Restored whether the reset worked or not: a failed write must not leave the device
        // with only our method allowed.
        if let failure = root.write(previous, to: "\(path)/reset_method") {
            log.append(
                "could not restore reset_method of \(pci) to '\(previous)': \(String(cString: strerror(failure)))")
        }
        return result.map { .failed($0) } ?? .done
    }

    /// A bridge's Bus Master Enable gates the memory requests it forwards upstream from below
    /// (PCI-to-PCI Bridge Architecture r1.2 §3.2.5.2), which is how a DMA-alias group is
    /// stopped as one. Not every bridge honours it — QEMU's do not (the proving ground's
    /// `alias` scenario saw the faults go on) — so every function below it whose bus master is
    /// on is stopped too: they are the group the bridge is being stopped for, and the reach the
    /// engine and `protectedInReach` already checked.
    mutating func stopBelow(_ bridge: PCIAddress) {
        guard inventory.device(bridge)?.isBridge == true else { return }
        var stopped: [PCIAddress] = []
        var queue = inventory.device(bridge)?.children ?? []
        while let device = queue.popLast(), stopped.count < 4096 {
            queue += inventory.device(device)?.children ?? []
            let config = ConfigSpace(root.readBytes("/sys/bus/pci/devices/\(device)/config", limit: 8) ?? [])
            guard config.busMaster == true, updateCommand(device, set: false, bit: ConfigSpace.busMasterBit) == nil
            else { continue }
            stopped.append(device)
        }
        guard !stopped.isEmpty else { return }
        stoppedBelow[bridge] = stopped.sorted()
        log.append(
            "did clear bus master below \(bridge) too: \(stopped.sorted().map(\.description).joined(separator: ", "))")
    }

    /// Sets bus master again on the functions `stopBelow` stopped with `bridge`.
    mutating func restartBelow(_ bridge: PCIAddress) {
        guard let stopped = stoppedBelow.removeValue(forKey: bridge) else { return }
        for device in stopped { _ = updateCommand(device, set: true, bit: ConfigSpace.busMasterBit) }
        log.append("did set bus master below \(bridge) too: \(stopped.map(\.description).joined(separator: ", "))")
    }

    /// In enforce mode, Corral's ladder decides for the devices it may act on: it claims their
    /// storms from the kernel half (`iommu_faults/claim`, kernel/patches), which then only
    /// reports a storm (uevent, one log line) instead of silencing the device itself. Each
    /// claim is a lease of `claimLease`, renewed at half of it: if the daemon dies, the kernel
    /// protects the device again when the lease runs out. Protected devices are never
    /// claimed — Corral only recommends for them, so the kernel's own handling stays theirs —
    /// nor a device a user-space owner holds (a VM's), nor anything in observe or recommend
    /// mode: a claim must never leave a storm that Corral will not act on unsilenced.
    public mutating func claimKernelStorms(at now: Instant) {
        guard mode == .enforce else { return }
        if let last = claimsRenewedAt, now - last < claimLease / 2 { return }
        claimsRenewedAt = now
        let seconds = max(1, min(3_600, Int(claimLease.nanosecondsClamped / 1_000_000_000)))
        for device in inventory.devices
        where device.faultSilencing && !protection.contains(.pci(device.address))
            && !(device.driver.map { ownerDrivers.contains(DriverName($0)) } ?? false)
        {
            let file = "/sys/bus/pci/devices/\(device.address)/iommu_faults/claim"
            if root.write("\(seconds)", to: file) == nil { claimed.insert(device.address) }
        }
    }

    /// Gives every claim back (the daemon stopping): the kernel handles the storms again now,
    /// not when the leases run out.
    public mutating func releaseKernelStormClaims() {
        for device in claimed.sorted() {
            _ = root.write("0", to: "/sys/bus/pci/devices/\(device)/iommu_faults/claim")
        }
        claimed.removeAll()
        claimsRenewedAt = nil
    }

    /// Devices whose bus master a driver set again since we cleared it (the driver's
    /// disable→enable cycle: a re-enable trigger).
    public mutating func busMasterRestored() -> [DeviceEvent] {
        var events: [DeviceEvent] = []
        for pci in stoppedByUs {
            let config = ConfigSpace(root.readBytes("/sys/bus/pci/devices/\(pci)/config", limit: 8) ?? [])
            if config.busMaster == true {
                stoppedByUs.remove(pci)
                log.append("bus master of \(pci) set again by its driver")
                events.append(.busMasterChanged(.pci(pci), enabled: true))
            }
        }
        return events
    }

    /// Re-reads Transactions Pending of devices being stopped: clear → verified, past the
    /// deadline → failed (the engine escalates).
    public mutating func poll(at now: Instant) {
        for (pci, (action, deadline)) in awaiting {
            guard let bytes = root.readBytes("/sys/bus/pci/devices/\(pci)/config") else {
                let error = errno
                if error == ENOENT || error == ENODEV {
                    awaiting[pci] = nil
                    complete(action, .failed(ActionFailure(errno: error, message: "\(pci) is gone")), at: now)
                } else if now >= deadline {
                    // Unreadable at the deadline: nothing proven either way; asked again later.
                    awaiting[pci] = nil
                    let why = "could not read Transactions Pending: \(String(cString: strerror(error)))"
                    complete(action, .deferred(ActionFailure(errno: error, message: why)), at: now)
                }
                continue  // A failed read proves nothing: the next poll reads again.
            }
            let config = ConfigSpace(bytes)
            if config.transactionsPending == false || config.transactionsPending == nil && !config.bytes.isEmpty {
                awaiting[pci] = nil
                complete(action, .succeeded, at: now)
            } else if now >= deadline || config.bytes.isEmpty {
                awaiting[pci] = nil
                complete(
                    action, .failed(ActionFailure(errno: ETIMEDOUT, message: "Transactions Pending still set")), at: now
                )
            }
        }
    }

    /// A line for the daemon's log about something the host could not do or read.
    public mutating func note(_ line: String) { log.append(line) }

    /// An action's outcome, stamped when it was carried out: the clock read right after the
    /// write, when there is one (never before `now`, the step's own time).
    mutating func complete(_ action: Action, _ result: ActionOutcome.Result, at now: Instant) {
        let carriedOut = clock.map { max(now, $0() + kernelClockLead) } ?? now
        events.append((carriedOut, .actionCompleted(ActionOutcome(action: action, result: result))))
    }

    /// Read-modify-write of the command register through sysfs `config`.
    func updateCommand(_ pci: PCIAddress, set: Bool, bit: UInt16) -> Int32? {
        let path = "/sys/bus/pci/devices/\(pci)/config"
        guard let bytes = root.readBytes(path, limit: 8) else {
            // Gone is the device's doing; anything else (EMFILE, EIO...) is passed on as it is.
            return errno == ENOENT ? ENODEV : errno
        }
        guard let command = ConfigSpace(bytes).command else { return ENODEV }
        let updated = set ? command | bit : command & ~bit
        return root.write([UInt8(updated & 0xFF), UInt8(updated >> 8)], to: path, at: ConfigSpace.commandOffset)
    }

    enum Identity: Equatable {
        case same
        /// No longer the device the decision was about.
        case changed(String)
        /// Its config space could not be read (errno) for a reason other than its absence.
        case unreadable(Int32)
    }

    /// Whether the device at `pci` is still the one the decision was about.
    func identity(_ pci: PCIAddress) -> Identity {
        guard let known = inventory.device(pci) else { return .same }
        let path = "/sys/bus/pci/devices/\(pci)"
        // The IDs are in the first 64 bytes; the serial number in extended config space. The
        // kernel reads config space a dword at a time (a trap each in a VM): read no more than
        // the check needs, it sits between a threshold crossing and the write.
        guard let bytes = root.readBytes("\(path)/config", limit: known.config.serialNumber == nil ? 64 : 4096) else {
            let error = errno
            return error == ENOENT || error == ENODEV ? .changed("\(pci) is gone") : .unreadable(error)
        }
        return identityProblem(pci, ConfigSpace(bytes)).map { .changed($0) } ?? .same
    }

    /// Why the device whose config space reads `now` is no longer the one at `pci`, if it is not.
    func identityProblem(_ pci: PCIAddress, _ now: ConfigSpace) -> String? {
        guard let known = inventory.device(pci) else { return nil }
        if let vendor = known.vendorID, let device = known.deviceID, now.vendorID != vendor || now.deviceID != device {
            return
                "\(pci) is now a different device (\(now.vendorID.map { Hex.padded($0, width: 4) } ?? "?"):\(now.deviceID.map { Hex.padded($0, width: 4) } ?? "?"))"
        }
        // The Device Serial Number from config space only: an NVMe serial (`known.serial` may be
        // the nvme driver's) is not in config space and would never match.
        if let serial = known.config.serialNumber, now.serialNumber != serial {
            return "\(pci) has a different serial number (\(now.serialNumber ?? "none"), was \(serial))"
        }
        return nil
    }
}
