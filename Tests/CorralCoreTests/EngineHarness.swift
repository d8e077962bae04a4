import CorralCore

/// Drives an ``Engine`` by hand: events at explicit times, outcomes on request, and every
/// decision kept for assertions.
struct EngineHarness {
    var engine: Engine
    var now: Instant = .zero
    private(set) var decisions: [Decision] = []

    init(policy: Policy = .enforcing, profiles: [DeviceProfile] = []) {
        engine = Engine(policy: policy, profiles: profiles)
    }

    @discardableResult
    mutating func send(_ event: DeviceEvent, at time: Instant? = nil) -> [Decision] {
        if let time { now = max(now, time) }
        let new = engine.handle(event, at: now)
        decisions += new
        return new
    }

    @discardableResult
    mutating func advance(to time: Instant) -> [Decision] {
        now = max(now, time)
        let new = engine.advance(to: now)
        decisions += new
        return new
    }

    @discardableResult
    mutating func advance(by duration: Duration) -> [Decision] {
        advance(to: now + duration)
    }

    /// Up to `count` identical faults from `device`, `spacing` apart, starting now. By default
    /// the storm ends as soon as the engine acts on (or notifies the owner of) that device, as
    /// a real storm does once it is contained; `untilAction: false` keeps flooding.
    @discardableResult
    mutating func storm(
        _ device: PCIAddress, count: Int, spacing: Duration = .microseconds(1), kind: DMAFaultKind = .notPresent,
        untilAction: Bool = true
    ) -> [Decision] {
        var new: [Decision] = []
        for index in 0..<count {
            if index > 0 { now = now + spacing }
            let decisions = send(.dmaFault(Fixtures.fault(device, kind: kind)))
            new += decisions
            if untilAction && decisions.contains(where: { Self.containsDevice($0.action, device) }) { break }
        }
        return new
    }

    private static func containsDevice(_ action: Action?, _ device: PCIAddress) -> Bool {
        guard let action, action.target == .pci(device) else { return false }
        if case .recommend(let inner) = action { return inner.changesDevice }
        if case .notifyOwner = action { return true }
        return action.changesDevice
    }

    /// Reports the outcome of `action` back to the engine.
    @discardableResult
    mutating func complete(_ action: Action, _ result: ActionOutcome.Result = .succeeded) -> [Decision] {
        send(.actionCompleted(ActionOutcome(action: action, result: result)))
    }

    /// Actions a host would carry out (not recommendations, not reports).
    var performed: [Action] {
        decisions.compactMap(\.action).filter { !$0.isRecommendation && !isReport($0) }
    }

    var recommended: [Action] {
        decisions.compactMap(\.action).compactMap { if case .recommend(let inner) = $0 { inner } else { nil } }
    }

    func state(_ device: PCIAddress) -> ContainmentState? {
        engine.status(of: .pci(device))?.state
    }

    mutating func clear() { decisions.removeAll() }

    private func isReport(_ action: Action) -> Bool {
        if case .reportStorm = action { return true }
        if case .notifyOwner = action { return true }
        return false
    }
}

extension Policy {
    static var enforcing: Policy {
        var policy = Policy()
        policy.mode = .enforce
        return policy
    }
}

enum Fixtures {
    static let port = PCIAddress(bus: 0, device: 0x1c, function: 0)!
    static let nic = PCIAddress(bus: 3, device: 0, function: 0)!
    static let nicVF = PCIAddress(bus: 3, device: 0, function: 1)!
    static let gpu = PCIAddress(bus: 1, device: 0, function: 0)!
    static let disk = PCIAddress(bus: 2, device: 0, function: 0)!

    static func fault(_ device: PCIAddress, kind: DMAFaultKind = .notPresent, recoverable: Bool = false) -> DMAFault {
        DMAFault(
            source: .requester(segment: 0, device.requesterID), vendor: .intelVTd, kind: kind, access: .write,
            address: IOVA(0xdead_0000), recoverable: recoverable, rawCode: 0x05)
    }

    /// A PCIe endpoint with every capability: silence, verified stop, all resets, slot power.
    static func capable(
        _ address: PCIAddress, driver: DriverName? = "ixgbe", serial: String? = nil, parent: PCIAddress? = port
    ) -> DeviceProfile {
        DeviceProfile(
            address: .pci(address), resetMethods: [.flr, .afFLR, .pm, .bus], transactionsPending: true,
            slotPowerControl: true, faultSilencing: true, driver: driver, parent: parent.map { .pci($0) },
            serial: serial.map(SerialNumber.init))
    }
}
