/// Where the engine's actions are carried out. Two backends implement it, like swift-log's
/// API and its backends: the Linux host (`LinuxHost`: sysfs, procfs) and the simulator's
/// `SimHost`. Both are driven by one loop, `ContainmentLoop` (CorralRuntime).
///
/// The engine stays pure: the loop feeds it events, hands each decided action to the host at
/// once, and the host reports back through `takeEvents` — the outcome as
/// `DeviceEvent.actionCompleted` (at once for a sysfs write, later for a simulated reset), and
/// what the device then does (no more faults, a removal, a driver's re-enable) as ordinary events.
public protocol Host {
    /// Starts carrying out `action`, decided at `now`.
    mutating func perform(_ action: Action, at now: Instant)
    /// Re-checks what is in progress (a Transactions Pending poll); outcomes go to `takeEvents`.
    mutating func poll(at now: Instant)
    /// Outcomes and observations since the last call, oldest first.
    mutating func takeEvents() -> [(Instant, DeviceEvent)]
}

extension Host {
    public mutating func poll(at now: Instant) {}
    public mutating func takeEvents() -> [(Instant, DeviceEvent)] { [] }
}
