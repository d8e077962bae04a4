/// What kind of thing a journal row counts: the engine's event classes plus what only a log
/// tells (the kernel's rate limiting, hot-plug, a device gone). One vocabulary for the daemon,
/// replay and the simulator, written as the names `corral history --class` takes.
public enum ObservedClass: Hashable, Sendable, Comparable, CustomStringConvertible {
    case event(EventClass)
    /// `N callbacks suppressed`: the kernel dropped N messages.
    case suppressed
    /// A pciehp slot change (link down/up, card present/absent).
    case hotplug
    /// A driver said its device is gone.
    case deviceLost
    /// An AER error whose severity the log did not say.
    case aerUnknownSeverity
    /// A name this version does not know (a journal written by a newer one): kept as written.
    case other(String)

    /// Every class this version writes, for `--help` and errors.
    public static let known: [ObservedClass] =
        EventClass.allCases.map(ObservedClass.event) + [.suppressed, .hotplug, .deviceLost, .aerUnknownSeverity]

    public init(name: String) {
        if let eventClass = EventClass(rawValue: name) {
            self = .event(eventClass)
        } else {
            switch name {
            case "suppressed": self = .suppressed
            case "hotplug": self = .hotplug
            case "device-lost": self = .deviceLost
            case "aer-unknown": self = .aerUnknownSeverity
            default: self = .other(name)
            }
        }
    }

    /// The class of an AER error of this severity (nil: the log did not say).
    public static func aer(_ severity: AERSeverity?) -> ObservedClass {
        switch severity {
        case .corrected: .event(.aerCorrected)
        case .nonFatal: .event(.aerNonFatal)
        case .fatal: .event(.aerFatal)
        case nil: .aerUnknownSeverity
        }
    }

    /// The AER severity this class counts, if it is an AER class with a known severity.
    public var aerSeverity: AERSeverity? {
        switch self {
        case .event(.aerCorrected): .corrected
        case .event(.aerNonFatal): .nonFatal
        case .event(.aerFatal): .fatal
        default: nil
        }
    }

    public var eventClass: EventClass? {
        if case .event(let eventClass) = self { return eventClass }
        return nil
    }

    public var description: String {
        switch self {
        case .event(let eventClass): eventClass.rawValue
        case .suppressed: "suppressed"
        case .hotplug: "hotplug"
        case .deviceLost: "device-lost"
        case .aerUnknownSeverity: "aer-unknown"
        case .other(let name): name
        }
    }

    public static func < (lhs: ObservedClass, rhs: ObservedClass) -> Bool { lhs.description < rhs.description }
}

// In JSON both are the names the journal keeps (`"0000:03:00.0"`, `"(kernel rate limiting)"`,
// `"dma-fault"`), one string each.
extension ObservedClass: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(name: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Subject: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(name: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
