import CorralDecode
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

    /// Reads the next bytes of the input into `buffer` (read(2), retried when interrupted);
    /// 0 at the end. `LineSplitter.readBlocks` reads with it straight into its blocks.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(handle.fileDescriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw CommandFailure("\(name): read failed: \(String(cString: strerror(errno)))")
        }
    }
}

extension InputFile {
    /// Reads the whole input through `splitter` into `parser` (straight into each block of
    /// lines), showing progress; the parser's events go to `emit`, the last ones at the end.
    func parse(
        with splitter: inout LineSplitter, into parser: inout ParallelLogParser, emit: (LogEvent) -> Void
    ) throws {
        var progress = Progress(total: size)
        var bytes = 0
        try splitter.readBlocks(
            chunkSize: Self.chunkSize,
            read: { buffer in
                let count = try read(into: buffer)
                bytes += count
                progress.update(bytes: bytes, lines: parser.statistics.lines)
                return count
            }, { block in parser.add(block, emit: emit) })
        parser.finish(emit: emit)
        progress.finish()
    }

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

    init(total: Int?) {
        self.total = total
        enabled = isatty(STDERR_FILENO) == 1 && (total ?? 0) >= 32 << 20
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
