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
        case type, device, count, samples, status, run, clock
        case eventClass = "class"
        case firstNS = "first_ns"
        case lastNS = "last_ns"
        case firstUTC = "first_utc"
        case lastUTC = "last_utc"
        case lowerBound = "lower_bound"
    }

    /// `{"type": "episode", "run", "device", "class", "clock", "first_ns", "last_ns",
    /// "first_utc", "last_utc" (RFC 3339 in UTC, where the run had a wall clock), "count",
    /// "lower_bound", "samples", "status" (AER bit names, when any)}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode("episode", forKey: .type)
        try container.encode(run, forKey: .run)
        try container.encode(device, forKey: .device)
        try container.encode(eventClass, forKey: .eventClass)
        try container.encode(first, forKey: .firstNS)
        try container.encode(last, forKey: .lastNS)
        try container.encode(clock, forKey: .clock)
        try container.encodeIfPresent(firstUTC.map(TimeDisplay.utc.json), forKey: .firstUTC)
        try container.encodeIfPresent(lastUTC.map(TimeDisplay.utc.json), forKey: .lastUTC)
        try container.encode(count, forKey: .count)
        try container.encode(lowerBound, forKey: .lowerBound)
        try container.encode(sampleAddresses, forKey: .samples)
        try container.encodeIfPresent(statusBits?.description, forKey: .status)
    }
}

extension Journal.DecisionEntry: Encodable {
    enum JSONKey: String, CodingKey {
        case type, run, subject, action, recommendation, from, to, reason, clock
        case atNS = "at_ns"
        case atUTC = "at_utc"
        case actionText = "action_text"
    }

    /// The decision shape of `replay --json` and `engine-demo --json` (`Decision: Encodable`),
    /// plus `run`, `clock` and `at_utc`: `{"type": "decision", "run", "at_ns", "clock", "at_utc", "subject", "action" (the stable kind,
    /// `clear-bus-master`), "recommendation", "action_text" (the words), "from", "to",
    /// "reason"}`; keys without a value are left out (docs/json.md).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        try container.encode("decision", forKey: .type)
        try container.encode(run, forKey: .run)
        try container.encode(subject, forKey: .subject)
        try container.encode(at, forKey: .atNS)
        try container.encode(clock, forKey: .clock)
        try container.encodeIfPresent(atUTC.map(TimeDisplay.utc.json), forKey: .atUTC)
        if let action {
            try container.encodeIfPresent(kind, forKey: .action)
            try container.encode(recommendation, forKey: .recommendation)
            try container.encode(actionText ?? action, forKey: .actionText)
        }
        try container.encodeIfPresent(from, forKey: .from)
        try container.encodeIfPresent(to, forKey: .to)
        try container.encode(reason, forKey: .reason)
    }
}

extension Journal {
    /// `{"type": "fault-kinds", "device", "kinds": {"write-to-read-only": 900, ...}}`: what a
    /// device's DMA faults were, summed over runs.
    public struct FaultKindsLine: Encodable, Sendable {
        public var device: Subject
        /// Most frequent first (`other` for a kind this version does not know).
        public var kinds: [(kind: String, count: Int64)]

        enum CodingKeys: String, CodingKey { case type, device, kinds }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("fault-kinds", forKey: .type)
            try container.encode(device, forKey: .device)
            try container.encode(
                Dictionary(kinds.map { ($0.kind, $0.count) }, uniquingKeysWith: +), forKey: .kinds)
        }

        /// "900 write-to-read-only, 100 not-present".
        public var summary: String { kinds.map { "\($0.count) \($0.kind)" }.joined(separator: ", ") }

        /// One line per device, from `Journal.faultKinds`.
        public static func lines(_ rows: [(device: Subject, kind: DMAFaultKind?, count: Int64)]) -> [FaultKindsLine] {
            var out: [FaultKindsLine] = []
            for row in rows {
                let entry = (kind: row.kind?.rawValue ?? "other", count: row.count)
                if out.last?.device == row.device {
                    out[out.count - 1].kinds.append(entry)
                } else {
                    out.append(FaultKindsLine(device: row.device, kinds: [entry]))
                }
            }
            return out
        }
    }
}
