import CorralCore
import CorralDecode
import Foundation

/// What one read of `/dev/kmsg` gives: one record (Documentation/ABI/testing/dev-kmsg), or
/// the news that the ring buffer overwrote records we had not read (`EPIPE`), or nothing more
/// for now (`EAGAIN`).
public enum KmsgRead: Sendable {
    case record([UInt8])
    case overrun
    case end
    case failed(Int32)
}

/// A source of kmsg records: the device, or a fake in tests.
public protocol KmsgSource {
    mutating func read() -> KmsgRead
}

/// `/dev/kmsg` under the root, non-blocking: each `read()` returns one whole record.
public final class KmsgDevice: KmsgSource {
    let descriptor: Int32
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    /// A regular file standing in for the device (a fake root, a saved dump): read whole and
    /// split into records (a record starts with a digit; dictionary lines with a space).
    var pending: [[UInt8]] = []
    let regularFile: Bool

    public init(root: SysRoot) throws {
        descriptor = open(root.resolve("/dev/kmsg"), O_RDONLY | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw NSError(
                domain: "corral", code: Int(errno),
                userInfo: [NSLocalizedDescriptionKey: "cannot open /dev/kmsg: \(String(cString: strerror(errno)))"])
        }
        var status = stat()
        regularFile = fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// An open descriptor that reads like the device, one record per read(2) (a
    /// `SOCK_SEQPACKET` socket: the benchmark streams generated records through it); owned
    /// from now on.
    public init(descriptor: Int32) {
        self.descriptor = descriptor
        regularFile = false
    }

    deinit { close(descriptor) }

    public var isRegularFile: Bool { regularFile }

    public var fileDescriptor: Int32 { descriptor }

    /// Waits until any of `descriptors` is readable or `milliseconds` pass (poll(2)): the
    /// daemon's one wait, on kmsg and the uevent socket.
    public static func waitReadable(_ descriptors: [Int32], milliseconds: Int32) -> Bool {
        var broken = Set<Int32>()
        return waitReadable(descriptors, milliseconds: milliseconds, watching: [], broken: &broken)
    }

    /// The same, and which of `watching` poll(2) reports broken: closed (POLLNVAL), or hung up or
    /// in error with nothing to read (a tracefs buffer gone). poll(2) returns at once for such a
    /// descriptor, every time, so a loop that kept waiting on it would spin; the caller stops
    /// waiting on the ones added to `broken`. Not for `/dev/kmsg`, whose POLLERR means an
    /// overrun that the next read reports and clears.
    public static func waitReadable(
        _ descriptors: [Int32], milliseconds: Int32, watching: Set<Int32>, broken: inout Set<Int32>
    ) -> Bool {
        var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&entries, nfds_t(entries.count), milliseconds) > 0
        for entry in entries where watching.contains(entry.fd) {
            let events = Int32(entry.revents)
            if events & Int32(POLLNVAL) != 0 || (events & Int32(POLLERR | POLLHUP) != 0 && events & Int32(POLLIN) == 0)
            {
                broken.insert(entry.fd)
            }
        }
        return ready
    }

    /// Writes one user-facility record (`<14>`, user.info) into `/dev/kmsg`: the daemon's start
    /// marker, whose kernel timestamp anchors "live" on the kernel's own clock. Returns whether
    /// the kernel took it. Not for a regular file standing in for the device.
    public func writeMarker(_ text: String, root: SysRoot) -> Bool {
        guard !regularFile else { return false }
        let descriptor = open(root.resolve("/dev/kmsg"), O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array("<14>\(text)\n".utf8)
        return bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }

    public func read() -> KmsgRead {
        if regularFile { return readFile() }
        let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
        if count > 0 { return .record(Array(buffer[0..<count])) }
        if count == 0 { return .end }
        switch errno {
        case EAGAIN: return .end
        case EPIPE: return .overrun
        case EINTR: return read()
        default: return .failed(errno)
        }
    }

    func readFile() -> KmsgRead {
        if pending.isEmpty {
            var data: [UInt8] = []
            while true {
                let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                data += buffer[0..<count]
            }
            var current: [UInt8] = []
            for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
                if let first = line.first, first.isDigitByte, !current.isEmpty {
                    pending.append(current)
                    current = []
                }
                if !current.isEmpty { current.append(0x0A) }
                current += line
            }
            if !current.isEmpty { pending.append(current) }
            pending.reverse()
        }
        guard let record = pending.popLast() else { return .end }
        return .record(record)
    }
}

extension UInt8 {
    var isDigitByte: Bool { self >= 0x30 && self <= 0x39 }
}

/// Follows kmsg: numbers, resumes, counts losses and forgeries, and turns records into
/// `LogEvent`s with the decoder's parser.
public struct KmsgFollower {
    /// Last sequence number handled (journaled as the cursor, with the boot ID).
    public private(set) var lastSequence: UInt64?
    /// Records the ring buffer overwrote before we read them (EPIPE and sequence gaps).
    public private(set) var lost: UInt64 = 0
    public private(set) var overruns = 0
    /// Records from a facility other than the kernel (forgeries and user messages), ignored.
    public private(set) var notKernel = 0
    public private(set) var records = 0
    /// Reads that failed with an error other than "nothing more" (the record stays in the ring
    /// buffer and is read next time), and the last errno.
    public private(set) var readFailures = 0
    public private(set) var lastReadError: Int32?
    /// Records whose header (priority, sequence) could not be read: skipped and counted.
    public private(set) var malformed = 0
    var parser = KernelLogParser(format: .kmsg)
    /// Text of the record the daemon wrote into `/dev/kmsg` at its start (user facility). Its
    /// kernel timestamp is the start on the kernel's own clock: what came before it is history.
    public var startMarker: [UInt8]?
    /// The kernel timestamp of `startMarker`'s record, once read.
    public private(set) var startMarkerTime: Instant?

    /// `resumeAfter`: the journaled sequence of this boot; records up to it are skipped.
    public init(resumeAfter: UInt64? = nil) { lastSequence = resumeAfter }

    /// Reads everything available now.
    public mutating func poll(_ source: inout some KmsgSource, emit: (LogEvent) -> Void) {
        while true {
            switch source.read() {
            case .record(let bytes):
                handle(bytes, emit: emit)
            case .overrun:
                // The kernel moved our position to the oldest record still there; the sequence
                // gap on the next record says how many we lost.
                overruns += 1
            case .failed(let error):
                readFailures += 1
                lastReadError = error
                parser.finish(emit: emit)
                parser = KernelLogParser(format: .kmsg)
                return
            case .end:
                parser.finish(emit: emit)
                parser = KernelLogParser(format: .kmsg)
                return
            }
        }
    }

    mutating func handle(_ bytes: [UInt8], emit: (LogEvent) -> Void) {
        let text = bytes[...]
        guard let comma = text.firstIndex(of: 0x2C), let prio = Self.decimal(text[..<comma]),
            let comma2 = text[(comma + 1)...].firstIndex(of: 0x2C),
            let sequence = Self.decimal(text[(comma + 1)..<comma2])
        else {
            malformed += 1
            return
        }
        if let last = lastSequence {
            if sequence <= last { return }  // already handled before a restart
            if sequence > last + 1 { lost += sequence - last - 1 }
        }
        lastSequence = sequence
        records += 1
        if prio >> 3 != 0 {
            notKernel += 1
            if let marker = startMarker, startMarkerTime == nil, text.count >= marker.count,
                text.indices.dropLast(marker.count - 1).contains(where: { text[$0...].starts(with: marker) }),
                let comma3 = text[(comma2 + 1)...].firstIndex(of: 0x2C),
                let micros = Int64(String(decoding: text[(comma2 + 1)..<comma3], as: UTF8.self)),
                micros < Int64.max / 1_000
            {
                startMarkerTime = .microseconds(micros)
            }
            return
        }
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: true) {
            line.withByteText { parser.add(line: $0, emit: emit) }
        }
    }

    /// A header field: decimal digits only, as `UInt64(_:)` reads them (no sign, no blanks),
    /// without making a `String` per record (the live path: issue 16).
    static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte.isDigitByte else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = product.addingReportingOverflow(UInt64(byte - 0x30))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }
}
