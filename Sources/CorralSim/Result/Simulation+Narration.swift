import CorralCore

// The story of a run: the timeline, the journal feed (`onEvent`) and the result.
extension Simulation {
    // MARK: - Story and result

    func emit(
        _ device: Int, _ eventClass: ObservedClass, count: UInt64, address: UInt64? = nil, status: UInt32? = nil,
        at: Instant? = nil, faultKind: DMAFaultKind? = nil
    ) {
        onEvent?(
            SimEvent(
                subject: .device(devices[device].address), eventClass: eventClass, at: at ?? now, count: count,
                address: address, status: status, faultKind: faultKind))
    }

    mutating func record(_ decision: Decision) {
        decisions.append(decision)
        let subject = decision.subject.description
        let kind: TimelineEntry.Kind
        switch (decision.action, decision.to) {
        case (.some(.reportStorm), _): kind = .detection
        case (.some, _): kind = .action
        case (nil, .some(.retired)): kind = .retired
        case (nil, .some(.probation)), (nil, .some(.healthy)): kind = .reenable
        default: kind = .note
        }
        timeline.append(TimelineEntry(at: decision.at, kind: kind, subject: subject, text: decision.reason))
    }

    mutating func note(_ kind: TimelineEntry.Kind, _ device: Int, _ text: String) {
        timeline.append(TimelineEntry(at: now, kind: kind, subject: devices[device].address.description, text: text))
    }

    func rateText(_ rate: Double) -> String {
        rate >= 1000 ? "\(Count.grouped(Int(rate)))/s" : "\(Int(rate))/s"
    }

    func result() -> SimResult {
        let onset = scenario.onset
        let offender = devices.indices.filter {
            !devices[$0].isHealthy && devices[$0].behaviours.contains { $0.kind != .aerCorrected }
                || !devices[$0].happenings.isEmpty
        }
        .min { (start(of: $0) ?? .seconds(1 << 30)) < (start(of: $1) ?? .seconds(1 << 30)) }
        var containedAfter: Duration?
        var endedWithoutContainment: String?
        if let offender, let at = containedAt[offender], let start = start(of: offender) {
            containedAfter = at - (.zero + start)
        } else if let offender, goneAt[offender] != nil {
            endedWithoutContainment = "removed"
        }
        let windowStart = onset ?? .zero
        let remaining = (Instant.zero + scenario.duration) - windowStart
        let window = min(.seconds(1), remaining)
        let shares = cpu.otherWork(from: windowStart, length: max(window, .milliseconds(1)))
        var tallies = self.tallies
        var retired: [DeviceAddress] = []
        for index in devices.indices {
            if index < downTime.count { tallies[index].unableToWork = downTime[index] }
            if let engine = loop?.engine, let status = engine.status(of: devices[index].address) {
                tallies[index].state = status.state.name
                if status.state == .retired { retired.append(devices[index].address) }
            } else if devices[index].retired {
                tallies[index].state = "retired"
                retired.append(devices[index].address)
            } else if devices[index].frozen {
                tallies[index].state = "frozen"
            }
        }
        var result = SimResult(
            scenario: scenario.name, seed: seed, policy: policy.name, containedAfter: containedAfter,
            cpuOtherWorkMin: shares.min() ?? 1,
            cpuOtherWorkMean: shares.isEmpty ? 1 : shares.reduce(0, +) / Double(shares.count),
            faultsHandled: tallies.map(\.handled).reduce(0, +), faultsRecorded: tallies.map(\.recorded).reduce(0, +),
            faultsLost: tallies.map(\.lost).reduce(0, +), faultsSilenced: tallies.map(\.silenced).reduce(0, +),
            pageRequests: pageRequests, healthyDisturbed: disturbed.sorted().map { devices[$0].address },
            retired: retired, devices: tallies, timeline: timeline, simulatedEvents: simulatedEvents,
            engineStatistics: loop?.engine.statistics, decisions: decisions,
            finalStates: loop?.engine.devices ?? [])
        result.endedWithoutContainment = endedWithoutContainment
        return result
    }

    func start(of device: Int) -> Duration? {
        let starts =
            devices[device].behaviours.filter(\.isMisbehaviour).map(\.start) + devices[device].happenings.map(\.at)
        return starts.min()
    }
}
