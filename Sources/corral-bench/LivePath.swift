import CorralCore
import CorralDecode
import CorralLinux
import Foundation

/// 7. The live path (issue 16): the CPU `corral watch` spends per event when a device floods
/// the kernel with faults, through the daemon's real readers. A writer thread streams
/// generated records at a fixed rate; the reader — this thread — waits in poll(2) as the
/// daemon does, reads, parses and hands every device event to the engine. Only the reader's
/// CPU time is counted (`CLOCK_THREAD_CPUTIME_ID`), so the writer's cost is not Corral's.
///
/// - kmsg: `KmsgDevice` over a `SOCK_SEQPACKET` socket, which like `/dev/kmsg` gives one whole
///   record per read(2); records in the device's format (`6,seq,usec,-;DMAR: ...`).
/// - tracefs, text: `TraceSource` on a fake root whose `trace_pipe` is a FIFO, lines in the
///   `iommu:io_page_fault` text format (the daemon's fallback when formats cannot be read).
/// - tracefs, binary: the same source on a fake root with the event's `format` file, whose
///   `per_cpu/cpu0/trace_pipe_raw` is a FIFO of 4096-byte pages in the ring buffer's layout
///   (what the daemon reads when it can).
extension Suite {
    mutating func livePath() {
        print("7. live path: CPU of the reader per event")
        // A reader that stops early closes its pipe: the writer gets EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
        let seconds = quick ? 1 : 3
        for rate in [100_000, 400_000] {
            let kmsg = Self.streamKmsg(rate: rate, seconds: seconds)
            addLive("kmsg", rate: rate, kmsg)
            for raw in [false, true] {
                let label = raw ? "tracefs binary pages" : "tracefs text pipe"
                if let trace = Self.streamTrace(rate: rate, seconds: seconds, raw: raw) {
                    addLive(label, rate: rate, trace)
                } else {
                    add("live", "\(label) at \(rate / 1000) k/s", "could not set up the fake tracefs")
                }
            }
        }
    }

    struct LiveRun {
        var events: Int
        var wall: Double
        var cpu: Double
    }

    private mutating func addLive(_ source: String, rate: Int, _ run: LiveRun) {
        let share = run.cpu / max(run.wall, 1e-9)
        let perEvent = run.cpu / Double(max(run.events, 1)) * 1e9
        let achieved = Double(run.events) / max(run.wall, 1e-9)
        let atTarget = rate == 400_000
        add(
            "live", "\(source) at \(rate / 1000) k events/s",
            String(
                format: "%.1f %% of one core, %.0f ns per event (%d events in %.2f s, %.0f k/s reached)",
                share * 100, perEvent, run.events, run.wall, achieved / 1000),
            target: atTarget ? "≤ 10 % of one core" : "-", met: atTarget ? share <= 0.10 : nil,
            ratio: atTarget ? share / 0.10 : nil)
    }

    static func threadCPU() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func monotonic() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// Calls `tick(n)` every millisecond with how many items are due in it, for `seconds`.
    static func paced(rate: Int, seconds: Int, _ tick: (Int) -> Void) {
        let perTick = rate / 1000
        var deadline = monotonic()
        for _ in 0..<(seconds * 1000) {
            tick(perTick)
            deadline += 1_000_000
            var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil)
        }
    }

    static func faultLine(_ index: Int) -> String {
        "DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x\(Hex.string(UInt64(index & 0xFFFF) << 12)) [fault reason 0x05] PTE Write access is not set"
    }

    static func streamKmsg(rate: Int, seconds: Int) -> LiveRun {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair) == 0 else {
            return LiveRun(events: 0, wall: 0, cpu: 0)
        }
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        let total = rate * seconds
        let writer = pair[1]
        let thread = Thread {
            var sequence = 0
            paced(rate: rate, seconds: seconds) { count in
                for _ in 0..<count {
                    sequence += 1
                    let micros = 5_000_000 + sequence * 1_000_000 / rate
                    let record = Array("3,\(sequence),\(micros),-;\(faultLine(sequence))\n".utf8)
                    _ = record.withUnsafeBytes { send(writer, $0.baseAddress, $0.count, 0) }
                }
            }
            close(writer)
        }
        var source = KmsgDevice(descriptor: pair[0])
        var follower = KmsgFollower()
        var engine = Engine(policy: Policy())
        var events = 0
        let startWall = monotonic()
        let startCPU = threadCPU()
        thread.start()
        while follower.records < total, monotonic() - startWall < Int64(seconds + 5) * 1_000_000_000 {
            _ = KmsgDevice.waitReadable([source.fileDescriptor], milliseconds: 50)
            follower.poll(&source) { event in
                events += 1
                if let device = event.deviceEvent { _ = engine.handle(device, at: Instant(nanoseconds: monotonic())) }
            }
        }
        return LiveRun(events: events, wall: Double(monotonic() - startWall) / 1e9, cpu: threadCPU() - startCPU)
    }

    /// `io_page_fault`'s layout on a 6.x kernel (include/trace/events/iommu.h, `iommu_error`).
    static let faultFormat = """
        name: io_page_fault
        ID: 77
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
        \tfield:__data_loc char[] device;\toffset:8;\tsize:4;\tsigned:0;
        \tfield:__data_loc char[] driver;\toffset:12;\tsize:4;\tsigned:0;
        \tfield:u64 iova;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:int flags;\toffset:24;\tsize:4;\tsigned:1;
        """

    /// One `io_page_fault` record of that layout, with its event header (type_len = words).
    static func faultEvent(iova: UInt64) -> [UInt8] {
        var record = [UInt8](repeating: 0, count: 28)
        record[0] = 77
        let strings = Array("0000:03:00.0".utf8) + [0] + Array("amdgpu".utf8) + [0]
        func put(_ value: some FixedWidthInteger, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) {
                for (index, byte) in $0.enumerated() { record[offset + index] = byte }
            }
        }
        put(UInt32(13) << 16 | 28, at: 8)
        put(UInt32(7) << 16 | 41, at: 12)
        put(iova, at: 16)
        put(Int32(0x20), at: 24)
        record += strings
        record += [UInt8](repeating: 0, count: (4 - record.count % 4) % 4)
        var event: [UInt8] = []
        withUnsafeBytes(of: (UInt32(record.count / 4) | 100 << 5).littleEndian) { event += $0 }
        return event + record
    }

    static func streamTrace(rate: Int, seconds: Int, raw: Bool) -> LiveRun? {
        let base = NSTemporaryDirectory() + "corral-bench-trace-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let instance = base + TraceSource.instance
        // With pages, only the fault event is enabled: its format is the one the fake root has.
        for event in TraceSource.events where !raw || event == "iommu/io_page_fault" {
            try? FileManager.default.createDirectory(
                atPath: "\(instance)/events/\(event)", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: "\(instance)/events/\(event)/enable", contents: Data("0".utf8))
        }
        try? FileManager.default.createDirectory(
            atPath: base + "/sys/class/iommu/ivhd0", withIntermediateDirectories: true)
        let pipe = raw ? "\(instance)/per_cpu/cpu0/trace_pipe_raw" : "\(instance)/trace_pipe"
        if raw {
            FileManager.default.createFile(
                atPath: "\(instance)/events/iommu/io_page_fault/format", contents: Data(faultFormat.utf8))
            try? FileManager.default.createDirectory(
                atPath: base + "/sys/kernel/tracing/events", withIntermediateDirectories: true)
            FileManager.default.createFile(
                atPath: base + "/sys/kernel/tracing/events/header_page",
                contents: Data(
                    "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n"
                        .utf8))
            try? FileManager.default.createDirectory(
                atPath: "\(instance)/per_cpu/cpu0", withIntermediateDirectories: true)
            _ = mkfifo("\(instance)/trace_pipe", 0o600)
        }
        guard mkfifo(pipe, 0o600) == 0, let source = TraceSource(root: SysRoot(base)), source.readsRawPages == raw
        else {
            return nil
        }
        let writer = open(pipe, O_WRONLY)
        guard writer >= 0 else { return nil }
        let event = faultEvent(iova: 0xfc18_9000)
        let perPage = (4096 - 16) / event.count
        let total = rate * seconds
        let thread = Thread {
            var sequence = 0
            var pages: [Int: [UInt8]] = [:]
            paced(rate: rate, seconds: seconds) { count in
                guard !raw else {
                    // Whole pages, as a read of trace_pipe_raw gives them (≤ PIPE_BUF: atomic).
                    var left = count
                    while left > 0 {
                        let records = min(left, perPage)
                        if pages[records] == nil {
                            var page = [UInt8](repeating: 0, count: 4096)
                            let data = Array(repeating: event, count: records).flatMap { $0 }
                            withUnsafeBytes(of: UInt64(data.count).littleEndian) {
                                page.replaceSubrange(8..<16, with: $0)
                            }
                            page.replaceSubrange(16..<(16 + data.count), with: data)
                            pages[records] = page
                        }
                        _ = pages[records]!.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
                        left -= records
                    }
                    return
                }
                var text = ""
                for _ in 0..<count {
                    sequence += 1
                    let micros = 5_000_000 + sequence * 1_000_000 / rate
                    text +=
                        "  irq/25-AMD-Vi-120 [002] ..... \(micros / 1_000_000).\(micros % 1_000_000): io_page_fault: IOMMU:AMD-Vi 0000:03:00.0 iova=0x\(Hex.padded(UInt64(sequence & 0xFFFF) << 12, width: 16)) flags=0x0020\n"
                }
                let bytes = Array(text.utf8)
                var written = 0
                while written < bytes.count {
                    let count = bytes[written...].withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
                    guard count > 0 else { break }
                    written += count
                }
            }
            close(writer)
        }
        var engine = Engine(policy: Policy())
        var events = 0
        let startWall = monotonic()
        let startCPU = threadCPU()
        thread.start()
        while events < total, monotonic() - startWall < Int64(seconds + 5) * 1_000_000_000 {
            _ = KmsgDevice.waitReadable(source.fileDescriptors, milliseconds: 50)
            for event in source.read() {
                events += 1
                _ = engine.handle(event, at: Instant(nanoseconds: monotonic()))
            }
        }
        return LiveRun(events: events, wall: Double(monotonic() - startWall) / 1e9, cpu: threadCPU() - startCPU)
    }
}
