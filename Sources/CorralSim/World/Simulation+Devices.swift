import CorralCore

// The simulated world's devices: behaviours and their transactions, happenings (hot-plug, a
// driver's re-initialisation), and the EEH policy's freezes.
extension Simulation {
    // MARK: - Devices

    mutating func startBehaviour(_ device: Int, _ behaviour: Int) {
        let spec = devices[device].behaviours[behaviour]
        devices[device].active[behaviour] = true
        devices[device].activeUntil[behaviour] = spec.duration.map { now + $0 }
        if spec.isMisbehaviour {
            note(.onset, device, "\(spec.kind.rawValue) begins at \(rateText(spec.rate))")
        }
        generations[device][behaviour] += 1
        agenda.schedule(
            .tick(device: device, behaviour: behaviour, generation: generations[device][behaviour]), at: now)
    }

    /// Halts behaviours that stop when the device stops DMA; they may come back on re-enable.
    mutating func halt(_ device: Int, byReset: Bool = false, all: Bool = false) {
        settleSilenced(device)
        for (index, spec) in devices[device].behaviours.enumerated() where devices[device].active[index] {
            if all || spec.obeysBusMaster || byReset || spec.kind == .intxStorm && devices[device].intxDisabled {
                if byReset && spec.survivesReset { continue }
                devices[device].active[index] = false
                generations[device][index] += 1
            }
        }
    }

    /// The device may issue DMA again. Without a reset, relapsing behaviours start again (the
    /// cause is still there); after a reset only behaviours that survive resets do.
    mutating func reenabled(_ device: Int, afterReset: Bool = false) {
        for (index, spec) in devices[device].behaviours.enumerated() where !devices[device].active[index] {
            guard now >= .zero + spec.start else { continue }
            if afterReset {
                if spec.survivesReset {
                    note(.relapse, device, "\(spec.kind.rawValue) resumes after the reset")
                    startBehaviour(device, index)
                }
            } else if devices[device].relapsesLeft[index] > 0 {
                devices[device].relapsesLeft[index] -= 1
                note(.relapse, device, "\(spec.kind.rawValue) resumes after the device was re-enabled")
                startBehaviour(device, index)
            }
        }
    }

    mutating func tick(_ device: Int, _ behaviour: Int) {
        let spec = devices[device].behaviours[behaviour]
        if let until = devices[device].activeUntil[behaviour], now >= until {
            devices[device].active[behaviour] = false
            if spec.isMisbehaviour { note(.note, device, "\(spec.kind.rawValue) stops by itself") }
            return
        }
        switch spec.kind {
        case .aerCorrected:
            guard devices[device].present else { return }
            // aer_isr() and aer_print_error() run whatever the policy: before v6.16 every error
            // is printed (no AER ratelimit), so each one costs an interrupt, a read and a printk.
            let cost = costs.interrupt + costs.record + costs.printk
            let done = cpu.run(cost, readyAt: now)
            tallies[device].faults += 1
            tallies[device].handled += 1
            emit(device, .event(.aerCorrected), count: 1, status: 1)
            if let address = devices[device].address.pciAddress {
                agenda.schedule(
                    .deliver(.aerError(AERError(device: address, severity: .corrected, status: 1))), at: done)
            }
        case .intxStorm:
            guard devices[device].present, !devices[device].intxDisabled else { return }
            // Every handler on the shared line returns IRQ_NONE: entry, handlers, exit.
            _ = cpu.run(costs.interrupt, readyAt: now)
            tallies[device].faults += 1
            intxCount[device, default: 0] += 1
            emit(device, .event(.irqStorm), count: 1)
            // kernel/irq/spurious.c: 99,900 of 100,000 unhandled → "nobody cared", disabled.
            if intxCount[device, default: 0] >= 100_000 {
                devices[device].intxDisabled = true
                markContained(device)
                note(.kernel, device, "irq \(irqNumber(device)): nobody cared; Disabling IRQ #\(irqNumber(device))")
                if let address = devices[device].address.pciAddress {
                    agenda.schedule(
                        .deliver(
                            .irqStorm(
                                IRQStorm(
                                    irq: IRQNumber(irqNumber(device)), devices: [.pci(address)], disabledByKernel: true)
                            )),
                        at: now)
                }
                return
            }
        case .pageRequests:
            guard devices[device].issuesDMA(spec, at: now) else { return pause(device, behaviour) }
            pageRequests += 1
            let sim = devices[device]
            if iommus[sim.iommu].stallsInFaultQueue {
                // SMMUv3 stall model: the stalled transaction is an event-queue record.
                var stalled = SimFault(
                    device: device, requesterID: sim.requesterID, streamID: sim.streamID, address: randomAddress(),
                    write: false, lookup: .notPresent)
                stalled.stalled = true
                if case .recorded = iommus[sim.iommu].record(stalled) { raiseInterrupt(sim.iommu) }
            } else {
                // VT-d PRQ / AMD-Vi PPR log: a separate queue, answered by the IOMMU driver.
                _ = cpu.run(costs.record, readyAt: now)
                if case .corral = policy, let pci = sim.address.pciAddress {
                    deliver(
                        .dmaFault(
                            DMAFault(
                                source: .requester(segment: pci.segment, pci.requesterID),
                                vendor: iommus[sim.iommu].vendor, kind: .pageRequest, access: .read,
                                address: IOVA(randomAddress()), recoverable: true)))
                }
            }
        default:
            guard devices[device].issuesDMA(spec, at: now) else { return pause(device, behaviour) }
            if devices[device].silenced || abortsSilently(device) {
                // No fault would be recorded: account for them in bulk instead of one by one.
                silencedSince[device, default: [:]][behaviour] = now
                generations[device][behaviour] += 1
                return
            }
            let (address, write, secure) = transaction(device, spec.kind)
            let lookup = devices[device].domain.translate(address, write: write, secure: secure)
            if lookup != .translated {
                fault(device, address: address, write: write, lookup: lookup)
            }
        }
        let interval = 1.0 / max(spec.rate, 1e-9)
        let jitter = 0.9 + Double(random.next() % 2001) / 10_000  // ±10%
        let nanos = max(1, Int64(interval * jitter * 1e9))
        agenda.schedule(
            .tick(device: device, behaviour: behaviour, generation: generations[device][behaviour]),
            at: now + .nanoseconds(nanos))
    }

    mutating func pause(_ device: Int, _ behaviour: Int) {
        generations[device][behaviour] += 1
        // Stays active: it resumes if the device is re-enabled while the behaviour lasts.
    }

    /// Resumes paused chains of a device whose DMA may flow again.
    mutating func resume(_ device: Int) {
        settleSilenced(device)
        for (index, spec) in devices[device].behaviours.enumerated() where devices[device].active[index] {
            guard devices[device].issuesDMA(spec, at: now) else { continue }
            generations[device][index] += 1
            agenda.schedule(.tick(device: device, behaviour: index, generation: generations[device][index]), at: now)
        }
    }

    /// Books the faults a silenced device made since it was silenced (rate × time).
    mutating func settleSilenced(_ device: Int) {
        guard let since = silencedSince[device] else { return }
        for (behaviour, start) in since {
            let spec = devices[device].behaviours[behaviour]
            var end = now
            if let until = devices[device].activeUntil[behaviour] { end = min(end, until) }
            let seconds = Double((end - start).nanosecondsClamped) / 1e9
            let count = UInt64(max(0, seconds * spec.rate))
            tallies[device].faults += count
            tallies[device].silenced += count
            if count > 0 { emit(device, .event(.dmaFault), count: count, at: end) }
        }
        silencedSince[device] = nil
    }

    /// An SMMU blocking a stream (STE.Config abort, S2CR fault type) terminates its transactions
    /// without recording events; VT-d and AMD-Vi still report faults from a blocked device
    /// (its context/DTE has no valid translation) unless reporting is silenced too.
    func abortsSilently(_ device: Int) -> Bool {
        guard devices[device].blocked else { return false }
        let vendor = iommus[devices[device].iommu].vendor
        return vendor == .armSMMU || vendor == .armSMMUv3
    }

    mutating func randomAddress() -> UInt64 { (random.next() % 0x10_0000) << 12 }

    /// The transaction a behaviour makes: where, read or write, secure or not.
    mutating func transaction(_ device: Int, _ kind: Behaviour.Kind) -> (UInt64, Bool, Bool) {
        let domain = devices[device].domain
        func inside(_ range: Range<UInt64>?) -> UInt64 {
            guard let range, !range.isEmpty else { return randomAddress() }
            return range.lowerBound + (random.next() % UInt64(range.count)) & ~0xFFF
        }
        switch kind {
        case .readOnlyWrites:
            return (inside(domain.readOnlyRange), true, false)
        case .secureAccess:
            return (inside(domain.nonSecureRange), random.next() % 2 == 0, true)
        case .scanning:
            // A sweep across the whole 64-bit space, page by page from a random start: mostly
            // unmapped, and beyond the input width for most of it.
            scanCursor[device, default: random.next() & ~0xFFF] &+= 0x1000_0000_0000
            return (scanCursor[device]!, false, false)
        default:
            return (randomAddress(), random.next() % 2 == 0, false)
        }
    }

    func irqNumber(_ device: Int) -> UInt32 { UInt32(16 + device) }

    mutating func happen(_ device: Int, _ happening: Happening) {
        let address = devices[device].address
        switch happening.kind {
        case .surpriseRemoval(let faultsAfter):
            devices[device].present = false
            halt(device, all: true)
            // The storm ends because the card left, not because a policy contained it.
            if goneAt[device] == nil { goneAt[device] = now }
            note(.removal, device, "surprise removal: link down, card not present")
            if let port = devices[device].profile.parent?.pciAddress {
                deliver(.linkChanged(port: port, up: false))
                deliver(.dpcContained(DPCContainment(port: port, severity: .fatal)))
            }
            if faultsAfter > 0 {
                agenda.schedule(.strayAfterRemoval(device: device, remaining: faultsAfter), at: now + .microseconds(5))
            }
        case .reinsertion:
            devices[device].present = true
            devices[device].busMaster = true
            note(
                .insertion, device,
                "inserted again (serial \(devices[device].profile.serial?.description ?? "unknown"))")
            deliver(.deviceAdded(address, serial: devices[device].profile.serial))
        case .busMasterCycle:
            devices[device].busMaster = true
            note(.note, device, "its driver cycles bus master off and on (re-initialisation)")
            deliver(.busMasterChanged(address, enabled: true))
            resume(device)
        case .childEnabled:
            if let child = devices[device].profile.children.first {
                note(.note, device, "child \(child) enabled by its driver")
                devices[device].busMaster = true
                deliver(.deviceEnabled(child))
                resume(device)
            }
        }
    }

    // MARK: - EEH

    mutating func eehFreeze(_ device: Int) {
        guard !devices[device].frozen, !devices[device].retired else { return }
        var window = eehFreezes[device] ?? (now, 0)
        if now - window.windowStart > .seconds(3600) { window = (now, 0) }
        window.count += 1
        eehFreezes[device] = window
        for member in peMembers(device) {
            devices[member].frozen = true
            halt(member, all: true)
            markContained(member)
            if isHealthy(member) { disturbed.insert(member) }
        }
        if window.count > 5 {
            for member in peMembers(device) { devices[member].retired = true }
            note(.retired, device, "EEH: failed \(window.count) times in the last hour; permanently disabled")
            return
        }
        note(
            .freeze, device,
            "EEH: frozen (freeze \(window.count) of 5 per hour); recovery in \(costs.eehRecovery.readable)")
        agenda.schedule(.eehRecovered(device: device), at: now + costs.eehRecovery)
    }

    mutating func eehRecover(_ device: Int) {
        for member in peMembers(device) where !devices[member].retired {
            devices[member].frozen = false
            note(.recovery, member, "EEH: recovered (reset, driver resumed)")
            reenabled(member, afterReset: true)
            resume(member)
        }
    }

    /// The partitionable endpoint: the device and every function sharing its requester ID or slot.
    func peMembers(_ device: Int) -> [Int] {
        let address = devices[device].address.pciAddress
        return devices.indices.filter { index in
            index == device || devices[index].requesterID == devices[device].requesterID
                || (address != nil
                    && devices[index].address.pciAddress.map {
                        $0.segment == address!.segment && $0.bus == address!.bus && $0.device == address!.device
                    } == true)
        }
    }
}
