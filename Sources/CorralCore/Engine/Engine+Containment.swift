/// Containment: climbing the ladder, awaiting outcomes, retiring.
extension Engine {
    /// Starts (or, after a relapse, resumes) containment of `device` for a storm of `eventClass`.
    mutating func beginContainment(
        _ device: DeviceAddress, _ eventClass: EventClass, reason: String, relapse: Bool, at now: Instant
    ) {
        guard var record = records[device] else { return }
        let profile = profile(of: device)

        // Owner routing: a device owned by user space (vfio-pci) is its owner's to handle first.
        if !relapse, let driver = profile.driver, policy.ownerDrivers.contains(driver), !record.ownerNotified {
            let deadline = now + policy.timing.ownerDeadline
            let from = record.state
            record.state = .awaitingOwner(deadline: deadline)
            record.ownerNotified = true
            record.stormClass = eventClass
            record.restartDetectors(at: now)
            records[device] = record
            arm(device, .ownerDeadline, at: deadline)
            output.append(
                Decision(
                    at: now, subject: .device(device), action: .notifyOwner(device, owner: driver, deadline: deadline),
                    from: from, to: .awaitingOwner(deadline: deadline),
                    reason: "\(reason) → notify its \(driver) owner, contain if it has not acted by \(deadline)"))
            return
        }

        // Retirement budget: EEH's fixed window starting at the first containment.
        if let start = record.windowStart, now - start <= policy.retirement.window {
            record.containmentsInWindow += 1
        } else {
            record.windowStart = now
            record.containmentsInWindow = 1
        }
        record.stormClass = eventClass
        record.ladder = EscalationLadder(profile: profile, policy: policy.ladder, eventClass: eventClass)
        record.shadow = policy.mode == .recommend || isProtected(device)
        records[device] = record
        let nth = record.containmentsInWindow
        let budget = policy.retirement.maxContainments
        if nth > budget {
            retire(
                device,
                reason:
                    "\(reason); containment \(nth) within \(policy.retirement.window.compact) > \(budget) allowed → retire",
                at: now)
            return
        }

        let ladder = record.ladder
        guard !ladder.steps.isEmpty else {
            reportElevated(
                device, eventClass, storm: true, at: now, alias: nil,
                note: "no containment step available for this device")
            return
        }
        var rung = 0
        if relapse, let last = record.lastRung {
            rung = min(last, ladder.steps.count - 1)
            if ladder.steps[rung].isMute { rung = min(rung + 1, ladder.steps.count - 1) }
        } else if isStrict(device), let first = ladder.steps.firstIndex(where: { $0 != .silence }) {
            // Strict devices are stopped, not muted at the IOMMU. Masking INTx stays first for
            // an interrupt storm: it is what stops one (clearing bus master does not touch
            // INTx), as a shared-line storm from a driverless edu under a real kernel showed.
            rung = first
        }
        enterRung(
            device, rung,
            reason: "\(reason) (containment \(nth) of \(budget) allowed per \(policy.retirement.window.compact))",
            at: now)
    }

    /// Carries out one ladder step.
    mutating func enterRung(_ device: DeviceAddress, _ rung: Int, reason: String, at now: Instant) {
        guard var record = records[device], rung < record.ladder.steps.count else { return }
        let step = record.ladder.steps[rung]
        let from = record.state
        record.rung = rung
        record.pending = nil
        record.restartDetectors(at: now)
        record.clearTimer()
        records[device] = record
        let pci = device.pciAddress
        let timing = policy.timing

        // Shadow episodes show the whole step at once and rest in its state until quiet.
        let shadow = record.shadow
        var actions: [Action] = []
        let to: ContainmentState
        var timer: (TimerPurpose, Instant)?
        switch step {
        case .silence:
            actions = [.silenceFaultReporting(device)]
            to = .silenced(until: now + timing.silenceHold)
            timer = (.silenceHold, now + timing.silenceHold)
            record.measures.silenced = true
        case .disableINTx:
            // Held, not timed. Unmasking a function whose interrupt is stuck storms the line
            // again, and once the kernel has disabled the line (note_interrupt(), 100,000
            // unhandled) no relapse would even be seen: under a real 6.1 kernel a hold of
            // 500 ms unmasked an edu that was still asserting. The mask is lifted by a driver
            // binding (its re-initialisation) or an operator's release.
            actions = [.disableINTx(pci!)]
            to = .silenced(until: .never)
            record.measures.intxDisabled = true
        case .clearBusMaster(let verifiable):
            actions = [.clearBusMaster(pci!)]
            if shadow && verifiable {
                actions.append(.awaitQuiescence(pci!, deadline: now + timing.quiescenceDeadline))
            }
            to = .stopped(.stopping(deadline: now + timing.actionDeadline))
            timer = (.actionOutcome, now + timing.actionDeadline)
            record.measures.busMasterCleared = true
        case .blockDMA:
            actions = [.blockDMA(device)]
            to = .stopped(.stopping(deadline: now + timing.actionDeadline))
            timer = (.actionOutcome, now + timing.actionDeadline)
            record.measures.dmaBlocked = true
        case .reset(let method):
            actions = [.reset(pci!, method)]
            to = .resetting(deadline: now + timing.resetDeadline)
            timer = (.actionOutcome, now + timing.resetDeadline)
        case .powerCycleSlot:
            actions = [.powerCycleSlot(pci!)]
            to = .resetting(deadline: now + timing.resetDeadline)
            timer = (.actionOutcome, now + timing.resetDeadline)
        case .remove:
            actions = [.remove(device)]
            to = .removed
            timer = (.actionOutcome, now + timing.actionDeadline)
            record.measures.removed = true
        }
        record.state = to
        record.pending = shadow ? nil : actions.first
        // Until the step is carried out (its outcome), nothing is evidence against it: a batch
        // read late holds events from before it, and a host may take time to carry it out (an
        // IOMMU update, a reset). The outcome sets `evidenceSince` to when it was carried out.
        if record.pending != nil { record.evidenceSince = .never }
        records[device] = record
        let stepText = actions.map(\.description).joined(separator: ", then ")
        for (index, action) in actions.enumerated() {
            emit(action, for: device, from: index == 0 ? from : to, to: to, reason: "\(reason) → \(stepText)", at: now)
        }
        // `emit` may have turned the episode into a shadow one (circuit breaker).
        if records[device]?.shadow == true {
            records[device]?.pending = nil
            let since = records[device]?.evidenceSince ?? now
            records[device]?.evidenceSince = min(since, now)
            arm(device, .shadowQuiet, at: now + policy.probation.period)
        } else if let (purpose, deadline) = timer {
            arm(device, purpose, at: deadline)
        }
    }

    /// Appends a decision carrying `action` — performed, or downgraded to a recommendation when
    /// the episode is a shadow one, the device is protected, or the circuit breaker is open.
    mutating func emit(
        _ action: Action, for device: DeviceAddress, from: ContainmentState?, to: ContainmentState?, reason: String,
        at now: Instant
    ) {
        var final = action
        var why = reason
        // Stopping, resetting or removing a display, storage or network controller takes more
        // than a PCI address with it: say what (issue 17).
        if action.isDisruptive, let target = action.target, let pciClass = profiles[target]?.pciClass,
            let name = pciClass.name, let consequence = pciClass.consequence
        {
            let driver = profiles[target]?.driver.map { ", driver \($0)" } ?? ""
            why += " — \(target) is a \(name)\(driver): \(consequence)"
        }
        let holdBack = heldBack(action, for: device)
        if policy.mode != .enforce || records[device]?.shadow == true || holdBack != nil {
            final = .recommend(action)
            if let holdBack {
                // Not carried out: the episode rests as a recommendation (no outcome awaited).
                records[device]?.shadow = true
                why += " (\(holdBack); recommendation only)"
            } else if policy.mode == .recommend {
                why += " (recommend mode)"
            }
        } else if action.changesDevice && !breaker.admit(at: now) {
            final = .recommend(action)
            records[device]?.shadow = true
            statistics.breakerDowngrades &+= 1
            why += " (circuit breaker open: more than \(policy.circuitBreaker) actions; recommendation only)"
        }
        output.append(Decision(at: now, subject: .device(device), action: final, from: from, to: to, reason: why))
    }

    /// The current step did not hold: try the next one, or retire when none is left.
    mutating func escalate(_ device: DeviceAddress, because why: String, at now: Instant) {
        guard let record = records[device] else { return }
        let next = (record.rung ?? -1) + 1
        if next < record.ladder.steps.count {
            let current = record.rung.map { record.ladder.steps[$0].description } ?? "nothing"
            enterRung(device, next, reason: "\(device): \(why); \(current) did not hold, escalating", at: now)
        } else {
            retire(device, reason: "\(device): \(why); no step left on the ladder → retire", at: now)
        }
    }

    /// Takes the device out of service until an operator releases it.
    mutating func retire(_ device: DeviceAddress, reason: String, at now: Instant) {
        guard var record = records[device] else { return }
        let from = record.state
        record.state = .retired
        record.pending = nil
        record.evidenceSince = min(record.evidenceSince, now)
        record.clearTimer()
        if record.ladder.steps.isEmpty {
            record.ladder = EscalationLadder(
                profile: profile(of: device), policy: policy.ladder, eventClass: record.stormClass)
        }
        records[device] = record
        output.append(Decision(at: now, subject: .device(device), from: from, to: .retired, reason: reason))
        retireActions(device, reason: reason, at: now)
    }

    /// Stop DMA if not already stopped, then remove where the device and policy allow.
    mutating func retireActions(_ device: DeviceAddress, reason: String, at now: Instant) {
        guard var record = records[device] else { return }
        let profile = profile(of: device)
        var actions: [Action] = []
        if let pci = device.pciAddress, profile.busMasterControl {
            // Clear it unless this episode already holds it cleared on a device still present.
            let alreadyCleared = record.measures.busMasterCleared && !record.measures.removed
            if !alreadyCleared { actions.append(.clearBusMaster(pci)) }
            record.measures.busMasterCleared = true
        } else if !record.measures.dmaBlocked {
            actions.append(.blockDMA(device))
            record.measures.dmaBlocked = true
        }
        if profile.removable && policy.ladder.remove && !record.absent {
            actions.append(.remove(device))
            record.measures.removed = true
        }
        records[device] = record
        for action in actions {
            emit(action, for: device, from: .retired, to: .retired, reason: "\(reason) → \(action)", at: now)
        }
    }

    // MARK: - Timers

    mutating func timerFired(_ device: DeviceAddress, _ purpose: TimerPurpose, deadline now: Instant) {
        guard let record = records[device] else { return }
        switch purpose {
        case .shadowQuiet:
            let from = record.state
            records[device]?.state = .healthy
            records[device]?.shadow = false
            records[device]?.ownerNotified = false
            records[device]?.rung = nil
            records[device]?.measures = AppliedMeasures()
            records[device]?.restartDetectors(at: now)
            output.append(
                Decision(
                    at: now, subject: .device(device), from: from, to: .healthy,
                    reason:
                        "\(device): quiet for \(policy.probation.period.compact); the recommended containment is over"))
        case .elevatedQuiet:
            guard record.state == .elevated else { return }
            records[device]?.state = .healthy
            records[device]?.lastReportAt = nil
            records[device]?.lastReportWasStorm = false
            output.append(
                Decision(
                    at: now, subject: .device(device), from: .elevated, to: .healthy,
                    reason:
                        "\(device): no events for \(policy.classes[record.stormClass].thresholds.elevated.window.compact); healthy"
                ))
        case .silenceHold:
            let mute = record.measures.intxDisabled ? "INTx disable" : "silence"
            reenable(
                device, trigger: "\(mute) hold of \(policy.timing.silenceHold.compact) ended", undoBusMaster: true,
                at: now, force: true)
        case .retryDeferred:
            guard let (action, attempts) = record.deferred else { return }
            emit(
                action, for: device, from: record.state, to: record.state,
                reason: "\(device): trying \(action) again (deferred \(attempts) time\(attempts == 1 ? "" : "s"))",
                at: now)
            records[device]?.pending = action
            arm(device, .actionOutcome, at: now + policy.timing.actionDeadline)
        case .actionOutcome:
            let waitingFor = record.pending?.description ?? "the last action"
            escalate(device, because: "no outcome for \(waitingFor) by its deadline", at: now)
        case .quiescenceGrace:
            records[device]?.state = .stopped(.unverified(graceEnd: now))
            output.append(
                Decision(
                    at: now, subject: .device(device), from: record.state, to: .stopped(.unverified(graceEnd: now)),
                    reason:
                        "\(device): grace period of \(policy.timing.unverifiedGrace.compact) over; quiescence assumed, unverified (no Transactions Pending signal)"
                ))
            startHold(device, at: now)
        case .reenableHold:
            // Became strict while held (its driver unbound): it stays stopped.
            if isStrict(device) {
                startHold(device, at: now)
                return
            }
            reenable(
                device, trigger: "automatic re-enable after a hold of \(holdTime(for: record).compact)",
                undoBusMaster: true, at: now, force: true)
        case .rescanHold:
            let parent = profile(of: device).parent?.pciAddress
            emit(
                .rescan(parent), for: device, from: record.state, to: record.state,
                reason: "\(device): automatic re-add after a hold of \(holdTime(for: record).compact)", at: now)
        case .probationEnd:
            records[device]?.state = .healthy
            records[device]?.lastRung = nil
            records[device]?.ownerNotified = false
            output.append(
                Decision(
                    at: now, subject: .device(device), from: record.state, to: .healthy,
                    reason: "\(device): quiet through \(policy.probation.period.compact) of probation; healthy again"))
        case .ownerDeadline:
            let eventClass = record.stormClass
            let thresholds = policy.classes[eventClass].thresholds
            if record.detectors[eventClass.index].isElevated(at: now, thresholds: thresholds) {
                records[device]?.state = .elevated
                beginContainment(
                    device, eventClass,
                    reason:
                        "\(device): owner did not act within \(policy.timing.ownerDeadline.compact); \(burstText(device, eventClass, at: now)) since it was told",
                    relapse: false, at: now)
            } else {
                records[device]?.state = .healthy
                records[device]?.ownerNotified = false
                output.append(
                    Decision(
                        at: now, subject: .device(device), from: record.state, to: .healthy,
                        reason: "\(device): storm subsided within the owner's deadline; nothing contained"))
            }
        }
    }

    func holdTime(for record: DeviceRecord) -> Duration {
        policy.probation.hold(afterContainment: max(1, record.containmentsInWindow))
    }

    /// DMA is stopped and quiet: hold, then re-enable automatically if the policy says so —
    /// never for a strict device. A device with no driver should do no DMA at all (the kernel
    /// gives it none), and an untrusted one that stormed should not get it back by a timer:
    /// both stay stopped until a driver binds (its own enable is the re-enable) or an operator
    /// releases them.
    mutating func startHold(_ device: DeviceAddress, at now: Instant) {
        guard let record = records[device], policy.probation.automaticReenable else { return }
        if isStrict(device) {
            output.append(
                Decision(
                    at: now, subject: .device(device),
                    reason:
                        "\(device): held stopped (\(strictReason(device))): no automatic re-enable; a driver binding or an operator's release brings it back"
                ))
            return
        }
        arm(device, .reenableHold, at: now + holdTime(for: record))
    }

    func strictReason(_ device: DeviceAddress) -> String {
        profile(of: device).untrusted ? "untrusted port" : "no driver bound"
    }

    // MARK: - Outcomes

    mutating func actionCompleted(_ outcome: ActionOutcome, at now: Instant) {
        guard let device = outcome.action.target, let record = records[device] else {
            statistics.staleOutcomes &+= 1
            return
        }
        guard record.pending == outcome.action else {
            statistics.staleOutcomes &+= 1
            if case .deferred = outcome.result {
            } else {
                deferredUndos.removeAll { $0.device == device && $0.action == outcome.action }
            }
            if case .failed(let failure) = outcome.result, outcome.action.isReenableStep,
                !record.state.isContained
            {
                // The engine moved on (probation) but the device is still stopped: try again, so
                // that its state and the engine's agree once the write goes through.
                deferUndo(device, outcome.action, failure, at: now, why: "it is still held")
            } else if case .failed(let failure) = outcome.result {
                output.append(
                    Decision(
                        at: now, subject: .device(device), reason: "\(device): \(outcome.action) failed: \(failure)"))
            } else if case .unsupported(let why) = outcome.result {
                output.append(
                    Decision(
                        at: now, subject: .device(device), reason: "\(device): \(outcome.action) unsupported: \(why)"))
            } else if case .deferred(let failure) = outcome.result {
                if outcome.action.isReenableStep {
                    deferUndo(device, outcome.action, failure, at: now, why: "the host's trouble, not the device's")
                } else {
                    output.append(
                        Decision(
                            at: now, subject: .device(device),
                            reason: "\(device): \(outcome.action) deferred: \(failure)"))
                }
            }
            return
        }
        records[device]?.pending = nil
        records[device]?.clearTimer()
        if case .deferred(let failure) = outcome.result {
            deferStep(device, outcome.action, failure, at: now)
            return
        }
        records[device]?.deferred = nil
        if case .succeeded = outcome.result, outcome.action.changesDevice {
            // The step holds from now, when it was carried out: only what happens after it is
            // evidence that it did not hold, and its deadlines count from here.
            records[device]?.evidenceSince = now
            records[device]?.restartDetectors(at: now)
        }
        switch outcome.result {
        case .failed(let failure):
            escalate(device, because: "\(outcome.action) failed: \(failure)", at: now)
            return
        case .unsupported(let why):
            escalate(device, because: "\(outcome.action) unsupported: \(why)", at: now)
            return
        case .deferred:
            return  // Handled above.
        case .succeeded:
            break
        }
        let timing = policy.timing
        switch outcome.action {
        case .silenceFaultReporting, .disableINTx:
            // The hold counts from when the silence was carried out, not from when it was decided
            // (a batch read late, a host that took its time).
            if case .silenced(let until) = record.state, until != .never {
                records[device]?.state = .silenced(until: now + timing.silenceHold)
                arm(device, .silenceHold, at: now + timing.silenceHold)
            }
        case .clearBusMaster(let pci):
            if case .clearBusMaster(verifiable: true)? = record.rung.map({ record.ladder.steps[$0] }) {
                let deadline = now + timing.quiescenceDeadline
                let to = ContainmentState.stopped(.awaiting(deadline: deadline))
                records[device]?.state = to
                emit(
                    .awaitQuiescence(pci, deadline: deadline), for: device, from: record.state, to: to,
                    reason: "\(device): bus master cleared → await Transactions Pending clear by \(deadline)", at: now)
                records[device]?.pending = .awaitQuiescence(pci, deadline: deadline)
                arm(device, .actionOutcome, at: deadline + timing.actionDeadline)
            } else {
                graceStop(device, reason: "bus master cleared; no Transactions Pending signal", at: now)
            }
        case .blockDMA:
            graceStop(device, reason: "DMA blocked at the IOMMU; a non-PCI master cannot prove quiescence", at: now)
        case .awaitQuiescence:
            records[device]?.state = .stopped(.verified)
            output.append(
                Decision(
                    at: now, subject: .device(device), from: record.state, to: .stopped(.verified),
                    reason: "\(device): Transactions Pending clear: quiescence verified"))
            startHold(device, at: now)
        case .reset(_, let method):
            records[device]?.measures.busMasterCleared = false
            enterProbation(device, reason: "\(device): \(method) reset completed", at: now)
        case .powerCycleSlot:
            records[device]?.measures.busMasterCleared = false
            enterProbation(device, reason: "\(device): slot power cycle completed", at: now)
        case .remove:
            records[device]?.absent = true
            output.append(
                Decision(
                    at: now, subject: .device(device), from: record.state, to: .removed,
                    reason: "\(device): removed; waiting for a re-add"))
            if policy.probation.automaticReenable, record.state != .retired, !isStrict(device) {
                arm(device, .rescanHold, at: now + holdTime(for: record))
            }
        default:
            break
        }
    }

    /// The host could not carry out `action` for a reason of its own (`ActionFailure.isHostSide`):
    /// the device stays where it is and the same step is tried again, after 100 ms, doubling up
    /// to 5 s, for as long as it takes. Never an escalation: a fuller file-descriptor table is
    /// no evidence against the device.
    mutating func deferStep(_ device: DeviceAddress, _ action: Action, _ failure: ActionFailure, at now: Instant) {
        let attempts = (records[device]?.deferred?.action == action ? records[device]?.deferred?.attempts ?? 0 : 0) + 1
        records[device]?.deferred = (action, attempts)
        statistics.deferredActions &+= 1
        let backoff = min(Duration.milliseconds(100) * (1 << min(attempts - 1, 6)), .seconds(5))
        output.append(
            Decision(
                at: now, subject: .device(device),
                reason:
                    "\(device): \(action) could not be carried out (\(failure)); the host's trouble, not the device's: "
                    + "trying again in \(backoff.compact) (attempt \(attempts))"))
        arm(device, .retryDeferred, at: now + backoff)
    }

    /// A re-enable step (set bus master, restore reporting...) the host deferred: the engine has
    /// moved on (probation) and awaits no outcome, so it is tried again from `deferredUndos`,
    /// with the same backoff as `deferStep`, until it is carried out or the device is contained
    /// again.
    mutating func deferUndo(
        _ device: DeviceAddress, _ action: Action, _ failure: ActionFailure, at now: Instant, why: String
    ) {
        let previous = deferredUndos.firstIndex { $0.device == device && $0.action == action }
        let attempts = (previous.map { deferredUndos[$0].attempts } ?? 0) + 1
        if let previous { deferredUndos.remove(at: previous) }
        let backoff = min(Duration.milliseconds(100) * (1 << min(attempts - 1, 6)), .seconds(5))
        deferredUndos.append((device, action, attempts, now + backoff))
        statistics.deferredActions &+= 1
        output.append(
            Decision(
                at: now, subject: .device(device),
                reason:
                    "\(device): \(action) could not be carried out (\(failure)); \(why): "
                    + "trying again in \(backoff.compact) (attempt \(attempts))"))
    }

    mutating func retryDeferredUndos(upTo now: Instant) {
        guard deferredUndos.contains(where: { $0.due <= now }) else { return }
        let due = deferredUndos.filter { $0.due <= now }
        deferredUndos.removeAll { $0.due <= now }
        for entry in due {
            guard let record = records[entry.device], !record.state.isContained else { continue }
            emit(
                entry.action, for: entry.device, from: record.state, to: record.state,
                reason:
                    "\(entry.device): trying \(entry.action) again (deferred \(entry.attempts) time\(entry.attempts == 1 ? "" : "s"))",
                at: now)
            // Kept until its outcome (deferred again, it comes back with one more attempt),
            // unless it went out as a recommendation: then no outcome will come.
            if output.last?.action?.isRecommendation != true {
                deferredUndos.append((entry.device, entry.action, entry.attempts, .never))
            }
        }
    }

    mutating func graceStop(_ device: DeviceAddress, reason: String, at now: Instant) {
        guard let record = records[device] else { return }
        let graceEnd = now + policy.timing.unverifiedGrace
        records[device]?.state = .stopped(.unverified(graceEnd: graceEnd))
        output.append(
            Decision(
                at: now, subject: .device(device), from: record.state, to: .stopped(.unverified(graceEnd: graceEnd)),
                reason: "\(device): \(reason) → wait \(policy.timing.unverifiedGrace.compact) grace"))
        arm(device, .quiescenceGrace, at: graceEnd)
    }
}
