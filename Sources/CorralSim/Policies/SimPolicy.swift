import CorralCore

/// Who handles faults in a simulated run: the three policies the simulator compares.
public enum SimPolicy: Sendable, CustomStringConvertible {
    /// Linux today: every fault record is read and cleared forever; lines are printed under the
    /// kernel's 10-per-5-s ratelimit (VT-d and SMMU: one state for all devices; AMD-Vi: per
    /// device); nothing is ever contained (reference/kernel-anchors.md §1.3, §2.3, §7).
    case linuxToday
    /// Power EEH: the partitionable endpoint freezes at its first error (DMA and MMIO stop at
    /// the host bridge), recovers after a reset, and is disabled for good after its 6th freeze
    /// within an hour (`eeh_max_freezes` = 5; reference §8). Every function of the PE freezes.
    case eeh
    /// Corral's engine in enforce mode, with the given policy.
    case corral(Policy)

    public var name: String {
        switch self {
        case .linuxToday: "linux-today"
        case .eeh: "eeh"
        case .corral: "corral"
        }
    }

    public var description: String { name }

    /// Looks a policy up by name (`corral` takes the given engine policy).
    public static func named(_ name: String, corral policy: Policy = Policy()) -> SimPolicy? {
        switch name {
        case "linux-today": .linuxToday
        case "eeh": .eeh
        case "corral": .corral(policy)
        default: nil
        }
    }

    public static let names = ["corral", "linux-today", "eeh"]
}
