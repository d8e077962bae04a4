import CorralCore
import Testing

@testable import CorralDecode

/// `ParallelLogParser` gives exactly what `KernelLogParser` gives line by line: the same events
/// in the same order and the same statistics, wherever the blocks are cut — through multi-line
/// reports, wrapped records, quoted-printable text and mangled lines.
@Suite struct ParallelParseTests {
    /// The corpus and the lab logs, one after the other, as one input.
    static let realLines: [[UInt8]] = FuzzTests.seedLines

    /// One input cut into blocks of 1...`maximum` lines at seeded random places.
    static func blocks(_ lines: [[UInt8]], seed: UInt64, maximum: Int) -> [LineBlock] {
        var random = SplitMix64(seed: seed)
        var blocks: [LineBlock] = []
        var index = 0
        while index < lines.count {
            let count = min(lines.count - index, 1 + Int(random.next() % UInt64(maximum)))
            var text: [UInt8] = []
            for line in lines[index..<(index + count)] {
                text += line
                text.append(0x0A)
            }
            blocks.append(LineBlock(text: text))
            index += count
        }
        return blocks
    }

    static func sequential(_ lines: [[UInt8]], pasted: Bool = false) -> ([LogEvent], LogStatistics) {
        var parser = KernelLogParser(pasted: pasted)
        var events: [LogEvent] = []
        for line in lines { line.withByteText { parser.add(line: $0) { events.append($0) } } }
        parser.finish { events.append($0) }
        return (events, parser.statistics)
    }

    static func parallel(_ blocks: [LineBlock], width: Int, pasted: Bool = false)
        -> ([LogEvent], LogStatistics, ParallelLogParser)
    {
        var parser = ParallelLogParser(pasted: pasted, width: width)
        var events: [LogEvent] = []
        for block in blocks { parser.add(block) { events.append($0) } }
        parser.finish { events.append($0) }
        return (events, parser.statistics, parser)
    }

    /// Every count and example, as text: a difference shows which one.
    static func summary(_ statistics: LogStatistics) -> [String] {
        let s = statistics
        return [
            "lines \(s.lines) bytes \(s.bytes) records \(s.records) in-events \(s.recordsInEvents)",
            "known \(s.knownWithoutEvent) skipped \(s.skipped) non-kernel \(s.nonKernel) repaired \(s.repairedRecords)",
            "joined \(s.joinedLines) dictionary \(s.dictionaryLines) split \(s.splitJoinedLines) prose \(s.foundInProse)",
            "malformed \(s.malformed) \(s.malformedExamples.map { "\($0.line):\($0.why)" })",
            "unrecognized \(s.unrecognized) \(s.unrecognizedLines) suppressed \(s.suppressedMessages)",
            "events \(s.events.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" })",
            "formats \(s.formats.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" })",
        ]
    }

    static func expectSame(_ lines: [[UInt8]], seed: UInt64, maximum: Int, width: Int, pasted: Bool = false)
        -> ParallelLogParser
    {
        let (expected, expectedStatistics) = sequential(lines, pasted: pasted)
        let (events, statistics, parser) = parallel(
            blocks(lines, seed: seed, maximum: maximum), width: width, pasted: pasted)
        #expect(events.count == expected.count)
        if let first = events.indices.first(where: { $0 < expected.count && events[$0] != expected[$0] }) {
            Issue.record("event \(first) differs: \(events[first]) vs \(expected[first])")
        }
        #expect(summary(statistics) == summary(expectedStatistics))
        return parser
    }

    @Test(arguments: [2, 3, 4])
    func theCorpusGivesTheSameEventsWhereverItIsCut(width: Int) {
        let parser = Self.expectSame(Self.realLines, seed: UInt64(width), maximum: 40, width: width)
        // The cuts fell inside reports and between records: both ways of joining were used.
        #expect(parser.splices > 50)
        #expect(parser.fallbacks + parser.splices > 50)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func mangledLinesGiveTheSameEventsWhereverTheyAreCut(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let lines = (0..<30_000).map { _ in
            let line = Self.realLines[Int(random.next() % UInt64(Self.realLines.count))]
            // A mutation may insert a newline byte: that is two lines, for both parsers.
            return random.next() % 3 == 0 ? FuzzTests.mutate(line, &random).map { $0 == 0x0A ? 0x20 : $0 } : line
        }
        let parser = Self.expectSame(lines, seed: seed, maximum: 25, width: 2)
        #expect(parser.splices > 100)
        // Pasted mode splits joined lines and looks into prose: the same holds.
        _ = Self.expectSame(lines, seed: seed &+ 7, maximum: 25, width: 3, pasted: true)
    }

    /// Escape bytes and quoted-printable escapes are searched for once per block: blocks with
    /// and without them, cut anywhere, give what one line at a time gives — colours stripped
    /// where a block has them, `=3D` decoded from its first line on.
    @Test(arguments: [2, 3])
    func blocksWithAndWithoutEscapesGiveTheSameEvents(width: Int) {
        let fault =
            "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x06] "
            + "PTE Read access is not set"
        var lines: [[UInt8]] = []
        for index in 0..<3_000 {
            let stamp = "[\(100 + index / 1000).\(String(index % 1000).leftPadded(6))] "
            switch index {
            case 1_000..<1_100: lines.append(Array(("\u{1B}[32m" + stamp + "\u{1B}[0m" + fault).utf8))
            case 2_000: lines.append(Array((stamp + "usb 1-1: Product: a=3Db").utf8))
            case 2_001..<2_100:
                lines.append(Array((stamp + fault.replacingOccurrences(of: "0x1000", with: "0x=\n1000")).utf8))
            default: lines.append(Array((stamp + (index % 7 == 0 ? fault : "usb 1-1: new device")).utf8))
            }
        }
        lines = lines.flatMap { $0.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init) }
        let (expected, _) = Self.sequential(lines)
        // Coloured lines are faults once their escapes are stripped; the soft breaks are joined.
        let plain = (0..<3_000).count { $0 % 7 == 0 && !(1_000..<1_100).contains($0) && !(2_000..<2_100).contains($0) }
        #expect(expected.count == plain + 100 + 99)
        _ = Self.expectSame(lines, seed: UInt64(width), maximum: 300, width: width)
    }

    /// A five-line SMMUv3 report cut after its second line: the block after the cut, read
    /// alone, sees three dword lines with no head. The splice must give the one whole event.
    @Test func aReportCutInTwoIsOneEvent() {
        let report = [
            "[   10.000000] arm-smmu-v3 fc900000.iommu: event 0x10 received:",
            "[   10.000001] arm-smmu-v3 fc900000.iommu: \t0x0000030000000010",
            "[   10.000002] arm-smmu-v3 fc900000.iommu: \t0x0000020000000000",
            "[   10.000003] arm-smmu-v3 fc900000.iommu: \t0x00000000deadb000",
            "[   10.000004] arm-smmu-v3 fc900000.iommu: \t0x0000000000000000",
            "[   10.100000] usb 1-1: new high-speed USB device number 3 using xhci_hcd",
            "[   10.100001] usb 1-1: New USB device found, idVendor=0bda, idProduct=8153",
            "[   10.100002] usb 1-1: Product: USB 10/100/1000 LAN",
        ].map { Array($0.utf8) }
        let cut = [
            LineBlock(text: Array(report[0..<2].joined(separator: [0x0A])) + [0x0A]),
            LineBlock(text: Array(report[2...].joined(separator: [0x0A])) + [0x0A]),
        ]
        var parser = ParallelLogParser(width: 2)
        var events: [LogEvent] = []
        for block in cut { parser.add(block) { events.append($0) } }
        parser.finish { events.append($0) }
        let (expected, _) = Self.sequential(report)
        #expect(events == expected)
        #expect(events.count == 1)
        #expect(events.first?.address == IOVA(0xdead_b000))
        // The first block joins at its first line, the second after the report.
        #expect(parser.splices == 2)
    }

    /// A block with no line where a fresh parser could take over (one record wrapped over every
    /// line) is read again by the parser before it: counted, and still the same result.
    @Test func aBlockWithNoSplicePointIsReadAgain() {
        let head = "[    5.000000] " + String(repeating: "wrapped text ", count: 6)
        let lines = ([head] + (0..<200).map { _ in String(repeating: "continued text ", count: 5) }).map {
            Array($0.utf8)
        }
        let parser = Self.expectSame(lines, seed: 9, maximum: 20, width: 2)
        #expect(parser.fallbacks > 0)
    }

    /// Block mode and read mode give the lines line mode gives, however the input is chunked
    /// or read: CR-only line ends, UTF-16, a line cut at the overlong limit.
    @Test func blocksHoldTheLinesLineModeGives() {
        var random = SplitMix64(seed: 3)
        let overlong = [UInt8](repeating: 0x61, count: LineSplitter.maximumLineBytes + 10)
        let inputs: [[UInt8]] = [
            Array("a\nbb\n\nccc\nlast".utf8),
            Array("one\rtwo\rthree\r".utf8),
            [0xFF, 0xFE] + Array("x\ny\n".utf8).flatMap { [$0, 0] },
            Array("short\n".utf8) + overlong + Array("\nafter\n".utf8),
            // Past the encoding's sniffing: read mode reads into the blocks from then on.
            Array(
                (0..<3_000).map { "line \($0) " + String(repeating: "x", count: $0 % 97) }.joined(separator: "\n").utf8),
        ]
        for input in inputs {
            for _ in 0..<4 {
                var chunks: [[UInt8]] = []
                var index = 0
                while index < input.count {
                    let size = 1 + Int(random.next() % 7) * (input.count > 1000 ? 100_000 : 1)
                    chunks.append(Array(input[index..<min(input.count, index + size)]))
                    index += size
                }
                var lineMode = LineSplitter()
                var blockMode = LineSplitter()
                var expected: [[UInt8]] = []
                var lines: [[UInt8]] = []
                for chunk in chunks {
                    lineMode.feed(chunk) { expected.append(Array($0)) }
                    blockMode.feedBlocks(chunk, { $0.forEachLine { lines.append(Array($0)) } })
                }
                lineMode.finish { expected.append(Array($0)) }
                blockMode.finishBlocks({ $0.forEachLine { lines.append(Array($0)) } })
                #expect(lines == expected)
                #expect(blockMode.overlongLines == lineMode.overlongLines)
                // Read mode: the same input read into the blocks' own storage, in reads that
                // stop at random places and fill at most the buffer they are given.
                var readMode = LineSplitter()
                var readLines: [[UInt8]] = []
                var offset = 0
                let chunkSize = 1 + Int(random.next() % 9) * (input.count > 1000 ? 200_000 : 1)
                readMode.readBlocks(
                    chunkSize: chunkSize,
                    read: { buffer in
                        let count = min(buffer.count, input.count - offset, 1 + Int(random.next() % UInt64(chunkSize)))
                        guard count > 0 else { return 0 }
                        buffer.copyBytes(from: input[offset..<(offset + count)])
                        offset += count
                        return count
                    },
                    { block in
                        let before = readLines.count
                        block.forEachLine { readLines.append(Array($0)) }
                        #expect(block.lineCount == readLines.count - before)
                    })
                #expect(readLines == expected)
                #expect(readMode.overlongLines == lineMode.overlongLines)
                #expect(readMode.conversions == lineMode.conversions)
            }
        }
    }
}
