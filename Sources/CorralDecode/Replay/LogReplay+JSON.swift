// The `replay --json` lines after the decisions: one per subject, then the summary. Subject
// names come from the log (an SMMU's name is whatever its driver printed), so they are
// encoded by `Codable`, never pasted into JSON text.

extension LogReplay {
    /// `{"type": "subject", "subject", "first_line", "events" (per class), "peak_per_second",
    /// "storms", "decisions"}`.
    public struct SubjectLine: Encodable, Sendable {
        public var subject: String
        public var firstLine: Int
        public var events: [String: Int]
        public var peakPerSecond: Int
        public var storms: Int
        public var decisions: Int

        enum CodingKeys: String, CodingKey {
            case type, subject, events, storms, decisions
            case firstLine = "first_line"
            case peakPerSecond = "peak_per_second"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("subject", forKey: .type)
            try container.encode(subject, forKey: .subject)
            try container.encode(firstLine, forKey: .firstLine)
            try container.encode(events, forKey: .events)
            try container.encode(peakPerSecond, forKey: .peakPerSecond)
            try container.encode(storms, forKey: .storms)
            try container.encode(decisions, forKey: .decisions)
        }
    }

    /// `{"type": "summary", "lines", "events", "clock" (null without timestamps), "span_ns",
    /// "suppressed", "overflows", "unattributed" (per class), "time_went_backwards",
    /// "malformed"}`.
    public struct SummaryLine: Encodable, Sendable {
        public var lines: Int
        public var events: Int
        public var clock: String?
        public var spanNS: Int64
        public var suppressed: UInt64
        public var overflows: Int
        public var unattributed: [String: Int]
        public var timeWentBackwards: Int
        public var malformed: Int
        /// Records from a fault reporter in a format Corral does not know.
        public var unrecognized: Int

        enum CodingKeys: String, CodingKey {
            case type, lines, events, clock, suppressed, overflows, unattributed, malformed, unrecognized
            case spanNS = "span_ns"
            case timeWentBackwards = "time_went_backwards"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("summary", forKey: .type)
            try container.encode(lines, forKey: .lines)
            try container.encode(events, forKey: .events)
            try container.encode(clock, forKey: .clock)  // null, explicitly: no timestamps
            try container.encode(spanNS, forKey: .spanNS)
            try container.encode(suppressed, forKey: .suppressed)
            try container.encode(overflows, forKey: .overflows)
            try container.encode(unattributed, forKey: .unattributed)
            try container.encode(timeWentBackwards, forKey: .timeWentBackwards)
            try container.encode(malformed, forKey: .malformed)
            try container.encode(unrecognized, forKey: .unrecognized)
        }
    }

    /// The subject lines, in the order subjects first appeared.
    public var subjectLines: [SubjectLine] {
        let subjects = self.subjects
        return order.compactMap { name in
            subjects[name].map { subject in
                SubjectLine(
                    subject: name, firstLine: subject.firstLine,
                    events: Dictionary(uniqueKeysWithValues: subject.events.map { ($0.key.rawValue, $0.value) }),
                    peakPerSecond: subject.peakPerSecond, storms: subject.storms, decisions: subject.decisionCount)
            }
        }
    }

    public func summaryLine(_ statistics: LogStatistics) -> SummaryLine {
        SummaryLine(
            lines: statistics.lines, events: statistics.eventCount, clock: clock?.rawValue,
            spanNS: lastEventAt.nanoseconds, suppressed: suppressed, overflows: overflows,
            unattributed: Dictionary(uniqueKeysWithValues: unattributed.map { ($0.key.rawValue, $0.value) }),
            timeWentBackwards: timeWentBackwards, malformed: statistics.malformed,
            unrecognized: statistics.unrecognized)
    }
}
