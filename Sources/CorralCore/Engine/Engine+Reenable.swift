/// Re-enable: triggers, probation, operator release, owner responses.
extension Engine {
    /// A re-enable trigger for `device`. Honoured while Corral holds it silenced or stopped
    /// (never while retired: only an operator brings a retired device back). `force` is for
    /// Corral's own timers; `undoBusMaster` sets bus master again (a driver's own re-enable
    /// already did).
    mutating func reenable(
        _ device: DeviceAddress, trigger: String, undoBusMaster: Bool, at now: Instant, force: Bool = false
    ) {
        guard let record = records[device], !record.shadow else { return }
        switch record.state {
        case .silenced, .stopped:
            break
        case .resetting where force:
            break
        default:
            return
        }
        undoMeasures(device, undoBusMaster: undoBusMaster, reason: "\(device): \(trigger)", at: now)
        enterProbation(device, reason: "\(device): \(trigger)", at: now)
    }

    /// Emits the actions that undo what Corral did in this episode.
    mutating func undoMeasures(_ device: DeviceAddress, undoBusMaster: Bool, reason: String, at now: Instant) {
        guard let record = records[device] else { return }
        let measures = record.measures
        var actions: [Action] = []
        if measures.removed {
            actions.append(.rescan(profile(of: device).parent?.pciAddress))
        } else {
            if measures.silenced { actions.append(.restoreFaultReporting(device)) }
            if measures.intxDisabled, let pci = device.pciAddress { actions.append(.enableINTx(pci)) }
            if measures.dmaBlocked { actions.append(.unblockDMA(device)) }
            if measures.busMasterCleared && undoBusMaster, let pci = device.pciAddress {
                actions.append(.setBusMaster(pci))
            }
        }
        for action in actions {
            emit(action, for: device, from: record.state, to: record.state, reason: "\(reason) → \(action)", at: now)
        }
        records[device]?.measures = AppliedMeasures()
    }

    /// Re-enabled: watched for one probation period; a relapse re-contains at once.
    mutating func enterProbation(_ device: DeviceAddress, reason: String, at now: Instant) {
        guard var record = records[device] else { return }
        let from = record.state
        let until = now + policy.probation.period
        record.state = .probation(until: until)
        record.lastRung = record.rung ?? record.lastRung
        record.rung = nil
        record.pending = nil
        record.evidenceSince = min(record.evidenceSince, now)
        record.measures = AppliedMeasures()
        record.restartDetectors(at: now)
        records[device] = record
        arm(device, .probationEnd, at: until)
        output.append(
            Decision(
                at: now, subject: .device(device), from: from, to: .probation(until: until),
                reason: "\(reason) → probation until \(until)"))
    }

    /// `corral release`: the operator takes responsibility. Undoes every measure, clears the
    /// retirement budget, and puts the device on probation.
    mutating func release(_ device: DeviceAddress, by who: String, at now: Instant) {
        guard var record = records[device] else {
            output.append(
                Decision(
                    at: now, subject: .device(device),
                    reason: "\(device): released by \(who), but Corral holds nothing against it"))
            return
        }
        let wasRetired = record.state == .retired
        record.windowStart = nil
        record.containmentsInWindow = 0
        record.shadow = false
        record.ownerNotified = false
        records[device] = record
        var awaitingOwner = false
        if case .awaitingOwner = record.state { awaitingOwner = true }
        guard record.state.isContained || awaitingOwner else {
            output.append(
                Decision(
                    at: now, subject: .device(device),
                    reason: "\(device): released by \(who); not contained, budget reset"))
            return
        }
        let reason = "\(device): released by \(who)\(wasRetired ? " from retirement" : "")"
        undoMeasures(device, undoBusMaster: true, reason: reason, at: now)
        enterProbation(device, reason: reason, at: now)
    }

    /// The owner acted (bus master cleared, driver unbound, explicit acknowledgement) before
    /// its deadline: nothing to contain; the device is watched on probation.
    mutating func ownerResponded(_ device: DeviceAddress, how: String, at now: Instant) {
        guard let record = records[device], case .awaitingOwner = record.state else { return }
        enterProbation(
            device, reason: "\(device): owner responded (\(how)) before its deadline; not contained", at: now)
    }
}
