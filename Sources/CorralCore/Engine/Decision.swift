/// One thing the engine decided, with the reason an operator reads.
///
/// `action` is what a host carries out (or, wrapped in ``Action/recommend(_:)``, what it
/// would). Decisions without an action record a transition (a device healthy again, a relapse
/// noticed, an event ignored for a reason worth keeping).
public struct Decision: Hashable, Sendable, CustomStringConvertible {
    public var at: Instant
    public var subject: Subject
    public var action: Action?
    /// The device's state before and after, when it changed.
    public var from: ContainmentState?
    public var to: ContainmentState?
    /// "0000:03:00.0: 12,345 dma-fault events in 12ms ≥ 1000/1s → clear bus master".
    public var reason: String

    public init(
        at: Instant, subject: Subject, action: Action? = nil, from: ContainmentState? = nil,
        to: ContainmentState? = nil, reason: String
    ) {
        self.at = at
        self.subject = subject
        self.action = action
        self.from = from
        self.to = to
        self.reason = reason
    }

    public var description: String {
        var text = "[\(at)] \(reason)"
        if let from, let to, from != to { text += " [\(from.name) → \(to.name)]" }
        return text
    }
}
