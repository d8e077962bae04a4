import CorralCore
import CorralDecode
import CorralSim
import CorralStore
import Foundation

// Decode benchmarks: prints figures, asserts nothing (timed tests are not allowed; see
// DEVELOPERS.md). Usage:
//   swift run -c release corral-bench [--size-mb 1024] [--file /tmp/corral-storm.log] [--records 2000000]
// The storm log is generated (seeded) once and reused while its size matches.

let usage = """
    usage: corral-bench [--results FILE] [--only PART,...] [--quick] [--size-mb N] [--file PATH]
                        [--records N] [--corral PATH] [--corral-static PATH]
      --results FILE   run every part and write FILE (scripts/benchmarks writes benchmarks/RESULTS.md)
      --only PARTS     run these parts and print their figures: records, replay, memory, live,
                       journal, simulator, daemon (RESULTS.md is not written)
      --quick          smaller runs, for trying it out
      --size-mb N      size of the generated storm logs (default 1024)
      --file PATH      the storm log to use (generated there when missing or of another size)
      --records N      records per vendor in the quick tour (default 2000000)
      --corral PATH, --corral-static PATH   the corral binaries the daemon part runs
    Without --results or --only: the original quick tour (log parsing, records, simulator, journal).
    Figures are printed, never asserted: see benchmarks/ANALYSIS.md.
    """
let knownOptions: Set = [
    "--results", "--only", "--quick", "--size-mb", "--file", "--records", "--corral", "--corral-static",
]
// An unknown flag (`--help` included) prints the usage instead of starting a run of minutes.
for argument in CommandLine.arguments.dropFirst() where argument.hasPrefix("-") && !knownOptions.contains(argument) {
    print(usage)
    exit(argument == "--help" || argument == "-h" ? 0 : 2)
}

func option(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments.dropFirst()
    guard let index = arguments.firstIndex(of: name), arguments.index(after: index) < arguments.endIndex else {
        return value
    }
    return arguments[arguments.index(after: index)]
}
let sizeMB = Int(option("--size-mb", default: "1024")) ?? 1024
let resultsPath =
    CommandLine.arguments.contains("--results") ? option("--results", default: "benchmarks/RESULTS.md") : nil
let path = option("--file", default: NSTemporaryDirectory() + "corral-storm-\(sizeMB)mb.log")
let recordCount = Int(option("--records", default: "2000000")) ?? 2_000_000
let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func rate(_ count: Double, _ duration: Duration) -> String {
    let perSecond = count / max(seconds(duration), 1e-9)
    return perSecond >= 1e6 ? String(format: "%.2f M", perSecond / 1e6) : String(format: "%.0f ", perSecond)
}

print(
    "corral-bench: kernel log parsing and raw record decoding (\(ProcessInfo.processInfo.activeProcessorCount) cores)")

func ensureStormLog(path: String, megabytes: Int, noisePercent: UInt64 = 0) {
    let wanted = megabytes << 20
    let existing = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    guard existing < wanted || existing > wanted + (1 << 20) else { return }
    print(
        "generating \(megabytes) MB \(noisePercent > 0 ? "mostly-noise" : "storm") log at \(path) (seeded; reused by later runs) ..."
    )
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path)
    else {
        print("cannot write \(path)")
        exit(1)
    }
    var generator = StormLogGenerator(seed: 42, noisePercent: noisePercent)
    var written = 0
    while written < wanted {
        var chunk: [UInt8] = []
        chunk.reserveCapacity(8 << 20)
        generator.append(bytes: min(8 << 20, wanted - written), to: &chunk)
        handle.write(Data(chunk))
        written += chunk.count
    }
    handle.closeFile()
}

// `--only records,memory`: run those parts of the suite and print their figures (RESULTS.md is
// written only by a full run, so that it never mixes figures from different runs).
let only = Set(option("--only", default: "").split(separator: ",").map(String.init))
if let resultsPath = resultsPath ?? (only.isEmpty ? nil : "") {
    let quick = CommandLine.arguments.contains("--quick")
    var suite = Suite(quick: quick)
    func wanted(_ part: String) -> Bool { only.isEmpty || only.contains(part) }
    if wanted("records") { suite.records() }
    if wanted("replay") {
        ensureStormLog(path: path, megabytes: sizeMB)
        suite.replay(path: path, label: "storm log")
        let noisePath = path.hasSuffix(".log") ? String(path.dropLast(4)) + "-noise.log" : path + "-noise"
        ensureStormLog(path: noisePath, megabytes: sizeMB, noisePercent: 97)
        suite.replay(path: noisePath, label: "mostly-noise log (97 % ordinary messages)", decode: false)
    }
    if wanted("memory") { suite.memory() }
    if wanted("live") { suite.livePath() }
    if wanted("journal") { suite.journal() }
    if wanted("simulator") { suite.simulator() }
    if wanted("daemon") {
        let dynamic = option("--corral", default: ".build/release/corral")
        let deployed = option("--corral-static", default: "")
        // Idle CPU and RSS of the daemon as deployed (static Swift runtime) when given, and the
        // development build's RSS beside it.
        suite.daemonIdle(
            corral: deployed.isEmpty ? dynamic : deployed, seconds: quick ? 5 : 60,
            label: deployed.isEmpty ? "" : " (--static-swift-stdlib)")
        if !deployed.isEmpty {
            suite.daemonIdle(corral: dynamic, seconds: 5, label: " (shared Swift libraries)", rssOnly: true)
        }
    }
    guard only.isEmpty, !resultsPath.isEmpty else { exit(0) }
    let cpu =
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
        .first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    let machine =
        "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu), \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    let analysis = (try? String(contentsOfFile: "benchmarks/ANALYSIS.md", encoding: .utf8)) ?? ""
    try? suite.markdown(machine: machine, analysis: analysis).write(
        toFile: resultsPath, atomically: true, encoding: .utf8)
    print("wrote \(resultsPath)")
    exit(0)
}

// 1. The storm log.
ensureStormLog(path: path, megabytes: sizeMB)
let fileSize = (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue

// 2. Parse it.
let descriptor = open(path, O_RDONLY)
var parser = KernelLogParser()
var splitter = LineSplitter()
var events = 0
let parseTime = clock.measure {
    while true {
        // read(2) straight into a fresh array, as `corral decode` does.
        var chunk = [UInt8](repeating: 0, count: 4 << 20)
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { break }
        chunk.removeLast(chunk.count - count)
        splitter.feed(chunk) { line in parser.add(line: line) { _ in events += 1 } }
    }
    splitter.finish { line in parser.add(line: line) { _ in events += 1 } }
    parser.finish { _ in events += 1 }
}
let statistics = parser.statistics
let megabytes = Double(fileSize) / Double(1 << 20)
print("")
print("log parsing (\(String(format: "%.0f", megabytes)) MB, \(statistics.lines) lines, \(events) events):")
print(
    "  corral decode       \(String(format: "%7.2f", seconds(parseTime))) s  "
        + "\(String(format: "%.1f", megabytes / seconds(parseTime))) MB/s  \(rate(Double(statistics.lines), parseTime))lines/s"
)

// 3. grep over the same file, same keywords, same run.
let keywords = [
    "Request device [", "DRHD: handling fault status", "Event logged [", "event 0x", "error received",
    "PCIe Bus Error", "callbacks suppressed", "nobody cared", "lot(",
]
let grep = Process()
grep.executableURL = URL(fileURLWithPath: "/usr/bin/env")
grep.arguments = ["grep", "-c", "-F"] + keywords.flatMap { ["-e", $0] } + [path]
grep.environment = ["LC_ALL": "C", "PATH": "/usr/bin:/bin"]
let pipe = Pipe()
grep.standardOutput = pipe
var grepCount = "?"
let grepTime = clock.measure {
    do {
        try grep.run()
        grep.waitUntilExit()
        grepCount = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    } catch {
        grepCount = "grep failed: \(error)"
    }
}
print(
    "  LC_ALL=C grep -c -F \(String(format: "%7.2f", seconds(grepTime))) s  "
        + "\(String(format: "%.1f", megabytes / seconds(grepTime))) MB/s  (\(grepCount) matching lines; "
        + "grep only counts lines, it does not assemble or decode)")

// 4. Raw records.
print("")
print("raw record decoding (\(recordCount) records each, seeded random fields):")
func benchmark<R: VendorRecord>(_ type: R.Type, _ make: (inout SplitMix64) -> R) {
    var random = SplitMix64(seed: 7)
    let samples = (0..<4096).map { _ in make(&random).bytes }
    var checksum: UInt64 = 0
    let time = clock.measure {
        for index in 0..<recordCount {
            if let record = try? R(bytes: samples[index & 4095]) { checksum &+= UInt64(record.bytes[0]) }
        }
    }
    print(
        "  \(R.recordName.padding(toLength: 32, withPad: " ", startingAt: 0)) \(rate(Double(recordCount), time))records/s  (checksum \(checksum))"
    )
}
benchmark(VTdFaultRecord.self) {
    VTdFaultRecord(
        faultInfo: $0.next(), source: RequesterID(rawValue: UInt16(truncatingIfNeeded: $0.next())),
        requestType: .read, reason: VTdFaultReason(UInt8($0.next() % 14)))
}
benchmark(AMDViEventRecord.self) {
    AMDViEventRecord(
        code: .ioPageFault, deviceID: RequesterID(rawValue: UInt16(truncatingIfNeeded: $0.next())),
        domainOrPASID: UInt32($0.next() % 0x10000), flags: .init(rawValue: UInt16($0.next() % 0x200)),
        address: $0.next())
}
benchmark(SMMUv3EventRecord.self) {
    SMMUv3EventRecord(
        id: 0x10, streamID: StreamID(UInt32(truncatingIfNeeded: $0.next())), readNotWrite: $0.next() % 2 == 0,
        inputAddress: $0.next())
}
benchmark(SMMUv2ContextFault.self) {
    SMMUv2ContextFault(fsr: 0x402, fsynr0: UInt32(truncatingIfNeeded: $0.next()), far: $0.next(), cbfrsynra: 0x800)
}
// 5. The simulator: how fast it runs the default scenario.
print("")
print("simulator, default scenario (\(BuiltinScenarios.defaultName)), simulated events per second of real time:")
for policy in [SimPolicy.corral(Policy()), .linuxToday, .eeh] {
    var simulation = Simulation(
        scenario: BuiltinScenarios.named(BuiltinScenarios.defaultName)!, policy: policy, seed: 1)
    var result: SimResult?
    let time = clock.measure { result = simulation.run() }
    let events = Double(result?.simulatedEvents ?? 0)
    print(
        "  \(policy.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(rate(events, time))events/s  "
            + "(\(Int(events)) events in \(String(format: "%.3f", seconds(time))) s)")
}
// 6. The journal: a storm of 10⁷ events, 10⁶/s for 10 s of event time, from 4 devices.
print("")
let journalPath = NSTemporaryDirectory() + "corral-bench-journal-\(ProcessInfo.processInfo.processIdentifier).sqlite"
do {
    let journal = try Journal(path: journalPath)
    var writer = JournalWriter(journal: journal, run: try journal.run(kind: "bench", name: "storm", startedUTC: 0))
    let eventCount = 10_000_000
    let time = clock.measure {
        for index in 0..<eventCount {
            writer.observe(
                Observation(
                    subject: Subject(name: "0000:0\(index % 4):00.0"), eventClass: .event(.dmaFault),
                    at: Int64(index) * 1_000,
                    address: UInt64(index & 0xFFFF) << 12))
        }
        writer.flush()
    }
    let counts = try journal.counts()
    let bytes = ["", "-wal", "-shm"].compactMap {
        (try? FileManager.default.attributesOfItem(atPath: journalPath + $0)[.size] as? NSNumber)?.intValue
    }.reduce(0, +)
    print("journal, storm of \(eventCount) events (10^6/s for 10 s, 4 devices):")
    print(
        "  \(counts["episodes"] ?? 0) episodes, \(writer.transactions) transactions, "
            + "\(bytes / 1024) KiB on disk (with WAL), \(rate(Double(eventCount), time))events/s journaled")
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: journalPath + suffix) }
} catch {
    print("journal benchmark failed: \(error)")
}

print("")
print("Figures are from this machine and this run; the log is synthetic (StormLogGenerator, seed 42).")
