import Foundation

/// The one door to the operating system: every path Corral reads or writes on a Linux host is
/// resolved under `root` (default `/`), so tests run against fake `sys/`, `proc/` and `dev/`
/// trees in temporary folders and nothing else touches the OS.
public struct SysRoot: Sendable {
    public let root: String
    /// Sees every call and may fail it (tests: the order of writes, fail-nth); nil on a real host.
    public let interposer: FileSystemInterposer?

    public init(_ root: String = "/", interposer: FileSystemInterposer? = nil) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.interposer = interposer
    }

    /// `path` (absolute, as on the host) under the root.
    public func resolve(_ path: String) -> String { root + (path.hasPrefix("/") ? path : "/" + path) }

    public func exists(_ path: String) -> Bool {
        if interposer?.enter(.exists, path) != nil { return false }
        return FileManager.default.fileExists(atPath: resolve(path))
    }

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
        if interposer?.enter(.read, path) != nil { return nil }
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
        if interposer?.enter(.list, path) != nil { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: resolve(path))) ?? []).sorted()
    }

    /// Entries of a directory, sorted; empty if it does not exist; nil if it could not be read
    /// (EMFILE, EIO, EACCES...): the caller keeps what it knew instead of concluding "nothing".
    public func listing(_ path: String) -> [String]? {
        if interposer?.enter(.list, path) != nil { return nil }
        guard let directory = opendir(resolve(path)) else { return errno == ENOENT || errno == ENOTDIR ? [] : nil }
        defer { closedir(directory) }
        var names: [String] = []
        errno = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { buffer in
                String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return errno == 0 ? names.sorted() : nil
    }

    public enum Link: Equatable, Sendable {
        case name(String)
        case absent
        /// It could not be read (errno other than ENOENT).
        case unreadable(Int32)
    }

    /// A symlink's final name, told apart from its absence and from a failed read.
    public func link(_ path: String) -> Link {
        if let failure = interposer?.enter(.link, path) { return .unreadable(failure) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { readlink(resolve(path), $0.baseAddress!, $0.count) }
        guard count >= 0 else { return errno == ENOENT || errno == EINVAL ? .absent : .unreadable(errno) }
        let target = String(decoding: buffer[0..<count], as: UTF8.self)
        return .name(String(target.split(separator: "/").last ?? Substring(target)))
    }

    /// The final name a symlink points to (`driver` → `ixgbe`), or nil.
    public func linkName(_ path: String) -> String? {
        if interposer?.enter(.link, path) != nil { return nil }
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: resolve(path)) else { return nil }
        return (target as NSString).lastPathComponent
    }

    /// The host path a symlink resolves to, relative to the root (`/sys/devices/pci0000:00/...`).
    public func realPath(_ path: String) -> String? {
        if interposer?.enter(.link, path) != nil { return nil }
        let resolved = URL(fileURLWithPath: resolve(path)).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(root) else { return nil }
        return String(resolved.dropFirst(root.count))
    }

    /// Writes `text` to an attribute in one write, as `echo text > attr` does (O_TRUNC is what
    /// the shell uses; sysfs accepts it). Returns errno on failure.
    public func write(_ text: String, to path: String) -> Int32? {
        if let failure = interposer?.enter(.write, path, text) { return failure }
        let descriptor = open(resolve(path), O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        return written == bytes.count ? nil : (written < 0 ? errno : EIO)
    }

    /// Writes `bytes` at `offset` (PCI config space through `/sys/bus/pci/devices/D/config`).
    public func write(_ bytes: [UInt8], to path: String, at offset: Int) -> Int32? {
        if let failure = interposer?.enter(.write, path, "\(bytes.count) bytes at \(offset)") { return failure }
        let descriptor = open(resolve(path), O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
        return written == bytes.count ? nil : (written < 0 ? errno : EIO)
    }
}

/// Stands between Corral and the file system in tests: records every call through `SysRoot`
/// (so a test can check the order of sysfs writes) and fails the ones `failure` picks (so a
/// test can make every Nth call fail with `EMFILE`, `ENOSPC`, `EIO` or `EACCES`).
public final class FileSystemInterposer: @unchecked Sendable {
    public enum Operation: String, Sendable {
        case read, write, list, exists, link
    }

    public struct Call: Hashable, Sendable {
        public var operation: Operation
        public var path: String
        /// What a write writes (text, or a byte count and offset).
        public var written: String?
        /// The errno it was failed with, if it was.
        public var failedWith: Int32?
    }

    private let lock = NSLock()
    private var recorded: [Call] = []
    private var count = 0
    private var active = true
    private let failure: @Sendable (_ call: Call, _ index: Int) -> Int32?

    /// `failure`: the errno to fail the `index`th call with (0-based), or nil to let it through.
    public init(failure: @escaping @Sendable (_ call: Call, _ index: Int) -> Int32? = { _, _ in nil }) {
        self.failure = failure
    }

    /// Every `n`th call fails, with `errors` in turn.
    public static func failingEvery(_ n: Int, with errors: [Int32] = [EMFILE, ENOSPC, EIO, EACCES])
        -> FileSystemInterposer
    {
        FileSystemInterposer { _, index in
            (index + 1) % n == 0 ? errors[((index + 1) / n - 1) % errors.count] : nil
        }
    }

    /// Calls while paused pass through unrecorded (a test's setup).
    public func pause(_ paused: Bool) {
        lock.lock()
        active = !paused
        lock.unlock()
    }

    func enter(_ operation: Operation, _ path: String, _ written: String? = nil) -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        guard active else { return nil }
        var call = Call(operation: operation, path: path, written: written)
        call.failedWith = failure(call, count)
        count += 1
        recorded.append(call)
        if let failed = call.failedWith { errno = failed }
        return call.failedWith
    }

    public var calls: [Call] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    public var writes: [Call] { calls.filter { $0.operation == .write } }
    public var failures: Int { calls.filter { $0.failedWith != nil }.count }
}
