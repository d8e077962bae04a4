/// Where one device stands. See `docs/engine.md` for the diagram.
///
/// ```
/// healthy ─► elevated ─► silenced ─► stopped ─► resetting ─► probation ─► healthy
///              │  └─► awaiting-owner ─┘   │          │            │
///              │                          └──────────┴─► removed  │
///              └────────────── retired ◄── (6th containment in the window) ◄┘
/// ```
public enum ContainmentState: Hashable, Sendable, CustomStringConvertible {
    /// Below the elevated threshold.
    case healthy
    /// Above the kernel's printk rate: reported in coalesced summaries, not yet contained.
    case elevated
    /// Its owner (a VMM) was told and has until `deadline` to act.
    case awaitingOwner(deadline: Instant)
    /// Fault reporting muted at the IOMMU until `until`.
    case silenced(until: Instant)
    /// DMA stopped; how sure we are that nothing is in flight.
    case stopped(Quiescence)
    /// A reset or slot power cycle is running.
    case resetting(deadline: Instant)
    /// Removed from the kernel; waiting for a re-add (rescan, hot re-insert).
    case removed
    /// Re-enabled and watched until `until`; a relapse re-contains at once.
    case probation(until: Instant)
    /// Contained for good until an operator releases it.
    case retired

    /// The state's name for reports, metrics labels and JSON.
    public var name: String {
        switch self {
        case .healthy: "healthy"
        case .elevated: "elevated"
        case .awaitingOwner: "awaiting-owner"
        case .silenced: "silenced"
        case .stopped: "stopped"
        case .resetting: "resetting"
        case .removed: "removed"
        case .probation: "probation"
        case .retired: "retired"
        }
    }

    /// True while Corral holds the device contained (any state between detection and
    /// re-enable, and retirement).
    public var isContained: Bool {
        switch self {
        case .silenced, .stopped, .resetting, .removed, .retired: true
        case .healthy, .elevated, .awaitingOwner, .probation: false
        }
    }

    public var description: String {
        switch self {
        case .stopped(let quiescence): "stopped (\(quiescence))"
        default: name
        }
    }
}

/// Proof that a stopped device has no DMA in flight.
public enum Quiescence: Hashable, Sendable, CustomStringConvertible {
    /// The stop action (clear bus master / block DMA) was issued; its outcome is awaited
    /// until `deadline`.
    case stopping(deadline: Instant)
    /// Waiting for Transactions Pending to clear by `deadline`.
    case awaiting(deadline: Instant)
    /// Transactions Pending read clear: proved quiet.
    case verified
    /// No signal exists (platform device, no TRPND): quiet by assumption after a grace period
    /// ending at `graceEnd`.
    case unverified(graceEnd: Instant)

    public var description: String {
        switch self {
        case .stopping: "stopping"
        case .awaiting: "awaiting quiescence"
        case .verified: "quiescence verified"
        case .unverified: "quiescence unverified"
        }
    }
}
