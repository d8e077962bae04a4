// The `--json` view of engine decisions and device states (replay, engine-demo), through
// `Codable`: a subject or reason holding quotes or control characters stays one JSON string.
// Encodable needs only the standard library; the CLI picks the encoder.

extension Decision: Encodable {
    enum JSONKey: String, CodingKey {
        case type, subject, action, recommendation, from, to, reason
        case atNS = "at_ns"
        case actionText = "action_text"
    }

    /// `{"type": "decision", "at_ns", "subject", "action" (a stable kind such as
    /// `clear-bus-master`), "recommendation", "action_text", "from", "to", "reason"}`; keys
    /// without a value are left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode("decision", forKey: .type)
        try container.encode(at.nanoseconds, forKey: .atNS)
        try container.encode(subject.description, forKey: .subject)
        if let action {
            try container.encode(action.kind, forKey: .action)
            try container.encode(action.isRecommendation, forKey: .recommendation)
            try container.encode(action.unwrapped.description, forKey: .actionText)
        }
        try container.encodeIfPresent(from?.name, forKey: .from)
        try container.encodeIfPresent(to?.name, forKey: .to)
        try container.encode(reason, forKey: .reason)
    }
}

extension DeviceStatus: Encodable {
    enum JSONKey: String, CodingKey {
        case type, device, state, shadow, totals, lost, ladder
        case lowerBound = "lower_bound"
        case ignoredRecoverable = "ignored_recoverable"
        case ignoredAfterRemoval = "ignored_after_removal"
        case containmentsInWindow = "containments_in_window"
        case budgetLeft = "budget_left"
    }

    /// `{"type": "device", "device", "state", "shadow", "totals" (per event class),
    /// "lower_bound", "lost", "ignored_recoverable", "ignored_after_removal",
    /// "containments_in_window", "budget_left", "ladder"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode("device", forKey: .type)
        try container.encode(address.description, forKey: .device)
        try container.encode(state.name, forKey: .state)
        try container.encode(shadow, forKey: .shadow)
        try container.encode(
            Dictionary(uniqueKeysWithValues: totals.map { ($0.key.rawValue, $0.value) }), forKey: .totals)
        try container.encode(lowerBound, forKey: .lowerBound)
        try container.encode(lost, forKey: .lost)
        try container.encode(ignoredRecoverable, forKey: .ignoredRecoverable)
        try container.encode(ignoredAfterRemoval, forKey: .ignoredAfterRemoval)
        try container.encode(containmentsInWindow, forKey: .containmentsInWindow)
        try container.encode(budgetLeft, forKey: .budgetLeft)
        try container.encode(ladder.steps.map(\.description), forKey: .ladder)
    }
}
