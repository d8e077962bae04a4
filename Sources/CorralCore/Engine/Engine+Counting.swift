/// Counting events, storm detection and attribution of what IOMMUs lost.
extension Engine {
    /// Counts `amount` events of `eventClass` against `device` and reacts to the level reached.
    mutating func count(
        _ eventClass: EventClass, _ amount: UInt64, on device: DeviceAddress, vendor: IOMMUVendor?,
        iommu: IOMMUInstance?, alias: DeviceResolver.AliasGroup?, at now: Instant, note: String? = nil,
        lowerBound: Bool = false
    ) {
        // One hash lookup, then the record is updated in place (DeviceTable: no copy of the
        // record or its arrays, no coroutine frame on the per-event path).
        let slot = records.find(device) ?? records.insert(newRecord(device), for: device)
        if records.storage[slot].profileVersion != profilesVersion { refreshProfileFacts(slot) }
        let limits = detectorLimits[eventClass.index]
        let level: StormDetector.Level
        let history: Bool
        switch records.storage[slot].count(
            eventClass, amount, vendor: vendor, iommu: iommu, alias: alias, lowerBound: lowerBound, at: now,
            liveFrom: liveFrom, limits: limits)
        {
        case .absent:
            statistics.ignoredAfterRemoval &+= amount
            return
        case .predatesContainment:
            statistics.predatingContainment &+= amount
            return
        case .counted(let reached, let isHistory):
            level = reached
            history = isHistory
        }
        if history {
            statistics.historyEvents &+= amount
            if level >= .elevated {
                let before = "history: logged before corral started, not acted on"
                reportElevated(
                    device, eventClass, storm: level == .storm, at: now, alias: alias,
                    note: note.map { "\($0); \(before)" } ?? before)
            }
            return
        }
        let state = records.storage[slot].state

        if records.storage[slot].shadow && state != .healthy && state != .elevated {
            // A recommendation stands until the device has been quiet for a probation period.
            arm(slot: slot, .shadowQuiet, at: Instant(nanoseconds: now.nanoseconds &+ probationNanoseconds))
            return
        }
        // Below the elevated rate no state reacts (each case of `react` needs `.elevated` at
        // least); an elevated device only has its quiet timer pushed back. Most events of a
        // healthy machine, and of a device whose containment holds, end here.
        if level == .quiet {
            if case .elevated = state {
                arm(slot: slot, .elevatedQuiet, at: Instant(nanoseconds: now.nanoseconds &+ limits.elevatedWindow))
            }
            return
        }
        react(to: level, of: eventClass, on: device, slot: slot, state: state, alias: alias, at: now, note: note)
    }

    /// What a device's state does at an elevated or storm rate: begin, climb or keep to its
    /// containment, or report. Out of line: it builds reasons (strings), and the per-event
    /// path above is kept small.
    @inline(never)
    mutating func react(
        to level: StormDetector.Level, of eventClass: EventClass, on device: DeviceAddress, slot: Int,
        state: ContainmentState, alias: DeviceResolver.AliasGroup?, at now: Instant, note: String?
    ) {
        let classPolicy = policy.classes[eventClass]
        let strict = records.storage[slot].strict
        let storm = level == .storm || (strict && level >= .elevated)
        switch state {
        case .healthy, .elevated:
            if storm && classPolicy.contain && policy.mode != .observe {
                let why = stormReason(
                    device, eventClass, at: now, strict: strict && level != .storm, alias: alias, note: note)
                beginContainment(device, eventClass, reason: why, relapse: false, at: now)
            } else if level >= .elevated {
                reportElevated(device, eventClass, storm: storm, at: now, alias: alias, note: note)
            }
            if let slot = records.slot(of: device), records.storage[slot].state == .elevated {
                // Back to healthy once a whole elevated window passes without another event.
                arm(
                    slot: slot, .elevatedQuiet,
                    at: Instant(nanoseconds: now.nanoseconds &+ classPolicy.thresholds.elevated.windowNanoseconds))
            }
        case .probation:
            if level >= .elevated {
                let why =
                    "\(device): relapse during probation: \(burstText(device, eventClass, at: now)) ≥ \(classPolicy.thresholds.elevated)"
                beginContainment(device, eventClass, reason: why, relapse: true, at: now)
            }
        case .silenced:
            if level >= .elevated {
                escalate(
                    device, because: "\(burstText(device, eventClass, at: now)) still reported while silenced", at: now)
            }
        case .stopped(let quiescence):
            let settled: Bool
            switch quiescence {
            case .verified: settled = true
            case .unverified(let graceEnd): settled = now >= graceEnd
            case .stopping, .awaiting: settled = false
            }
            if settled && level >= .elevated {
                escalate(device, because: "\(burstText(device, eventClass, at: now)) after DMA was stopped", at: now)
            }
        case .awaitingOwner, .resetting, .removed, .retired:
            break
        }
    }

    /// Copies what `count` needs from the device's profile into its record (see `profilesVersion`).
    mutating func refreshProfileFacts(_ slot: Int) {
        let device = records.storage[slot].address
        records.storage[slot].strict = isStrict(device)
        records.storage[slot].profileIOMMU = profiles[device]?.iommu
        records.storage[slot].profileVersion = profilesVersion
    }

    func newRecord(_ device: DeviceAddress) -> DeviceRecord {
        var record = DeviceRecord(address: device)
        record.serial = profiles[device]?.serial
        return record
    }

    func burstText(_ device: DeviceAddress, _ eventClass: EventClass, at now: Instant) -> String {
        guard let detector = records[device]?.detectors[eventClass.index] else { return "no \(eventClass) events" }
        let span = now - detector.burstStart
        return "\(Count.grouped(detector.burstCount)) \(eventClass) events in \(span.readable)"
    }

    func stormReason(
        _ device: DeviceAddress, _ eventClass: EventClass, at now: Instant, strict: Bool,
        alias: DeviceResolver.AliasGroup?, note: String?
    ) -> String {
        let thresholds = policy.classes[eventClass].thresholds
        var text = "\(device): \(burstText(device, eventClass, at: now))"
        if let note { text += " (\(note))" }
        if strict {
            let profile = profile(of: device)
            text += " ≥ \(thresholds.elevated) (strict: \(profile.untrusted ? "untrusted port" : "no driver bound"))"
        } else {
            text += " ≥ \(thresholds.storm)"
        }
        if let alias, alias.members.count > 1 {
            text += "; requester ID shared by \(alias.members.map(\.description).joined(separator: ", "))"
        }
        return text
    }

    /// Rate-limited reporting: one coalesced summary per report interval.
    mutating func reportElevated(
        _ device: DeviceAddress, _ eventClass: EventClass, storm: Bool, at now: Instant,
        alias: DeviceResolver.AliasGroup?, note: String?
    ) {
        // In place: this runs for every event of an elevated device, most of them rate-limited away.
        guard let slot = records.slot(of: device) else { return }
        let from = records.storage[slot].state
        if let last = records.storage[slot].lastReportAt, now - last < policy.timing.reportInterval, from == .elevated,
            records.storage[slot].lastReportWasStorm || !storm
        {
            return
        }
        records.storage[slot].lastReportAt = now
        records.storage[slot].lastReportWasStorm = storm
        if !from.isContained { records.storage[slot].stormClass = eventClass }
        records.storage[slot].state = .elevated
        let thresholds = policy.classes[eventClass].thresholds
        let recent = records.storage[slot].detectors[eventClass.index].recentLevel(at: now, thresholds: thresholds)
        var summary =
            "\(device): \(Count.grouped(UInt64(recent.rounded()))) \(eventClass) events in the last \(thresholds.storm.window.compact)"
        if let note { summary += " (\(note))" }
        if storm && liveFrom.map({ now < $0 }) == true {
            summary += " ≥ \(thresholds.storm)"
        } else if storm && !policy.classes[eventClass].contain {
            summary += " ≥ \(thresholds.storm); \(eventClass) storms are reported, not contained"
        } else if storm {
            summary += " ≥ \(thresholds.storm); observe mode: not contained"
        } else if eventClass.isLogged {
            summary += " ≥ \(thresholds.elevated) (kernel log drops messages above this rate)"
        } else {
            summary += " ≥ \(thresholds.elevated)"
        }
        if let alias, alias.members.count > 1 {
            summary += "; requester ID shared by \(alias.members.map(\.description).joined(separator: ", "))"
        }
        output.append(
            Decision(
                at: now, subject: .device(device), action: .reportStorm(.device(device), summary: summary), from: from,
                to: .elevated, reason: summary))
    }

    /// The device on `scope` with the highest recent DMA-fault rate, if any faulted recently.
    func noisiestDevice(on scope: IOMMUInstance, vendor: IOMMUVendor?, at now: Instant) -> DeviceAddress? {
        let thresholds = policy.classes[.dmaFault].thresholds
        var best: (level: Double, device: DeviceAddress)?
        // Read in place: `for record in records.values` copied every device's record (its
        // detectors and history) for each rate-limit note of a storm log.
        let values = records.values
        var index = values.startIndex
        while index != values.endIndex {
            defer { index = values.index(after: index) }
            guard !values[index].absent else { continue }
            let sameUnit =
                values[index].scope == scope
                || (vendor != nil && values[index].vendor == vendor && scope.name == vendor!.rawValue)
            guard sameUnit else { continue }
            let level = values[index].detectors[EventClass.dmaFault.index].recentLevel(at: now, thresholds: thresholds)
            guard level > 0 else { continue }
            let address = values[index].address
            if best.map({ level > $0.level || (level == $0.level && address < $0.device) }) ?? true {
                best = (level, address)
            }
        }
        return best?.device
    }

    /// An overflow is a storm of its own, held against the device most likely to have caused
    /// it (highest recent rate on that IOMMU), else against the IOMMU.
    mutating func queueOverflowed(_ overflow: QueueOverflow, at now: Instant) {
        let scope = overflow.iommu ?? .unnamed(overflow.vendor)
        if let device = noisiestDevice(on: scope, vendor: overflow.vendor, at: now) {
            records[device]?.lost &+= overflow.lost ?? 0
            records[device]?.lowerBound = true
            count(
                .queueOverflow, 1, on: device, vendor: overflow.vendor, iommu: overflow.iommu, alias: nil, at: now,
                note: "\(overflow.queue) overflow on \(scope), attributed to the noisiest device", lowerBound: true)
        } else {
            statistics.unattributedOverflows &+= 1
            iommus[scope, default: IOMMURecord()].overflows &+= 1
            iommus[scope, default: IOMMURecord()].lost &+= overflow.lost ?? 0
            reportIOMMU(scope, at: now, what: "\(overflow.queue) overflow (no device faulting recently)")
        }
    }

    /// Suppressed messages were real events: they add to the noisiest device's totals, which
    /// become lower bounds. They do not feed its storm detector: the attribution is a guess
    /// (VT-d's ratelimit is shared by every device), and a guess alone must never contain a
    /// device.
    mutating func messagesSuppressed(_ suppressed: SuppressedMessages, at now: Instant) {
        let scope = suppressed.iommu ?? suppressed.vendor.map(IOMMUInstance.unnamed)
        if let scope, let device = noisiestDevice(on: scope, vendor: suppressed.vendor, at: now) {
            records[device]?.suppressed &+= suppressed.count
            switch policy.suppressedMessages {
            case .count:
                records[device]?.totals[EventClass.dmaFault.index] &+= suppressed.count
                records[device]?.lowerBound = true
            case .attribute:
                // Counted as the device's own faults, rate included (history stays history,
                // protection and modes apply as to any fault): the policy asked for it.
                count(
                    .dmaFault, suppressed.count, on: device, vendor: suppressed.vendor, iommu: suppressed.iommu,
                    alias: nil, at: now,
                    note: "\(Count.grouped(suppressed.count)) messages the kernel suppressed, attributed to the "
                        + "noisiest device on \(scope)", lowerBound: true)
            }
        } else {
            statistics.unattributedSuppressed &+= suppressed.count
            let key = scope ?? IOMMUInstance(suppressed.function)
            iommus[key, default: IOMMURecord()].suppressed &+= suppressed.count
        }
    }

    mutating func reportIOMMU(_ scope: IOMMUInstance, at now: Instant, what: String) {
        var record = iommus[scope] ?? IOMMURecord()
        defer { iommus[scope] = record }
        if let last = record.lastReportAt, now - last < policy.timing.reportInterval { return }
        record.lastReportAt = now
        let summary =
            "iommu \(scope): \(what); \(Count.grouped(record.overflows)) overflows, \(Count.grouped(record.lost)) records known lost"
        output.append(
            Decision(
                at: now, subject: .iommu(scope), action: .reportStorm(.iommu(scope), summary: summary), reason: summary)
        )
    }

    // MARK: - Presence

    /// Marks every inventoried device below `port` (not the port itself) absent or present.
    mutating func markBelow(port: PCIAddress, absent: Bool, at now: Instant, why: String) {
        let portAddress = DeviceAddress.pci(port)
        let below = profiles.keys.filter { isBelow($0, port: portAddress) }.sorted()
        for device in below {
            if absent {
                markAbsent(device, at: now, why: why)
            } else if records[device]?.absent == true {
                records[device]?.absent = false
                output.append(
                    Decision(
                        at: now, subject: .device(device), reason: "\(device): present again (\(why)); counting resumes"
                    ))
            }
        }
    }

    func isBelow(_ device: DeviceAddress, port: DeviceAddress) -> Bool {
        var current = profiles[device]?.parent
        var hops = 0
        while let parent = current, hops < 64 {
            if parent == port { return true }
            current = profiles[parent]?.parent
            hops += 1
        }
        return false
    }

    mutating func markAbsent(_ device: DeviceAddress, at now: Instant, why: String) {
        var record = records[device] ?? newRecord(device)
        guard !record.absent else { return }
        record.absent = true
        if case .removed = record.state {
        } else if record.pending == .remove(device) {
        } else {
            output.append(
                Decision(
                    at: now, subject: .device(device),
                    reason: "\(device): gone (\(why)); its faults no longer count against it"))
        }
        records[device] = record
    }

    mutating func deviceAdded(_ device: DeviceAddress, serial: SerialNumber?, at now: Instant) {
        // A re-inserted device keeps its history under its new address.
        if let serial, let previous = serials[serial], previous != device,
            var moved = records.removeValue(forKey: previous)
        {
            moved.address = device
            records[device] = moved
            if var profile = profiles.removeValue(forKey: previous) {
                profile.address = device
                profile.serial = serial
                profiles[device] = profile
            }
        }
        if let serial { serials[serial] = device }
        var record = records[device] ?? newRecord(device)
        let wasAbsent = record.absent
        let previousSerial = record.serial
        record.absent = false
        if let serial { record.serial = serial }
        records[device] = record
        let identity = serial.map { " (serial \($0))" } ?? ""
        switch record.state {
        case .removed:
            enterProbation(device, reason: "\(device): re-added\(identity)", at: now)
        case .retired:
            output.append(
                Decision(
                    at: now, subject: .device(device),
                    reason:
                        "\(device): retired device re-inserted\(identity); kept contained until an operator releases it"
                ))
            retireActions(device, reason: "\(device): retired device re-inserted\(identity)", at: now)
        default:
            if wasAbsent {
                output.append(
                    Decision(
                        at: now, subject: .device(device),
                        reason: "\(device): added\(identity); counting resumes with its history"))
            } else if let serial {
                // Already marked present (pciehp "Card present", link up): the identity is
                // what the inventory adds.
                let same = previousSerial == nil || previousSerial == serial
                output.append(
                    Decision(
                        at: now, subject: .device(device),
                        reason: same
                            ? "\(device): identified by serial \(serial); the same device, its history kept"
                            : "\(device): now serial \(serial), was \(previousSerial!): a different device in the same place"
                    ))
            }
        }
    }
}

extension Duration {
    /// `850µs`, `12ms`, `1.5s`: for reasons.
    public var readable: String {
        let ns = nanosecondsClamped
        if ns < 1_000 { return "\(ns)ns" }
        if ns < 1_000_000 { return "\(ns / 1_000)µs" }
        if ns < 1_000_000_000 { return "\(ns / 1_000_000)ms" }
        let tenths = ns / 100_000_000
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}
