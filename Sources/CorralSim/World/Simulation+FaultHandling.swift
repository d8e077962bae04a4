import CorralCore

// Faults through the IOMMU models, the kernel's fault handler (its CPU cost and printk
// ratelimit), and what reaches each policy; interrupt sampling.
extension Simulation {
    // MARK: - Faults and the handler

    mutating func fault(_ device: Int, address: UInt64, write: Bool, lookup: IOMMUDomain.Lookup) {
        tallies[device].faults += 1
        emit(device, .event(.dmaFault), count: 1, address: address, faultKind: DMAFaultKind(rawValue: lookup.rawValue))
        let sim = devices[device]
        let fault = SimFault(
            device: device, requesterID: sim.requesterID, streamID: sim.streamID, address: address, write: write,
            lookup: lookup)
        switch iommus[sim.iommu].record(fault) {
        case .recorded:
            tallies[device].recorded += 1
            raiseInterrupt(sim.iommu)
        case .lost:
            tallies[device].lost += 1
            if !overflowNoted.contains(sim.iommu) {
                overflowNoted.insert(sim.iommu)
                timeline.append(
                    TimelineEntry(
                        at: now, kind: .overflow, subject: iommus[sim.iommu].instance.name,
                        text: "fault queue full (\(iommus[sim.iommu].capacity) records): faults are being lost"))
            }
        case .silenced:
            tallies[device].silenced += 1
        }
    }

    mutating func raiseInterrupt(_ iommu: Int) {
        guard !interruptScheduled[iommu], !handlerBusy[iommu] else { return }
        interruptScheduled[iommu] = true
        agenda.schedule(.interrupt(iommu: iommu), at: now + costs.interruptLatency)
    }

    mutating func runHandler(_ iommu: Int) {
        let events = iommus[iommu].drain()
        let overflowed = iommus[iommu].takeOverflow()
        var cost = costs.interrupt + costs.record * events.count
        switch policy {
        case .linuxToday:
            for event in events where printkAllowed(event, iommu: iommu) { cost += costs.printk }
        case .corral:
            cost += costs.engine * (events.count + (overflowed ? 1 : 0))
        case .eeh:
            break
        }
        handlerBusy[iommu] = true
        let done = cpu.run(cost, readyAt: now)
        agenda.schedule(.handlerDone(iommu: iommu, events: events, overflowed: overflowed), at: done)
    }

    /// The kernel's DEFAULT_RATELIMIT (10 per 5 s): one state for all VT-d/SMMU faults, one
    /// per device for AMD-Vi (reference §1.3, §2.3).
    mutating func printkAllowed(_ event: DeviceEvent, iommu: Int) -> Bool {
        let key =
            iommus[iommu].vendor == .amdVi
            ? (event.handledFault?.source.description ?? "") : iommus[iommu].instance.name
        var window = printkWindow[key] ?? (now, 0)
        if now - window.start >= .seconds(5) { window = (now, 0) }
        window.count += 1
        printkWindow[key] = window
        return window.count <= 10
    }

    mutating func deliverHandled(_ iommu: Int, _ events: [DeviceEvent], overflowed: Bool) {
        for event in events where event.handledFault?.recoverable != true {
            if let index = deviceIndex(for: event) { tallies[index].handled += 1 }
        }
        switch policy {
        case .linuxToday:
            break
        case .eeh:
            for event in events where event.handledFault?.recoverable != true {
                if let index = deviceIndex(for: event) { eehFreeze(index) }
            }
        case .corral:
            if overflowed {
                deliver(
                    .queueOverflowed(
                        QueueOverflow(
                            vendor: iommus[iommu].vendor, iommu: iommus[iommu].instance, queue: overflowQueue(iommu))))
            }
            for event in events { deliver(event) }
        }
    }

    func overflowQueue(_ iommu: Int) -> QueueOverflow.Queue {
        switch iommus[iommu].vendor {
        case .intelVTd: .faultRecords
        case .amdVi: .eventLog
        case .armSMMU, .armSMMUv3, .riscv, .mediatek, .renesasIPMMU, .rockchip, .appleDART: .eventQueue
        }
    }

    /// The simulated device a handled record came from (for the tallies and EEH's freeze).
    func deviceIndex(for event: DeviceEvent) -> Int? {
        switch event.handledFault?.source {
        case .device(let address)?:
            return indexByAddress[address]
        case .requester(_, let requesterID)?:
            if let index = indexByAddress[.pci(PCIAddress(requesterID: requesterID))] { return index }
            // A DMA alias: the bridge's requester ID stands for the devices behind it.
            return devices.firstIndex { $0.requesterID == requesterID }
        case .stream(let stream)?:
            return devices.firstIndex {
                $0.streamID == stream.streamID
                    || ($0.streamID == nil && UInt32($0.requesterID?.rawValue ?? 0) == stream.streamID.rawValue)
            }
        case nil:
            return nil
        }
    }

    mutating func sampleInterrupts() {
        for (device, count) in intxCount {
            let delta = count - intxSampled[device, default: 0]
            intxSampled[device] = count
            let rate = UInt64(delta) * 100
            if rate >= 10_000, !devices[device].intxDisabled, let address = devices[device].address.pciAddress {
                deliver(
                    .irqStorm(
                        IRQStorm(irq: IRQNumber(irqNumber(device)), devices: [.pci(address)], ratePerSecond: rate)))
            }
        }
        if now + .milliseconds(10) <= .zero + scenario.duration {
            agenda.schedule(.interruptSample, at: now + .milliseconds(10))
        }
    }
}

extension DeviceEvent {
    /// The DMA fault a handled record reported (the models record only DMA faults).
    fileprivate var handledFault: DMAFault? {
        if case .dmaFault(let fault) = self { return fault }
        return nil
    }
}
