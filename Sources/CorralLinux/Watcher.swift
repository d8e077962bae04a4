import CorralCore
import CorralDecode

/// The daemon's core, one step at a time: read what the kernel said, feed the engine, carry
/// out its decisions through the `LinuxHost`, feed the outcomes back. `corral watch` calls
/// `step` in a loop (or once with `--once`); tests call it on a fake root with a fake kmsg.
public struct Watcher {
    public private(set) var engine: Engine
    public private(set) var host: LinuxHost
    public private(set) var follower: KmsgFollower
    public let protected: Set<DeviceAddress>
    /// Every decision, in order (the daemon journals them).
    public private(set) var decisions: [Decision] = []

    public init(root: SysRoot, policy: Policy, resumeAfter: UInt64? = nil) {
        let inventory = Inventory.load(root)
        let protected = ProtectedDevices.detect(root, inventory).union(policy.protectedDevices)
        self.protected = protected
        let profiles = inventory.devices.map { device -> DeviceProfile in
            var profile = device.profile
            profile.protected = protected.contains(profile.address)
            return profile
        }
        engine = Engine(policy: policy, profiles: profiles)
        host = LinuxHost(root: root, mode: policy.mode, inventory: inventory, protected: protected)
        follower = KmsgFollower(resumeAfter: resumeAfter)
    }

    /// Handles everything pending at `now` (boot-clock time, like kmsg's timestamps).
    /// `observe` sees every kernel event (to journal it).
    @discardableResult
    public mutating func step(
        _ source: inout some KmsgSource, now: Instant, observe: (LogEvent, Instant) -> Void = { _, _ in }
    ) -> [Decision] {
        var new: [Decision] = []
        var engine = self.engine
        follower.poll(&source) { event in
            observe(event, event.time.map { min(Instant(nanoseconds: $0.nanoseconds), now) } ?? now)
            guard let deviceEvent = event.deviceEvent else { return }
            let at = event.time.map { Instant(nanoseconds: $0.nanoseconds) } ?? now
            new += engine.handle(deviceEvent, at: min(at, now))
        }
        new += engine.advance(to: now)
        self.engine = engine
        act(on: &new, at: now)
        return new
    }

    /// Applies a new policy (SIGHUP): thresholds, mode, protection.
    public mutating func reload(_ policy: Policy) {
        engine.update(policy: policy)
        host.mode = policy.mode
        host.protected = host.protected.union(policy.protectedDevices)
    }

    mutating func act(on decisions: inout [Decision], at now: Instant) {
        var index = 0
        var rounds = 0
        while index < decisions.count, rounds < 1000 {
            let decision = decisions[index]
            index += 1
            if let action = decision.action { host.perform(action, at: now) }
            host.poll(at: now)
            for (at, event) in host.takeEvents() {
                decisions += engine.handle(event, at: at)
                rounds += 1
            }
        }
        self.decisions += decisions
    }
}
