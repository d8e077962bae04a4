import Foundation

/// JSON output for scripts: every value through `Codable` (keys sorted, so a line is stable
/// across runs and a name holding quotes or control characters stays one string).
enum JSONLine {
    /// One value as one line of JSON.
    static func encode(_ value: some Encodable) -> String {
        // Encoding plain records cannot fail; if it ever did, say so on the line.
        guard let data = try? encoder.encode(value) else { return "{\"error\":\"unencodable\"}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// One encoder for the process: `decode --json` writes one line per event.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
