import CorralCore

/// Parses kernel logs into `LogEvent`s, one physical line at a time, in bounded memory.
///
/// Lines become records (`RecordAssembler`: prefixes, wraps, quoted-printable), records become
/// events (`LogEventFamily`s; a multi-line report is one event). Events come out in the order
/// of their first line. Every record is accounted for in `statistics`: part of an event, a known
/// message without an event, a family's message with unreadable fields (malformed), or skipped.
public struct KernelLogParser {

    public private(set) var statistics = LogStatistics()
    private var assembler: RecordAssembler
    private var open: OpenEvent? { didSet { hasOpen = open != nil } }
    /// Whether an event is open, asked first: reading `open` itself copied the whole optional
    /// (≈ 300 bytes) for every record, most of which find none open.
    private var hasOpen = false
    /// The open event's emitter, copied: the record it came from lasts only until the next line.
    private var emitterStore = TextStorage(capacity: 128)
    private var context = FamilyContext(line: 0)
    private var lineNumber = 0

    /// Whether to read the text as pasted into a bug report (off by default): several dmesg
    /// lines joined into one are split apart, and a kernel line inside prose is looked for.
    public let pasted: Bool

    /// `format` forces one line format instead of detecting it per line. `pasted` undoes what
    /// forum software and people do to a log (`decode --pasted`). Off by default because what
    /// it looks for is also what a device could put in its own strings: a USB product string
    /// holding `[    5.100000] DMAR: [DMA Write] ...` must not read as a fault
    /// (`KernelFormatAnchorTests`). The daemon reads `/dev/kmsg` records, never with it.
    public init(format: LogFormat? = nil, pasted: Bool = false) {
        assembler = RecordAssembler(forced: format)
        self.pasted = pasted
    }

    /// A parser for the same input that starts at line `after + 1`, as if nothing but this
    /// parser's lasting state came before (`ParallelLogParser` parses a block this way, then
    /// checks that guess): the same settings, whether the text is quoted-printable and the last
    /// `nobody cared` IRQ; no pending record, no open event, no counts.
    func startingAfresh(after line: Int) -> KernelLogParser {
        var fresh = KernelLogParser(format: assembler.forced, pasted: pasted)
        fresh.lineNumber = line
        fresh.assembler.quotedPrintable = assembler.quotedPrintable
        fresh.context.lastNobodyCared = context.lastNobodyCared
        return fresh
    }

    /// Lines fed so far (the number of the last one).
    var linesFed: Int { lineNumber }

    /// What must be equal for this parser to go on exactly as another one would from here: nil
    /// unless it holds nothing but the record of the line just fed (no open event, no record
    /// joined from several lines). Two parsers with equal keys at the same line produce the
    /// same events and counts from then on (`ParallelLogParser`'s splice).
    var spliceKey: SpliceKey? {
        guard !hasOpen, let assembly = assembler.spliceKey(line: lineNumber) else { return nil }
        return SpliceKey(line: lineNumber, assembly: assembly, lastNobodyCared: context.lastNobodyCared)
    }

    struct SpliceKey: Equatable {
        var line: Int
        var assembly: RecordAssembler.SpliceKey
        var lastNobodyCared: UInt32?
    }

    /// Statistics and assembler counts taken at a splice point, to add what came after it to
    /// another parser's.
    struct Counts {
        var statistics: LogStatistics
        var joinedLines: Int
        var dictionaryLines: Int
    }

    var counts: Counts {
        Counts(
            statistics: statistics, joinedLines: assembler.joinedLines, dictionaryLines: assembler.dictionaryLines)
    }

    /// Takes over the counts of `earlier` (a parser that read everything before this one's
    /// splice point) plus what this one counted after `point`.
    mutating func rebase(onto earlier: Counts, since point: Counts) {
        var merged = earlier.statistics
        merged.add(statistics, since: point.statistics)
        statistics = merged
        assembler.rebaseCounts(
            joined: earlier.joinedLines + assembler.joinedLines - point.joinedLines,
            dictionary: earlier.dictionaryLines + assembler.dictionaryLines - point.dictionaryLines)
    }

    /// How many examples (malformed records, unrecognized lines) the statistics keep: a block
    /// parser keeps them all, so that a splice loses none the whole-input parser would keep.
    var exampleLimit: Int {
        get { statistics.exampleLimit }
        set {
            statistics.exampleLimit = newValue
            statistics.trimExamples()
        }
    }

    /// What is known of the lines about to be fed (a block's `LineBlock.Hints`, searched for
    /// once instead of in every line); nil when nothing is (each line is searched).
    mutating func expect(_ hints: LineBlock.Hints?) { assembler.expect(hints) }

    /// Feeds one physical line (without its newline).
    public mutating func add(line: ByteText, emit: (LogEvent) -> Void) {
        lineNumber += 1
        statistics.lines += 1
        statistics.bytes += line.count + 1
        // Forum software and copy-paste join dmesg lines into one: when asked, each `[ s.us]`
        // stamp after the first starts a line of its own (all numbered as the physical line).
        var rest = line
        while pasted, let next = Self.joinedStamp(in: rest) {
            statistics.splitJoinedLines += 1
            if let record = assembler.add(rest[rest.startIndex..<next], line: lineNumber) { handle(record, emit: emit) }
            rest = rest[next...]
        }
        if let record = assembler.add(rest, line: lineNumber) { handle(record, emit: emit) }
    }

    /// Where a second dmesg stamp starts inside a line that begins with one, after a blank; nil
    /// when there is none. The stamp must be the kernel's own `[%5lu.%06lu]` (seconds padded to
    /// five places, six fractional digits): with the line's own leading stamp, that keeps a
    /// bracketed number in a message (`[ 12.3]`, `[1.000000]`) from splitting it.
    static func joinedStamp(in line: ByteText) -> Int? {
        // Every line passes here: look only at each `]` after the first, and only where the
        // seven bytes before it read `.dddddd` (a fault line's `]`s fail at the first byte).
        guard line.count > 30, line.first == 0x5B, let firstClose = line.firstIndex(of: 0x5D) else { return nil }
        var index = firstClose + 1
        while index < line.endIndex, let close = line[index...].firstIndex(of: 0x5D) {
            index = close + 1
            guard close - firstClose > 9, line[close - 7] == 0x2E, line[close - 8].isDigit,
                line[(close - 6)..<close].allSatisfy(\.isDigit)
            else { continue }
            var open = close - 8
            while open > firstClose, line[open].isDigit { open -= 1 }
            while open > firstClose, line[open].isBlank { open -= 1 }
            guard open > firstClose, line[open] == 0x5B, line[open - 1].isBlank, (close - 7) - (open + 1) >= 5,
                LinePrefix.dmesgStamp(line) != nil
            else { continue }
            return open
        }
        return nil
    }

    /// Convenience for tests and small inputs.
    public mutating func add(line: String, emit: (LogEvent) -> Void) {
        Array(line.utf8).withByteText { add(line: $0, emit: emit) }
    }

    /// Ends the input: the last record and any open event are completed.
    public mutating func finish(emit: (LogEvent) -> Void) {
        if let record = assembler.finish() { handle(record, emit: emit) }
        close(emit)
        statistics.joinedLines = assembler.joinedLines
        statistics.dictionaryLines = assembler.dictionaryLines
    }

    /// Parses a whole text (tests, small files).
    public static func parse(_ text: String, format: LogFormat? = nil, pasted: Bool = false)
        -> ([LogEvent], LogStatistics)
    {
        var parser = KernelLogParser(format: format, pasted: pasted)
        var events: [LogEvent] = []
        var lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false)
        // The final newline ends the last line; it does not start another.
        if text.utf8.last == 0x0A { lines.removeLast() }
        for line in lines {
            Array(line).withByteText { parser.add(line: $0) { events.append($0) } }
        }
        parser.finish { events.append($0) }
        return (events, parser.statistics)
    }

    private mutating func handle(_ record: LogRecord, emit: (LogEvent) -> Void) {
        statistics.records += 1
        if record.repaired { statistics.repairedRecords += 1 }
        statistics.formatCounts[record.format.index] += 1
        guard record.fromKernel else {
            statistics.nonKernel += 1
            close(emit)
            return
        }
        let message = KernelMessage(record.message)
        if hasOpen, var current = open {
            if current.family.absorb(message, into: &current) {
                current.event.lastLine = record.lastLine
                open = current
                statistics.recordsInEvents += 1
                return
            }
            // A wrongly joined record: its first line may still continue the event.
            if let head = record.head, current.family.absorb(KernelMessage(head), into: &current) {
                current.event.lastLine = record.firstLine
                open = current
                statistics.recordsInEvents += 1
                statistics.skipped += 1
                return
            }
            close(emit)
        }
        context.line = record.firstLine
        context.time = record.time
        if recognize(message, record, emit) { return }
        // A pasted line with prose around it ("I see this: DMAR: [DMA Write] ... any ideas?"):
        // when asked (`pasted`), and only in plain text, never in a prefixed log or /dev/kmsg, where a
        // kernel format must start the message (docs/safety.md, "kernel records only").
        if pasted, record.format == .bare, let inner = Self.pastedMessage(in: record.message),
            recognize(KernelMessage(inner), record, emit)
        {
            statistics.foundInProse += 1
            return
        }
        statistics.skipped += 1
        if Self.fromAFaultReporter(message) { statistics.note(unrecognized: record.firstLine) }
    }

    /// Asks every family about `message`, cheap and common first; false when none took it.
    ///
    /// Each family is asked through a generic call rather than through the array of metatypes:
    /// its gate becomes a direct call the compiler inlines, where it shares what it reads of the
    /// message with the other gates (a line no family takes asks all fifteen).
    private mutating func recognize(_ message: KernelMessage, _ record: LogRecord, _ emit: (LogEvent) -> Void)
        -> Bool
    {
        if ask(VTdLog.self, message, record, emit) { return true }
        if ask(AMDViLog.self, message, record, emit) { return true }
        if ask(SMMUv3Log.self, message, record, emit) { return true }
        if ask(SMMUv2Log.self, message, record, emit) { return true }
        if ask(AERLog.self, message, record, emit) { return true }
        if ask(DPCLog.self, message, record, emit) { return true }
        if ask(HotplugLog.self, message, record, emit) { return true }
        if ask(DeviceLostLog.self, message, record, emit) { return true }
        if ask(IRQStormLog.self, message, record, emit) { return true }
        if ask(RateLimitLog.self, message, record, emit) { return true }
        if ask(RISCVIOMMULog.self, message, record, emit) { return true }
        if ask(MediaTekIOMMULog.self, message, record, emit) { return true }
        if ask(IPMMULog.self, message, record, emit) { return true }
        if ask(RockchipIOMMULog.self, message, record, emit) { return true }
        return ask(AppleDARTLog.self, message, record, emit)
    }

    /// Asks one family; false when it does not take `message`.
    @inline(__always)
    private mutating func ask<Family: LogEventFamily>(
        _ family: Family.Type, _ message: KernelMessage, _ record: LogRecord, _ emit: (LogEvent) -> Void
    ) -> Bool {
        guard family.mayTake(message) else {
            assert(Self.refusedRightly(family, message, context), "\(family).mayTake refused a message it takes")
            return false
        }
        switch family.recognize(message, &context) {
        case .notMine:
            return false
        case .noEvent:
            statistics.knownWithoutEvent += 1
        case .malformed(let why):
            statistics.note(malformed: why, line: record.firstLine)
        case .event(var event, let continuation):
            event.lastLine = record.lastLine
            statistics.recordsInEvents += 1
            if let continuation {
                let emitter = TextStorage.unique(&emitterStore)
                emitter.set(message.text)
                open = OpenEvent(
                    event: event, continuation: continuation, family: family, emitter: KernelMessage(emitter.text),
                    needsBody: { if case .amdBody = continuation { true } else { false } }())
            } else {
                deliver(event, emit)
            }
        }
        return true
    }

    /// Whether `family` really takes nothing of `message` (the debug check of `mayTake`).
    static func refusedRightly(_ family: any LogEventFamily.Type, _ message: KernelMessage, _ context: FamilyContext)
        -> Bool
    {
        var scratch = context
        if case .notMine = family.recognize(message, &scratch) { return true }
        return false
    }

    /// Where a kernel message starts inside prose: after a blank, one of the prefixes fault
    /// reports begin with. Nil when the text holds none.
    static func pastedMessage(in text: ByteText) -> ByteText? {
        for anchor in Pattern.proseAnchors {
            var from = text.startIndex + 1
            while let at = text.find(anchor, from: from) {
                if text[at - 1].isBlank { return text[at...] }
                from = at + 1
            }
        }
        return nil
    }

    /// Whether a record no family took was printed by something that reports faults (an IOMMU
    /// driver, DMAR/AMD-Vi, AER, DPC, pciehp): a format Corral does not know yet, which the
    /// report shows instead of passing over it in silence. Prefix checks only: noise stays cheap.
    static func fromAFaultReporter(_ message: KernelMessage) -> Bool {
        let text = message.text
        if text.starts(with: Pattern.dmar) || text.starts(with: Pattern.amdVi) { return true }
        if let driver = message.driver {
            for fragment in Pattern.faultReporterDrivers where driver.contains(fragment) { return true }
        }
        let body = message.body
        return body.starts(with: Pattern.aer) || body.starts(with: Pattern.dpc)
    }

    private mutating func close(_ emit: (LogEvent) -> Void) {
        guard hasOpen, let current = open else { return }
        open = nil
        if current.needsBody {
            statistics.note(malformed: "AMD-Vi 'Event logged [' with no event after it", line: current.event.line)
            return
        }
        if case .vtdReason = current.continuation, current.event.reason == nil {
            // The head of the old two-line form without its `[fault reason NN]` line: a fault
            // of the device it names (the reason is unknown), and a malformed record.
            statistics.note(malformed: "VT-d fault head without its '[fault reason' line", line: current.event.line)
        }
        deliver(current.event, emit)
    }

    private mutating func deliver(_ event: LogEvent, _ emit: (LogEvent) -> Void) {
        statistics.eventCounts.add(event.kind)
        if event.kind == .suppressed, let count = event.count { statistics.suppressedMessages &+= count }
        emit(event)
    }
}

/// Where every line of a log went.
public struct LogStatistics: Sendable {
    public var lines = 0
    public var bytes = 0
    /// Logical records (after joining wrapped lines).
    public var records = 0
    /// Records that were events or parts of one.
    public var recordsInEvents = 0
    /// Records a family knows that carry no event (`DRHD: handling fault status reg 2`).
    public var knownWithoutEvent = 0
    /// Records that are not device events (boot messages, call traces, ...).
    public var skipped = 0
    /// syslog lines from programs other than the kernel.
    public var nonKernel = 0
    /// Records that had to be repaired (wrapped, quoted-printable, quoted).
    public var repairedRecords = 0
    public var joinedLines = 0
    public var dictionaryLines = 0
    /// Lines that held several dmesg lines joined into one (a forum paste), split apart.
    public var splitJoinedLines = 0
    /// Events found inside prose around a pasted kernel line (plain text only).
    public var foundInProse = 0
    /// A family's messages whose fields could not be read.
    public var malformed = 0
    /// The first few malformed records: line and why.
    public var malformedExamples: [(line: Int, why: String)] = []
    /// Events by kind.
    public var events: [LogEvent.Kind: Int] { eventCounts.byKind }
    var eventCounts = EventKindCounts()
    /// Total the kernel said it dropped (`N callbacks suppressed`).
    public var suppressedMessages: UInt64 = 0
    /// Records per line format, indexed by `LogFormat.index` (an array: no hashing per line).
    var formatCounts = [Int](repeating: 0, count: LogFormat.allCases.count)

    /// Records per line format that occurred.
    public var formats: [LogFormat: Int] {
        var out: [LogFormat: Int] = [:]
        for format in LogFormat.allCases where formatCounts[format.index] > 0 {
            out[format] = formatCounts[format.index]
        }
        return out
    }

    /// Records from a fault reporter (an IOMMU driver, AER, DPC) in a format no family knows:
    /// not events, but not silence either (`decode` lists the first lines).
    public var unrecognized = 0
    public var unrecognizedLines: [Int] = []

    /// How many malformed examples are kept (unrecognized lines: half as many).
    var exampleLimit = 20

    mutating func note(unrecognized line: Int) {
        unrecognized += 1
        if unrecognizedLines.count < exampleLimit / 2 { unrecognizedLines.append(line) }
    }

    mutating func note(malformed why: String, line: Int) {
        malformed += 1
        if malformedExamples.count < exampleLimit { malformedExamples.append((line, why)) }
    }

    mutating func trimExamples() {
        if malformedExamples.count > exampleLimit {
            malformedExamples.removeLast(malformedExamples.count - exampleLimit)
        }
        if unrecognizedLines.count > exampleLimit / 2 {
            unrecognizedLines.removeLast(unrecognizedLines.count - exampleLimit / 2)
        }
    }

    /// Adds what `later` counted after `point` (an earlier copy of `later`): the statistics of
    /// one input read as two parts, joined where the second part's parser took over.
    mutating func add(_ later: LogStatistics, since point: LogStatistics) {
        lines += later.lines - point.lines
        bytes += later.bytes - point.bytes
        records += later.records - point.records
        recordsInEvents += later.recordsInEvents - point.recordsInEvents
        knownWithoutEvent += later.knownWithoutEvent - point.knownWithoutEvent
        skipped += later.skipped - point.skipped
        nonKernel += later.nonKernel - point.nonKernel
        repairedRecords += later.repairedRecords - point.repairedRecords
        splitJoinedLines += later.splitJoinedLines - point.splitJoinedLines
        foundInProse += later.foundInProse - point.foundInProse
        malformed += later.malformed - point.malformed
        unrecognized += later.unrecognized - point.unrecognized
        suppressedMessages &+= later.suppressedMessages &- point.suppressedMessages
        eventCounts.add(later.eventCounts, since: point.eventCounts)
        for index in formatCounts.indices {
            formatCounts[index] += later.formatCounts[index] - point.formatCounts[index]
        }
        // Examples in line order: the earlier part's first, then the later part's after the point.
        for example in later.malformedExamples.dropFirst(point.malformedExamples.count)
        where malformedExamples.count < exampleLimit {
            malformedExamples.append(example)
        }
        for line in later.unrecognizedLines.dropFirst(point.unrecognizedLines.count)
        where unrecognizedLines.count < exampleLimit / 2 {
            unrecognizedLines.append(line)
        }
    }

    public var eventCount: Int { eventCounts.total }
}
