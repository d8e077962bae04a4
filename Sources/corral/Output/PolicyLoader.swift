import CorralConfig
import CorralCore
import Foundation

/// Reads a policy file from disk for the commands, turning problems into exit-code-1 errors
/// with the file's own location.
enum PolicyLoader {
    static func load(path: String) throws -> Policy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("\(path): cannot read the file (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CommandFailure("\(path): not UTF-8 text")
        }
        do {
            return try PolicyFile.parse(text, file: path)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// A failure the user caused with their input (a file, a value): printed as `Error: <text>`
/// with exit code 1, without a usage banner.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
