import CorralCore
import Foundation
import Testing

@testable import CorralDecode

/// The parser never traps on any input: random bytes, and real log lines mutated the way pastes
/// and disks damage them (bytes flipped, cut, duplicated, spliced, newlines lost).
///
/// 10⁶ lines per run in the test suite; for a longer run:
/// `CORRAL_FUZZ_LINES=100000000 CORRAL_FUZZ_SEED=42 swift test -c release --filter FuzzTests`.
@Suite struct FuzzTests {
    static let lineCount = ProcessInfo.processInfo.environment["CORRAL_FUZZ_LINES"].flatMap(Int.init) ?? 1_000_000
    static let seed = ProcessInfo.processInfo.environment["CORRAL_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED

    /// Real lines to mutate: the corpus and the lab logs.
    static let seedLines: [[UInt8]] = {
        let files = Fixtures.files("kernel-logs", suffix: ".log") + Fixtures.files("qemu-lab", suffix: ".log")
        return files.flatMap { url in
            Fixtures.text(url).utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        }
    }()

    static let alphabet = Array("0123456789abcdefx:.[]()=, <>-_;\t\r\\\"'DMARAMD-Vi".utf8)

    static func mutate(_ line: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var out = line
        for _ in 0..<(1 + Int(random.next() % 4)) {
            let position = out.isEmpty ? 0 : Int(random.next() % UInt64(out.count))
            switch random.next() % 8 {
            case 0: if !out.isEmpty { out[position] = UInt8(truncatingIfNeeded: random.next()) }
            case 1: out = Array(out.prefix(position))
            case 2: out.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
            case 3: if !out.isEmpty { out.remove(at: position) }
            case 4:
                let other = seedLines[Int(random.next() % UInt64(seedLines.count))]
                out = Array(out.prefix(position)) + other.suffix(other.count / 2)
            case 5: out += out.prefix(position)
            case 6: if !out.isEmpty { out[position] = 0x3D }  // '=': quoted-printable soft breaks
            default:
                out.insert(
                    contentsOf: (0..<Int(random.next() % 12)).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                    at: position)
            }
        }
        return out
    }

    @Test func neverTrapsOnRandomOrMutatedLines() {
        var random = SplitMix64(seed: Self.seed)
        var parser = KernelLogParser()
        var events = 0
        var lastLine = 0
        var ordered = true
        let emit: (LogEvent) -> Void = { event in
            events += 1
            if event.line < lastLine { ordered = false }
            lastLine = event.line
        }
        for index in 0..<Self.lineCount {
            let line: [UInt8]
            if index % 4 == 0 {
                line = (0..<Int(random.next() % 160)).map { _ in
                    random.next() % 2 == 0
                        ? Self.alphabet[Int(random.next() % UInt64(Self.alphabet.count))]
                        : UInt8(truncatingIfNeeded: random.next())
                }
            } else {
                line = Self.mutate(Self.seedLines[Int(random.next() % UInt64(Self.seedLines.count))], &random)
            }
            line.withByteText { parser.add(line: $0, emit: emit) }
        }
        parser.finish(emit: emit)
        let statistics = parser.statistics
        #expect(statistics.lines == Self.lineCount)
        #expect(ordered, "events must come out in the order of their first line")
        #expect(events == statistics.eventCount)
        #expect(events > Self.lineCount / 100, "mutated real lines still yield events")
        #expect(statistics.records <= statistics.lines)
    }

    @Test func endlessLineIsCutNotHeld() {
        var splitter = LineSplitter()
        var pieces = 0
        let chunk = [UInt8](repeating: 0x41, count: 256 << 10)
        for _ in 0..<9 { splitter.feed(chunk) { _ in pieces += 1 } }
        splitter.finish { _ in pieces += 1 }
        #expect(pieces == 3 && splitter.overlongLines == 2)
    }
}
