import CorralCore
import Yams

/// Reads a ``Policy`` from YAML, with errors that name the file, line, column and key.
///
/// Every key is optional; anything not given keeps its default (``Policy/init()``). Unknown
/// keys are errors, not warnings: a misspelt `storm:` silently ignored would leave a machine
/// with thresholds nobody chose. `corral policy defaults` prints the complete documented file.
public enum PolicyFile {
    /// Parses `text` (the contents of `file`, used in error messages).
    public static func parse(_ text: String, file: String = "<policy>") throws(ConfigFileError) -> Policy {
        let root = try ConfigFileError.compose(text, file: file)
        var policy = Policy()
        guard let root else { return policy }
        var reader = try MappingReader(root, path: "", file: file)
        if let node = try reader.take("mode") {
            let text = try scalar(node, "mode", file)
            guard let mode = Policy.Mode(rawValue: text) else {
                throw ConfigFileError(node, file, "mode", "'\(text)' is not a mode (observe, recommend, enforce)")
            }
            policy.mode = mode
        }
        if let node = try reader.take("classes") {
            var classes = try MappingReader(node, path: "classes", file: file)
            for eventClass in EventClass.allCases {
                guard let classNode = try classes.take(eventClass.rawValue) else { continue }
                let path = "classes.\(eventClass.rawValue)"
                var entry = try MappingReader(classNode, path: path, file: file)
                var classPolicy = policy.classes[eventClass]
                if let n = try entry.take("elevated") {
                    classPolicy.thresholds.elevated = try rate(n, "\(path).elevated", file)
                }
                if let n = try entry.take("storm") { classPolicy.thresholds.storm = try rate(n, "\(path).storm", file) }
                if let n = try entry.take("contain") { classPolicy.contain = try bool(n, "\(path).contain", file) }
                try entry.finish(known: ["elevated", "storm", "contain"])
                policy.classes[eventClass] = classPolicy
            }
            try classes.finish(known: EventClass.allCases.map(\.rawValue))
        }
        if let node = try reader.take("ladder") {
            var ladder = try MappingReader(node, path: "ladder", file: file)
            if let n = try ladder.take("silence") { policy.ladder.silence = try bool(n, "ladder.silence", file) }
            if let n = try ladder.take("stop-dma") { policy.ladder.stopDMA = try bool(n, "ladder.stop-dma", file) }
            if let n = try ladder.take("reset-methods") {
                policy.ladder.resetMethods = try list(n, "ladder.reset-methods", file).enumerated().map {
                    index, item throws(ConfigFileError) in
                    let text = try scalar(item, "ladder.reset-methods[\(index)]", file)
                    guard let method = ResetMethod(rawValue: text) else {
                        let known = ResetMethod.allCases.map(\.rawValue).joined(separator: ", ")
                        throw ConfigFileError(
                            item, file, "ladder.reset-methods[\(index)]", "'\(text)' is not a reset method (\(known))")
                    }
                    return method
                }
            }
            if let n = try ladder.take("reset-shared-bus") {
                policy.ladder.resetSharedBus = try bool(n, "ladder.reset-shared-bus", file)
            }
            if let n = try ladder.take("slot-power-cycle") {
                policy.ladder.slotPowerCycle = try bool(n, "ladder.slot-power-cycle", file)
            }
            if let n = try ladder.take("remove") { policy.ladder.remove = try bool(n, "ladder.remove", file) }
            try ladder.finish(known: [
                "silence", "stop-dma", "reset-methods", "reset-shared-bus", "slot-power-cycle", "remove",
            ])
        }
        if let node = try reader.take("timing") {
            var timing = try MappingReader(node, path: "timing", file: file)
            let keys: [(String, WritableKeyPath<TimingPolicy, Duration>)] = [
                ("silence-hold", \.silenceHold), ("quiescence-deadline", \.quiescenceDeadline),
                ("unverified-grace", \.unverifiedGrace), ("reset-deadline", \.resetDeadline),
                ("action-deadline", \.actionDeadline), ("owner-deadline", \.ownerDeadline),
                ("report-interval", \.reportInterval),
            ]
            for (key, path) in keys {
                if let n = try timing.take(key) {
                    policy.timing[keyPath: path] = try duration(n, "timing.\(key)", file)
                }
            }
            try timing.finish(known: keys.map(\.0))
        }
        if let node = try reader.take("probation") {
            var probation = try MappingReader(node, path: "probation", file: file)
            if let n = try probation.take("automatic-reenable") {
                policy.probation.automaticReenable = try bool(n, "probation.automatic-reenable", file)
            }
            if let n = try probation.take("hold") { policy.probation.hold = try duration(n, "probation.hold", file) }
            if let n = try probation.take("backoff-factor") {
                policy.probation.backoffFactor = try integer(n, "probation.backoff-factor", file, range: 1...16)
            }
            if let n = try probation.take("max-hold") {
                policy.probation.maxHold = try duration(n, "probation.max-hold", file)
            }
            if let n = try probation.take("period") {
                policy.probation.period = try duration(n, "probation.period", file)
            }
            try probation.finish(known: ["automatic-reenable", "hold", "backoff-factor", "max-hold", "period"])
        }
        if let node = try reader.take("retirement") {
            var retirement = try MappingReader(node, path: "retirement", file: file)
            if let n = try retirement.take("max-containments") {
                policy.retirement.maxContainments = try integer(
                    n, "retirement.max-containments", file, range: 1...10_000)
            }
            if let n = try retirement.take("window") {
                policy.retirement.window = try duration(n, "retirement.window", file)
            }
            try retirement.finish(known: ["max-containments", "window"])
        }
        if let node = try reader.take("circuit-breaker") {
            policy.circuitBreaker = try rate(node, "circuit-breaker", file)
        }
        if let node = try reader.take("interrupt-flood-rate") {
            policy.interruptFloodRate = UInt64(
                try integer(node, "interrupt-flood-rate", file, range: 1_000...100_000_000))
        }
        if let node = try reader.take("suppressed-messages") {
            let text = try scalar(node, "suppressed-messages", file)
            guard let value = Policy.SuppressedMessagesPolicy(rawValue: text) else {
                throw ConfigFileError(node, file, "suppressed-messages", "'\(text)' is not count or attribute")
            }
            policy.suppressedMessages = value
        }
        if let node = try reader.take("protected") {
            policy.protectedDevices = Set(
                try list(node, "protected", file).enumerated().map { index, item throws(ConfigFileError) in
                    let text = try scalar(item, "protected[\(index)]", file)
                    do throws(PCIAddressParseError) {
                        return try DeviceAddress(parsing: text)
                    } catch {
                        throw ConfigFileError(item, file, "protected[\(index)]", error.description)
                    }
                })
        }
        if let node = try reader.take("owner-drivers") {
            policy.ownerDrivers = Set(
                try list(node, "owner-drivers", file).enumerated().map { index, item throws(ConfigFileError) in
                    DriverName(try scalar(item, "owner-drivers[\(index)]", file))
                })
        }
        if let node = try reader.take("owner-contain") {
            policy.ownerContain = Set(
                try list(node, "owner-contain", file).enumerated().map { index, item throws(ConfigFileError) in
                    DriverName(try scalar(item, "owner-contain[\(index)]", file))
                })
        }
        if let node = try reader.take("hooks") {
            var hooks = try MappingReader(node, path: "hooks", file: file)
            for trigger in HookPolicy.Trigger.allCases {
                guard let entry = try hooks.take(trigger.rawValue) else { continue }
                let key = "hooks.\(trigger.rawValue)"
                let argv = try list(entry, key, file).enumerated().map { index, item throws(ConfigFileError) in
                    try scalar(item, "\(key)[\(index)]", file)
                }
                if argv.isEmpty { continue }
                guard argv[0].hasPrefix("/") else {
                    throw ConfigFileError(
                        entry, file, key, "'\(argv[0])' must be an absolute path (hooks run without a shell or PATH)")
                }
                policy.hooks.commands[trigger] = argv
            }
            if let n = try hooks.take("timeout") { policy.hooks.timeout = try duration(n, "hooks.timeout", file) }
            if let n = try hooks.take("max-concurrent") {
                policy.hooks.maxConcurrent = try integer(n, "hooks.max-concurrent", file, range: 1...64)
            }
            try hooks.finish(known: HookPolicy.Trigger.allCases.map(\.rawValue) + ["timeout", "max-concurrent"])
        }
        try reader.finish(known: [
            "mode", "classes", "ladder", "timing", "probation", "retirement", "circuit-breaker",
            "interrupt-flood-rate", "suppressed-messages", "protected", "owner-drivers", "owner-contain", "hooks",
        ])
        return policy
    }

    // MARK: - Scalars

    package static func scalar(_ node: Node, _ key: String, _ file: String) throws(ConfigFileError) -> String {
        guard case .scalar(let scalar) = node else {
            throw ConfigFileError(node, file, key, "expected a single value, found a \(node.kindName)")
        }
        return scalar.string
    }

    package static func bool(_ node: Node, _ key: String, _ file: String) throws(ConfigFileError) -> Bool {
        switch try scalar(node, key, file).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let other: throw ConfigFileError(node, file, key, "'\(other)' is not true or false")
        }
    }

    package static func integer(_ node: Node, _ key: String, _ file: String, range: ClosedRange<Int>)
        throws(ConfigFileError)
        -> Int
    {
        let text = try scalar(node, key, file)
        guard let value = Int(text), range.contains(value) else {
            throw ConfigFileError(
                node, file, key, "'\(text)' is not a whole number in \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    package static func duration(_ node: Node, _ key: String, _ file: String) throws(ConfigFileError) -> Duration {
        let text = try scalar(node, key, file)
        let value: Duration
        do throws(DurationParseError) {
            value = try Duration(parsing: text)
        } catch {
            throw ConfigFileError(node, file, key, error.description)
        }
        guard value > .zero else { throw ConfigFileError(node, file, key, "'\(text)' must be longer than zero") }
        return value
    }

    package static func rate(_ node: Node, _ key: String, _ file: String) throws(ConfigFileError) -> RateThreshold {
        let text = try scalar(node, key, file)
        do throws(RateParseError) {
            return try RateThreshold(parsing: text)
        } catch {
            throw ConfigFileError(node, file, key, error.description)
        }
    }

    package static func list(_ node: Node, _ key: String, _ file: String) throws(ConfigFileError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw ConfigFileError(node, file, key, "expected a list, found a \(node.kindName)")
        }
        return Array(sequence)
    }
}

/// Walks one YAML mapping, remembering which keys were read so unknown ones are reported.
package struct MappingReader {
    let path: String
    let file: String
    private var entries: [(key: String, keyNode: Node, value: Node)] = []
    private var taken: Set<String> = []

    package init(_ node: Node, path: String, file: String) throws(ConfigFileError) {
        guard case .mapping(let mapping) = node else {
            throw ConfigFileError(
                node, file, path.isEmpty ? "(top level)" : path, "expected a mapping of keys, found a \(node.kindName)")
        }
        self.path = path
        self.file = file
        var seen: Set<String> = []
        for (key, value) in mapping {
            let name = key.string ?? ""
            if !seen.insert(name).inserted {
                throw ConfigFileError(key, file, qualified(name), "duplicate key")
            }
            entries.append((name, key, value))
        }
    }

    private func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    package mutating func take(_ key: String) throws(ConfigFileError) -> Node? {
        taken.insert(key)
        return entries.first { $0.key == key }?.value
    }

    package func finish(known: [String]) throws(ConfigFileError) {
        for entry in entries where !taken.contains(entry.key) {
            let suggestion = known.min { editDistance($0, entry.key) < editDistance($1, entry.key) }
            var problem = "unknown key; known keys here: \(known.joined(separator: ", "))"
            if let suggestion, editDistance(suggestion, entry.key) <= 2 {
                problem = "unknown key; did you mean '\(suggestion)'?"
            }
            throw ConfigFileError(entry.keyNode, file, qualified(entry.key), problem)
        }
    }
}

/// Levenshtein distance, for "did you mean" on misspelt keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}

extension Node {
    var kindName: String {
        switch self {
        case .scalar: "single value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}

/// A policy or scenario file problem: where (file, line, column), which key, and what is wrong.
public struct ConfigFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// Dotted path of the key, e.g. `classes.dma-fault.storm`.
    public var key: String
    public var problem: String

    public init(file: String, line: Int?, column: Int?, key: String, problem: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.problem = problem
    }

    package init(_ node: Node, _ file: String, _ key: String, _ problem: String) {
        self.init(file: file, line: node.mark?.line, column: node.mark?.column, key: key, problem: problem)
    }

    /// The YAML document in `text`, or an error naming `file`, line and column: policy and
    /// scenario files are read the same way.
    package static func compose(_ text: String, file: String) throws(ConfigFileError) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigFileError.yaml(error, file: file)
        } catch {
            throw ConfigFileError(file: file, line: nil, column: nil, key: "", problem: "\(error)")
        }
    }

    static func yaml(_ error: YamlError, file: String) -> ConfigFileError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigFileError(
                file: file, line: mark.line, column: mark.column, key: "", problem: "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigFileError(
                file: file, line: context.mark.line, column: context.mark.column,
                key: duplicates.joined(separator: ", "),
                problem: "duplicate key")
        default:
            return ConfigFileError(file: file, line: nil, column: nil, key: "", problem: "not valid YAML: \(error)")
        }
    }

    /// `corral.yaml:12:5: classes.dma-fault.storm: '1000' is not a rate: …`, like a compiler.
    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        return key.isEmpty ? "\(location): \(problem)" : "\(location): \(key): \(problem)"
    }
}
