import Foundation

/// A log file or standard input, read in chunks (never whole: storm logs are gigabytes).
struct InputFile {
    static let chunkSize = 4 << 20

    let name: String
    let handle: FileHandle
    /// Size in bytes when known (regular files), for progress.
    let size: Int?

    init(path: String?) throws {
        if path == nil || path == "-" {
            name = "<stdin>"
            handle = FileHandle.standardInput
            size = nil
            return
        }
        let path = path!
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CommandFailure("\(path): no such file")
        }
        guard !isDirectory.boolValue else { throw CommandFailure("\(path): is a directory, not a log file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CommandFailure("\(path): cannot open for reading (permissions?)")
        }
        name = path
        self.handle = handle
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        size = (attributes?[.size] as? NSNumber)?.intValue
    }

    /// Calls `chunk` for each piece of the input until it ends (read(2) straight into a fresh
    /// array: one copy from the kernel, none through Data).
    func forEachChunk(_ chunk: ([UInt8]) throws -> Void) throws {
        let descriptor = handle.fileDescriptor
        while true {
            var buffer = [UInt8](repeating: 0, count: Self.chunkSize)
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CommandFailure("\(name): read failed: \(String(cString: strerror(errno)))")
            }
            guard count > 0 else { return }
            buffer.removeLast(buffer.count - count)
            try chunk(buffer)
        }
    }
}

extension InputFile {
    /// With `--json`, how the input was read (UTF-16 converted, CR line ends) goes to standard
    /// error, so standard output stays the JSON it promises.
    static func noteConversions(_ conversions: [String], of name: String) {
        guard !conversions.isEmpty else { return }
        FileHandle.standardError.write(Data("corral: \(name): read as \(conversions.joined(separator: "; "))\n".utf8))
    }
}

/// A progress line on standard error, only when it is a terminal and the input is large.
struct Progress {
    let total: Int?
    let enabled: Bool
    private var lastPercent = -1

    init(total: Int?, label: String) {
        self.total = total
        enabled = isatty(STDERR_FILENO) == 1 && (total ?? 0) >= 32 << 20
        _ = label
    }

    mutating func update(bytes: Int, lines: Int) {
        guard enabled, let total, total > 0 else { return }
        let percent = min(100, bytes * 100 / total)
        guard percent != lastPercent else { return }
        lastPercent = percent
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(percent)%  \(lines) lines".utf8))
    }

    func finish() {
        guard enabled, lastPercent >= 0 else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
