import Foundation

/// The one door to the operating system: every path Corral reads or writes on a Linux host is
/// resolved under `root` (default `/`), so tests run against fake `sys/`, `proc/` and `dev/`
/// trees in temporary folders and nothing else touches the OS.
public struct SysRoot: Sendable {
    public let root: String

    public init(_ root: String = "/") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// `path` (absolute, as on the host) under the root.
    public func resolve(_ path: String) -> String { root + (path.hasPrefix("/") ? path : "/" + path) }

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: resolve(path)) }

    /// A small text file (sysfs attribute), trimmed; nil if missing or unreadable.
    ///
    /// Plain read(2) and an ASCII trim: the daemon reads `/proc/interrupts` and sysfs attributes
    /// every few seconds, and Foundation's file reading and `trimmingCharacters` were most of
    /// its idle CPU (benchmarks/ANALYSIS.md §6).
    public func read(_ path: String) -> String? {
        guard let bytes = readBytes(path, limit: 1 << 24) else { return nil }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, Self.isBlank(bytes[start]) { start += 1 }
        while end > start, Self.isBlank(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Up to `limit` bytes of a file (procfs and sysfs files say size 0: read to the end).
    public func readBytes(_ path: String, limit: Int = 4096) -> [UInt8]? {
        let descriptor = open(resolve(path), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: Swift.min(limit, 16_384))
        while out.count < limit {
            let wanted = Swift.min(chunk.count, limit - out.count)
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            out.append(contentsOf: chunk[0..<count])
        }
        return out
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    /// Entries of a directory, sorted; empty if missing.
    public func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: resolve(path))) ?? []).sorted()
    }

    /// The final name a symlink points to (`driver` → `ixgbe`), or nil.
    public func linkName(_ path: String) -> String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: resolve(path)) else { return nil }
        return (target as NSString).lastPathComponent
    }

    /// The host path a symlink resolves to, relative to the root (`/sys/devices/pci0000:00/...`).
    public func realPath(_ path: String) -> String? {
        let resolved = URL(fileURLWithPath: resolve(path)).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(root) else { return nil }
        return String(resolved.dropFirst(root.count))
    }

    /// Writes `text` to an attribute in one write, as `echo text > attr` does (O_TRUNC is what
    /// the shell uses; sysfs accepts it). Returns errno on failure.
    public func write(_ text: String, to path: String) -> Int32? {
        let descriptor = open(resolve(path), O_WRONLY | O_TRUNC)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        return written == bytes.count ? nil : (written < 0 ? errno : EIO)
    }

    /// Writes `bytes` at `offset` (PCI config space through `/sys/bus/pci/devices/D/config`).
    public func write(_ bytes: [UInt8], to path: String, at offset: Int) -> Int32? {
        let descriptor = open(resolve(path), O_WRONLY)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
        return written == bytes.count ? nil : (written < 0 ? errno : EIO)
    }
}
