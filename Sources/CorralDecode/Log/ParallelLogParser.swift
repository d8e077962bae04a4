import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `KernelLogParser` over several cores, with exactly its results: the same events in the same
/// order, the same statistics.
///
/// Blocks of whole lines (`LineSplitter.feedBlocks(_:_:)`) are taken `width` at a time, and
/// each block is parsed on its own core by a fresh parser that starts at the block's first
/// line, as if nothing came before it. That guess is wrong where a record or a multi-line
/// report straddles the boundary, so it is checked, in input order, on the caller's thread:
/// the parser that read everything before the block goes on into it line by line until both
/// parsers are in the same state at the same line (`KernelLogParser.spliceKey`: no open event,
/// nothing pending but the line itself). From there the block parser's events and counts are
/// taken; before it, the continuing parser's. A block where that never happens within its
/// first `splicePoints` candidate lines is read again by the continuing parser alone
/// (`fallbacks`): slower, never different.
///
/// While the caller takes the events of one batch (the engine, in `corral replay`), the next
/// batch is being parsed: at most `batchesInFlight` batches are held, so memory stays bounded.
public struct ParallelLogParser {
    public let width: Int
    /// Candidate splice points a block parser records (at the first lines where it is idle).
    static let splicePoints = 64
    static let batchesInFlight = 2

    /// The parser that read everything up to the batches still in flight.
    private var parser: KernelLogParser
    private var waiting: [LineBlock] = []
    private var inFlight: [Batch] = []
    /// Lines in every block handed to a batch so far.
    private var submittedLines = 0
    /// One serial queue per block of a batch. Serial queues run on libdispatch's overcommit
    /// threads, which it starts whenever work is waiting; a concurrent queue shares the pool
    /// sized to the processors, where the caller itself may sit (an `async` command's task runs
    /// on that pool): on 2 cores its blocks were then parsed one after the other.
    private let lanes: [DispatchQueue]
    /// Blocks joined to what came before them at a splice point, and blocks read again.
    public private(set) var splices = 0
    public private(set) var fallbacks = 0

    /// `width` is how many blocks are parsed at once (default: the processors online, at most
    /// 8); with 1, blocks are parsed in order on the caller's thread, with no splice.
    public init(format: LogFormat? = nil, pasted: Bool = false, width: Int? = nil) {
        self.width = max(1, width ?? Self.processors)
        parser = KernelLogParser(format: format, pasted: pasted)
        lanes = (0..<self.width).map { DispatchQueue(label: "corral.log-parser.\($0)") }
    }

    static var processors: Int {
        min(8, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// Everything counted so far (complete after `finish`).
    public var statistics: LogStatistics { parser.statistics }

    /// Adds a block; events come out, in line order, once the batch holding it is joined.
    public mutating func add(_ block: LineBlock, emit: (LogEvent) -> Void) {
        guard width > 1 else {
            parser.expect(block.hints)
            block.forEachLine { line in parser.add(line: line, emit: emit) }
            parser.expect(nil)
            return
        }
        waiting.append(block)
        if waiting.count >= width { submit() }
        while inFlight.count >= Self.batchesInFlight { join(emit) }
    }

    /// Ends the input: what is left is parsed and the last record and open event completed.
    public mutating func finish(emit: (LogEvent) -> Void) {
        if !waiting.isEmpty { submit() }
        while !inFlight.isEmpty { join(emit) }
        parser.finish(emit: emit)
    }

    /// Starts parsing the waiting blocks, one work item per block.
    private mutating func submit() {
        let batch = Batch(blocks: waiting)
        waiting.removeAll(keepingCapacity: true)
        for index in batch.blocks.indices {
            // Its parser numbers lines as the whole input does, and starts from the lasting
            // state known now (quoted-printable or not): a wrong guess only costs a re-read.
            batch.parts[index] = BlockPart(parser: parser.startingAfresh(after: submittedLines))
            submittedLines += batch.blocks[index].lineCount
        }
        for index in batch.blocks.indices {
            lanes[index].async(group: batch.group) { batch.parts[index]!.parse(batch.blocks[index]) }
        }
        inFlight.append(batch)
    }

    /// Waits for the oldest batch and joins its blocks, in order, to what came before.
    private mutating func join(_ emit: (LogEvent) -> Void) {
        let batch = inFlight.removeFirst()
        batch.group.wait()
        for index in batch.blocks.indices {
            splice(batch.blocks[index], batch.parts[index]!, emit)
        }
    }

    /// A block parsed by a parser of its own, with the points where it could take over.
    struct BlockPart {
        var parser: KernelLogParser
        var events: [LogEvent] = []
        var points: [(key: KernelLogParser.SpliceKey, events: Int, counts: KernelLogParser.Counts)] = []
        /// The block's hints, found once by the worker, used again by the splice.
        var hints: LineBlock.Hints?

        init(parser: KernelLogParser) {
            self.parser = parser
            // Every example kept: a splice must lose none the whole-input parser would keep.
            self.parser.exampleLimit = .max
        }

        mutating func parse(_ block: LineBlock) {
            let hints = block.hints
            self.hints = hints
            parser.expect(hints)
            defer { parser.expect(nil) }
            block.forEachLine { line in
                parser.add(line: line) { events.append($0) }
                if points.count < ParallelLogParser.splicePoints, let key = parser.spliceKey {
                    points.append((key, events.count, parser.counts))
                }
            }
        }
    }

    /// Feeds `block` to the continuing parser until it reaches one of `part`'s splice points in
    /// the same state, then takes `part`'s events and counts from there on.
    private mutating func splice(_ block: LineBlock, _ part: BlockPart, _ emit: (LogEvent) -> Void) {
        var next = 0
        var joined: Int?
        parser.expect(part.hints)
        defer { parser.expect(nil) }
        block.eachLine(while: { line in
            parser.add(line: line, emit: emit)
            while next < part.points.count, part.points[next].key.line < parser.linesFed { next += 1 }
            if next < part.points.count, let key = parser.spliceKey, key == part.points[next].key {
                joined = next
                return false
            }
            return true
        })
        guard let joined else {
            fallbacks += 1
            return
        }
        splices += 1
        let point = part.points[joined]
        for event in part.events[point.events...] { emit(event) }
        var taken = part.parser
        taken.rebase(onto: parser.counts, since: point.counts)
        taken.exampleLimit = parser.exampleLimit
        parser = taken
    }
}

/// One batch of blocks in flight: work item `i` writes only `parts[i]` (memory allocated
/// before any starts, so no array is mutated from two threads); the caller reads them after
/// `group.wait()`.
private final class Batch: @unchecked Sendable {
    let blocks: [LineBlock]
    let parts: UnsafeMutableBufferPointer<ParallelLogParser.BlockPart?>
    let group = DispatchGroup()

    init(blocks: [LineBlock]) {
        self.blocks = blocks
        parts = .allocate(capacity: blocks.count)
        parts.initialize(repeating: nil)
    }

    deinit {
        parts.deinitialize()
        parts.deallocate()
    }
}
