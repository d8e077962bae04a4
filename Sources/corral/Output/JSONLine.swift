import CorralCore
import Foundation

/// JSON Lines output for scripts. Hand-written so key order is stable and output identical
/// across runs.
enum JSONLine {
    static func decision(_ decision: Decision) -> String {
        var fields: [(String, String)] = [
            ("type", quote("decision")), ("at_ns", String(decision.at.nanoseconds)),
            ("subject", quote(decision.subject.description)),
        ]
        if let action = decision.action {
            let (name, inner) = describe(action)
            fields.append(("action", quote(name)))
            fields.append(("recommendation", action.isRecommendation ? "true" : "false"))
            fields.append(("action_text", quote(inner.description)))
        }
        if let from = decision.from { fields.append(("from", quote(from.name))) }
        if let to = decision.to { fields.append(("to", quote(to.name))) }
        fields.append(("reason", quote(decision.reason)))
        return object(fields)
    }

    static func device(_ device: DeviceStatus) -> String {
        let totals = EventClass.allCases.compactMap { eventClass in
            device.totals[eventClass].map { "\(quote(eventClass.rawValue)):\($0)" }
        }.joined(separator: ",")
        return object([
            ("type", quote("device")), ("device", quote(device.address.description)),
            ("state", quote(device.state.name)),
            ("shadow", device.shadow ? "true" : "false"), ("totals", "{\(totals)}"),
            ("lower_bound", device.lowerBound ? "true" : "false"), ("lost", String(device.lost)),
            ("ignored_recoverable", String(device.ignoredRecoverable)),
            ("ignored_after_removal", String(device.ignoredAfterRemoval)),
            ("containments_in_window", String(device.containmentsInWindow)), ("budget_left", String(device.budgetLeft)),
            ("ladder", "[" + device.ladder.steps.map { quote($0.description) }.joined(separator: ",") + "]"),
        ])
    }

    /// A stable machine name for an action, and the action itself (unwrapped from recommend).
    static func describe(_ action: Action) -> (String, Action) {
        (action.kind, action.unwrapped)
    }

    /// One value as one line of JSON, through `Codable` (keys sorted, so a line is stable).
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain records cannot fail; if it ever did, say so on the line.
        guard let data = try? encoder.encode(value) else { return "{\"error\":\"unencodable\"}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(s.value, radix: 16).count)
                    + String(s.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
