import CorralCore

// `corral history --json`: one line per episode, then one per decision. Subjects and reasons
// hold text from devices and logs, so the lines are `Codable`, never pasted together.

extension Journal.EpisodeRow: Encodable {
    /// The union of AER status values of an AER episode, with the kernel's bit names.
    public var statusBits: AERStatusBits? {
        guard let severity = eventClass.aerSeverity, statusUnion != 0 else { return nil }
        return AERStatusBits(UInt32(truncatingIfNeeded: statusUnion), severity: severity)
    }

    enum JSONKey: String, CodingKey {
        case type, device, count, samples, status, run
        case eventClass = "class"
        case firstNS = "first_ns"
        case lastNS = "last_ns"
        case lowerBound = "lower_bound"
    }

    /// `{"type": "episode", "run", "device", "class", "first_ns", "last_ns", "count",
    /// "lower_bound", "samples", "status" (AER bit names, when any)}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode("episode", forKey: .type)
        try container.encode(run, forKey: .run)
        try container.encode(device, forKey: .device)
        try container.encode(eventClass, forKey: .eventClass)
        try container.encode(first, forKey: .firstNS)
        try container.encode(last, forKey: .lastNS)
        try container.encode(count, forKey: .count)
        try container.encode(lowerBound, forKey: .lowerBound)
        try container.encode(sampleAddresses, forKey: .samples)
        try container.encodeIfPresent(statusBits?.description, forKey: .status)
    }
}

extension Journal.DecisionEntry: Encodable {
    enum JSONKey: String, CodingKey {
        case type, run, subject, action, recommendation, to, reason
        case atNS = "at_ns"
    }

    /// `{"type": "decision", "run", "subject", "at_ns", "action" (as carried out, or null),
    /// "recommendation", "to" (the state it led to, when it changed), "reason"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode("decision", forKey: .type)
        try container.encode(run, forKey: .run)
        try container.encode(subject, forKey: .subject)
        try container.encode(at, forKey: .atNS)
        try container.encode(action, forKey: .action)
        try container.encode(recommendation, forKey: .recommendation)
        try container.encodeIfPresent(to, forKey: .to)
        try container.encode(reason, forKey: .reason)
    }
}
