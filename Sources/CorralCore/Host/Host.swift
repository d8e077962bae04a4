/// Where the engine's actions are carried out. Two backends implement it, like swift-log's
/// API and its backends: the Linux host (sysfs, procfs; issue 9) and the simulator's `SimHost`.
///
/// The engine stays pure: a driver loop feeds it events, hands each decided action to the host,
/// and the host reports back later through its event source — the outcome as
/// `DeviceEvent.actionCompleted`, and what the device then does (no more faults, a removal, a
/// driver's re-enable) as ordinary events.
public protocol Host {
    /// Starts carrying out `action`, decided at `now`.
    mutating func perform(_ action: Action, at now: Instant)
}
