import Foundation

/// Unique paths under the temporary folder, one naming scheme for every test's files
/// (`corral-<what>-<uuid>`), so a leftover is recognisable and two tests never collide.
public enum TemporaryPath {
    public static func make(_ what: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("corral-\(what)-\(UUID().uuidString)").path
    }

    /// A new, empty folder.
    public static func folder(_ what: String) -> String {
        let path = make(what)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
