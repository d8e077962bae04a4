import CorralCore

// The `corral` policy's side of the world: events to the daemon's loop (`ContainmentLoop`, read
// late when the daemon starts late or stalls), and the actions `SimHost` hands over, carried out
// after the cost model's latency.
extension Simulation {
    // MARK: - Other events to the policy

    /// One event to Corral's loop (when the daemon has started; before, it waits in the kernel's
    /// log as a backlog, `scenario.daemonStart`).
    mutating func deliver(_ event: DeviceEvent) {
        guard loop != nil, case .corral = policy else { return }
        if let readAt = daemonReadsAt() {
            if backlog.isEmpty { agenda.schedule(.daemonReads, at: readAt) }
            backlog.append((event, now))
            return
        }
        carryOut(loop!.feed(event, at: now, now: now))
    }

    /// When the daemon next reads the kernel's log, if it is not reading now: its start
    /// (`daemonStart`), or the end of a stall.
    func daemonReadsAt() -> Instant? {
        if let start = scenario.daemonStart, now < .zero + start { return .zero + start }
        for stall in scenario.daemonStalls where now >= .zero + stall.at && now < .zero + stall.at + stall.duration {
            return .zero + stall.at + stall.duration
        }
        return nil
    }

    /// The daemon reads what waited (each event at the time it happened) in one pass: a backlog
    /// at its start is history; after a stall it is live evidence, read late.
    mutating func readBacklog() {
        guard loop != nil else { return }
        let waiting = backlog
        backlog = []
        let started = scenario.daemonStart.map { now == .zero + $0 } ?? false
        timeline.append(
            TimelineEntry(
                at: now, kind: .note, subject: "corral",
                text: "\(started ? "corral starts" : "corral's loop turns again"); it reads \(waiting.count) events "
                    + "that waited in the kernel log"))
        for (event, at) in waiting { carryOut(loop!.feed(event, at: at, now: now)) }
    }

    /// Corral's view of /proc/interrupts every 10 ms: a line firing far above any device's
    /// need with nobody handling it is an INTx storm.
    // MARK: - The host: carrying out the engine's actions

    /// What one pass of the loop decided: into the timeline; what `SimHost` was handed, into the
    /// world; the engine's next timer, onto the agenda.
    mutating func carryOut(_ decisions: [Decision]) {
        for decision in decisions { record(decision) }
        guard loop != nil else { return }
        for (action, _) in loop!.host.takeRequested() where !action.isRecommendation { begin(action) }
        if let deadline = loop!.engine.nextDeadline, scheduledTimer.map({ deadline < $0 }) ?? true {
            scheduledTimer = deadline
            agenda.schedule(.engineTimer, at: max(deadline, now))
        }
    }

    /// Starts carrying out `action` in the world: its effect and outcome come after the cost
    /// model's latency (`complete`).
    mutating func begin(_ action: Action) {
        let latency: Duration
        switch action {
        case .reportStorm, .recommend:
            return
        case .silenceFaultReporting, .restoreFaultReporting, .blockDMA, .unblockDMA:
            latency = costs.iommuEntryUpdate
        case .clearBusMaster, .setBusMaster, .disableINTx, .enableINTx:
            latency = costs.configWrite
        case .awaitQuiescence(let pci, let deadline):
            guard let index = indexByAddress[.pci(pci)] else { return }
            let draining = devices[index].behaviours.indices.contains { behaviour in
                devices[index].active[behaviour] && devices[index].behaviours[behaviour].isDMA
                    && !devices[index].behaviours[behaviour].obeysBusMaster
            }
            if draining {
                // Transactions Pending never clears: the poll gives up at the deadline.
                agenda.schedule(.actionDone(action), at: max(deadline, now))
                return
            }
            latency = costs.drainTime
        case .reset(_, let method):
            latency = method == .flr || method == .afFLR ? costs.functionReset : costs.busReset
            if let target = action.target.flatMap({ indexByAddress[$0] }) {
                for index in affected(by: action, target: target) {
                    devices[index].resettingUntil = now + latency
                    halt(index, byReset: true)
                    markContained(index)
                }
            }
        case .powerCycleSlot:
            latency = costs.slotPowerCycle
            if let target = action.target.flatMap({ indexByAddress[$0] }) {
                for index in affected(by: action, target: target) {
                    devices[index].resettingUntil = now + latency
                    halt(index, byReset: true)
                    markContained(index)
                }
            }
        case .remove, .rescan, .unbindDriver:
            latency = costs.removal
        case .notifyOwner(let device, _, _):
            if let index = indexByAddress[device], devices[index].ownerResponds == true {
                // The VMM stops its device (bus master off) and says so.
                agenda.schedule(.deliver(.busMasterChanged(device, enabled: false)), at: now + .milliseconds(1))
                agenda.schedule(.actionDone(.clearBusMaster(device.pciAddress!)), at: now + .milliseconds(1))
                note(.owner, index, "its owner (VMM) answers: it stops the device")
            }
            return
        }
        if let target = action.target, let index = indexByAddress[target], isHealthy(index), action.changesDevice {
            disturbed.insert(index)
        }
        agenda.schedule(.actionDone(action), at: now + latency)
    }

    /// An action takes effect; its outcome goes back to the engine.
    mutating func complete(_ action: Action) {
        var result: ActionOutcome.Result = .succeeded
        if let target = action.target.flatMap({ indexByAddress[$0] }) {
            for index in affected(by: action, target: target) {
                if let failure = apply(action, to: index) { result = failure }
            }
        }
        guard loop != nil else { return }
        carryOut(loop!.feed(.actionCompleted(ActionOutcome(action: action, result: result)), at: now, now: now))
    }

    /// The devices an action on `target` reaches: a bridge's bus master and resets reach the
    /// devices behind it (their DMA is forwarded through it, under its requester ID).
    func affected(by action: Action, target: Int) -> [Int] {
        switch action {
        case .clearBusMaster, .setBusMaster, .reset, .powerCycleSlot, .remove, .rescan, .silenceFaultReporting,
            .restoreFaultReporting, .blockDMA, .unblockDMA:
            let address = devices[target].address
            return [target]
                + devices.indices.filter { index in
                    index != target
                        && (devices[index].profile.parent == address
                            || (devices[index].requesterID != nil
                                && devices[index].requesterID == devices[target].requesterID))
                }
        default:
            return [target]
        }
    }

    /// One device's part of an action's effect; a failure to report, if any.
    mutating func apply(_ action: Action, to index: Int) -> ActionOutcome.Result? {
        let device = devices[index]
        switch action {
        case .silenceFaultReporting:
            settleSilenced(index)
            devices[index].silenced = true
            iommus[device.iommu].setSilenced(requesterID: device.requesterID, streamID: device.streamID, true)
            markContained(index)
        case .restoreFaultReporting:
            settleSilenced(index)
            devices[index].silenced = false
            iommus[device.iommu].setSilenced(requesterID: device.requesterID, streamID: device.streamID, false)
            resume(index)
        case .blockDMA:
            settleSilenced(index)
            devices[index].blocked = true
            if abortsSilently(index) { markContained(index) }
        case .unblockDMA:
            settleSilenced(index)
            devices[index].blocked = false
            resume(index)
        case .clearBusMaster:
            devices[index].busMaster = false
            halt(index)
            if devices[index].behaviours.contains(where: { $0.isMisbehaviour && $0.obeysBusMaster }) {
                markContained(index)
            }
        case .setBusMaster:
            devices[index].busMaster = true
            reenabled(index)
            resume(index)
        case .disableINTx:
            devices[index].intxDisabled = true
            halt(index)
            markContained(index)
        case .enableINTx:
            devices[index].intxDisabled = false
            reenabled(index)
        case .awaitQuiescence(_, let deadline):
            let stillBusy = device.behaviours.indices.contains {
                device.active[$0] && device.behaviours[$0].isDMA && !device.behaviours[$0].obeysBusMaster
            }
            if now >= deadline && stillBusy {
                return .failed(ActionFailure(errno: 110, message: "Transactions Pending still set"))
            }
            note(.quiescence, index, "Transactions Pending clear: no DMA in flight")
        case .reset, .powerCycleSlot:
            devices[index].resettingUntil = nil
            devices[index].busMaster = true  // pci_reset_function() restores the saved state
            reenabled(index, afterReset: true)
            resume(index)
        case .remove:
            devices[index].present = false
            halt(index, all: true)
            markContained(index)
        case .rescan:
            devices[index].present = true
            resume(index)
        default:
            break
        }
        return nil
    }

    /// Healthy: nothing about it misbehaves, nor anything behind it or sharing its requester ID
    /// (a bridge accountable for a DMA alias is not an innocent bystander).
    func isHealthy(_ index: Int) -> Bool { Self.healthy(index, in: devices) }

    static func healthy(_ index: Int, in devices: [SimDevice]) -> Bool {
        guard devices[index].isHealthy else { return false }
        let address = devices[index].address
        return !devices.indices.contains { other in
            other != index && !devices[other].isHealthy
                && (devices[other].profile.parent == address
                    || (devices[other].requesterID != nil && devices[other].requesterID == devices[index].requesterID))
        }
    }

    mutating func markContained(_ device: Int) {
        guard containedAt[device] == nil,
            devices[device].behaviours.contains(where: { $0.isMisbehaviour && now >= .zero + $0.start })
                || !devices[device].happenings.isEmpty
        else { return }
        containedAt[device] = now
    }
}
