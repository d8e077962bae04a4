import Foundation

/// A JSON value as parsed, with integers, other numbers and booleans told apart (JSONDecoder is
/// strict about each, where JSONSerialization's NSNumber is not).
public enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

/// The part of JSON Schema (2020-12) that docs/corral.schema.json uses: `type`, `properties`,
/// `required`, `additionalProperties`, `items`, `enum`, `const`, `$ref` to `#/$defs/NAME`,
/// `minimum`, `minLength`, `pattern`. A keyword it does not know fails validation, so the schema
/// cannot quietly use more than is checked.
public struct JSONSchema {
    let root: JSONValue

    public init(_ text: String) throws { root = try JSONValue.parse(text) }

    /// Every violation of definition `name` by `value`, each with its JSON pointer.
    public func errors(_ value: JSONValue, against name: String) -> [String] {
        var out: [String] = []
        check(value, .object(["$ref": .string("#/$defs/\(name)")]), path: "", &out)
        return out
    }

    static let known: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "const", "$ref", "minimum",
        "minLength", "pattern", "description", "title",
    ]

    func check(_ value: JSONValue, _ schema: JSONValue, path: String, _ out: inout [String]) {
        guard case .object(let rules) = schema else {
            out.append("\(path): schema is not an object")
            return
        }
        for key in rules.keys where !Self.known.contains(key) {
            out.append("\(path): schema keyword \(key) unsupported")
        }
        if case .string(let reference)? = rules["$ref"] {
            let name = reference.replacingOccurrences(of: "#/$defs/", with: "")
            guard case .object(let top) = root, case .object(let definitions)? = top["$defs"],
                let target = definitions[name]
            else {
                out.append("\(path): no definition \(reference)")
                return
            }
            check(value, target, path: path, &out)
        }
        if case .string(let type)? = rules["type"], !Self.matches(value, type) {
            out.append("\(path): \(Self.describe(value)) is not of type \(type)")
            return
        }
        if case .array(let allowed)? = rules["enum"], !allowed.contains(value) {
            out.append("\(path): \(Self.describe(value)) is not one of the allowed values")
        }
        if let constant = rules["const"], constant != value {
            out.append("\(path): \(Self.describe(value)) is not \(Self.describe(constant))")
        }
        if case .integer(let minimum)? = rules["minimum"] {
            switch value {
            case .integer(let number) where number < minimum: out.append("\(path): \(number) < \(minimum)")
            case .number(let number) where number < Double(minimum): out.append("\(path): \(number) < \(minimum)")
            default: break
            }
        }
        if case .string(let text) = value {
            if case .integer(let length)? = rules["minLength"], text.count < length {
                out.append("\(path): shorter than \(length)")
            }
            if case .string(let pattern)? = rules["pattern"],
                text.range(of: pattern, options: .regularExpression) == nil
            {
                out.append("\(path): \"\(text)\" does not match \(pattern)")
            }
        }
        if case .array(let items) = value, let itemSchema = rules["items"] {
            for (index, item) in items.enumerated() { check(item, itemSchema, path: "\(path)/\(index)", &out) }
        }
        if case .object(let members) = value {
            if case .array(let required)? = rules["required"] {
                for case .string(let key) in required where members[key] == nil {
                    out.append("\(path): required key \(key) is missing")
                }
            }
            var properties: [String: JSONValue] = [:]
            if case .object(let declared)? = rules["properties"] { properties = declared }
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[key] {
                    check(member, propertySchema, path: "\(path)/\(key)", &out)
                } else if case .bool(false)? = rules["additionalProperties"] {
                    out.append("\(path): key \(key) is not in the schema")
                } else if let extra = rules["additionalProperties"], case .object = extra {
                    check(member, extra, path: "\(path)/\(key)", &out)
                }
            }
        }
    }

    static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null),
            ("integer", .integer), ("number", .integer), ("number", .number):
            true
        default: false
        }
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .integer(let number): "\(number)"
        case .number(let number): "\(number)"
        case .string(let text): "\"\(text.prefix(60))\""
        case .array(let items): "an array of \(items.count)"
        case .object(let members): "an object with \(members.keys.sorted().prefix(6).joined(separator: ", "))"
        }
    }
}
