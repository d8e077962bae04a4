/// One logical kernel message: a physical line, or several joined back together when a paste
/// wrapped it (e-mail hard wraps, quoted-printable soft breaks, `/dev/kmsg` dictionaries).
///
/// Its texts are views of the assembler's storage, valid until the assembler's next `add`.
public struct LogRecord {
    /// 1-based line where the record starts, and where it ends.
    public var firstLine: Int
    public var lastLine: Int
    /// The message after every prefix.
    public var message: ByteText
    public var time: LogTime?
    public var format: LogFormat
    public var fromKernel: Bool
    /// The record had to be repaired (joined, quoted-printable decoded, or quote-stripped).
    public var repaired: Bool
    /// For a record joined from several lines: the first line's message alone, so an event
    /// that the join spoiled can still take the first line (a heuristic join can be wrong).
    public var head: ByteText? = nil
}

/// Turns physical lines into `LogRecord`s.
///
/// A line without a prefix continues the record before it when the line before it was long
/// enough to have been wrapped (`wrapWidth`) — unless it reads as a kernel message of its own. A line ending in `=` followed by an unprefixed
/// line is a quoted-printable soft break (joined without a space); quoted-printable escapes
/// (`=3D`) are decoded once the text shows it is quoted-printable: `=3D`, the escape of `=` itself,
/// has been seen (`=20` alone is not proof: `device=20:00.0` is a normal AMD-Vi field).
struct RecordAssembler {
    /// Longest record kept; the rest of an endless wrapped line starts new records.
    static let maximumRecordBytes = 64 * 1024
    /// Lines shorter than this were not wrapped by a mailer or a terminal (they wrap at 72–80).
    static let wrapWidth = 56

    var forced: LogFormat?
    private var pending: LogRecord?
    /// The pending record's message, copied out of its line (a line's view lasts only for the
    /// call that gave it), and joined lines after it.
    private var pendingStore = TextStorage()
    /// The message of the record `add` last returned: valid until the next `add`.
    private var completedStore = TextStorage()
    /// A joined record's first line alone (`LogRecord.head`), and a quoted-printable record
    /// decoded.
    private var headStore = TextStorage(capacity: 16)
    private var decodedStore = TextStorage(capacity: 16)
    private var scratch = LineScratch()
    /// The pending record was joined from several lines.
    private var joined = false
    private var softBreak = false
    /// Length of the last physical line, counted across quoted-printable soft breaks.
    private var lastLineLength = 0
    /// Set for good once the text shows it is quoted-printable (`=3D`).
    var quotedPrintable = false
    /// Whether the lines being fed may hold `=3D`: false while a block known to have none is
    /// read (`LineBlock.hints`), so that no line is searched for it.
    private var mayHoldQuotedPrintable = true

    /// What is known of the lines about to be fed (nil: nothing, each line is searched).
    mutating func expect(_ hints: LineBlock.Hints?) {
        mayHoldQuotedPrintable = hints?.quotedPrintableEscape ?? true
        scratch.mayHoldEscapes = hints?.escapeByte ?? true
    }
    private(set) var joinedLines = 0
    private(set) var dictionaryLines = 0

    init(forced: LogFormat? = nil) { self.forced = forced }

    /// Adds a physical line; returns the record it completed, if any (at most one per line).
    mutating func add(_ raw: ByteText, line number: Int) -> LogRecord? {
        if !quotedPrintable, mayHoldQuotedPrintable, raw.contains(Self.qpEquals) { quotedPrintable = true }
        let parsed = LinePrefix.parse(raw, forced: forced, scratch: &scratch)
        var endsWithEquals = false
        if let last = parsed.message.last { endsWithEquals = last == 0x3D }

        if pending != nil {
            if parsed.isDictionary, pending?.format == .kmsg {
                pending?.lastLine = number
                dictionaryLines += 1
                return nil
            }
            let size = pendingStore.count + parsed.message.count
            if !parsed.hasPrefix, size < Self.maximumRecordBytes {
                if softBreak {
                    append(parsed.message, separator: false, line: number)
                    softBreak = endsWithEquals
                    lastLineLength += raw.count
                    return nil
                }
                if lastLineLength >= Self.wrapWidth, !Self.looksLikeOwnMessage(parsed.message) {
                    append(parsed.message, separator: true, line: number)
                    softBreak = endsWithEquals
                    lastLineLength = raw.count
                    return nil
                }
            }
        }
        let completed = flush()
        let store = TextStorage.unique(&pendingStore)
        store.set(parsed.message)
        pending = LogRecord(
            firstLine: number, lastLine: number, message: store.text, time: parsed.time, format: parsed.format,
            fromKernel: parsed.fromKernel, repaired: parsed.quoted)
        joined = false
        softBreak = endsWithEquals
        lastLineLength = raw.count
        return completed
    }

    /// Ends the input: returns the last record.
    mutating func finish() -> LogRecord? {
        flush()
    }

    /// What a splice compares (`KernelLogParser.spliceKey`): the pending record is the one
    /// line `line` alone, so what follows is read the same whatever came before it, given the
    /// same quoted-printable state.
    struct SpliceKey: Equatable {
        var quotedPrintable: Bool
    }

    func spliceKey(line: Int) -> SpliceKey? {
        guard let pending, pending.firstLine == line, pending.lastLine == line, !joined else { return nil }
        return SpliceKey(quotedPrintable: quotedPrintable)
    }

    mutating func rebaseCounts(joined: Int, dictionary: Int) {
        joinedLines = joined
        dictionaryLines = dictionary
    }

    private mutating func append(_ text: ByteText, separator: Bool, line: Int) {
        guard var record = pending.take() else { return }
        if record.head == nil {
            let head = TextStorage.unique(&headStore)
            head.set(record.message)
            record.head = head.text
        }
        let bytes = TextStorage.unique(&pendingStore, keepingBytes: true)
        if !separator {
            if bytes.last == 0x3D { bytes.removeLast() }
        } else if let last = bytes.last, !last.isBlank, !text.isEmpty {
            bytes.append(0x20)
        }
        bytes.append(text)
        record.message = bytes.text
        record.lastLine = line
        record.repaired = true
        joined = true
        pending = record
        joinedLines += 1
    }

    private mutating func flush() -> LogRecord? {
        // Taken out, not copied: a copy counted a reference to each of its slices.
        guard var record = pending.take() else { return nil }
        // Its message stays where it is, now the completed record's storage; the next pending
        // record goes into the other one.
        swap(&pendingStore, &completedStore)
        if quotedPrintable, record.message.contains(Self.equals) {
            record.message = Self.decodeQuotedPrintable(record.message, into: TextStorage.unique(&decodedStore))
            record.repaired = true
        }
        pending = nil
        joined = false
        softBreak = false
        return record
    }

    /// Whether an unprefixed line is a kernel message in its own right rather than the tail of a
    /// wrapped one: it names a device the way dev_printk does, or carries a subsystem prefix.
    static func looksLikeOwnMessage(_ text: ByteText) -> Bool {
        for anchor in ownMessageAnchors where text.starts(with: anchor) { return true }
        // A separator a script or a person put between pastes (`=====`, `-----`, `#####`).
        if text.count >= 3, let first = text.first, first == 0x3D || first == 0x2D || first == 0x23 || first == 0x2A,
            text.prefix(3).allSatisfy({ $0 == first })
        {
            return true
        }
        let (first, afterFirst) = text.token(at: text.startIndex)
        guard first.count >= 2, first.count <= 32 else { return false }
        let name = first.last == 0x3A ? first.dropLast() : first
        guard name.allSatisfy({ $0.isLetter || $0.isDigit || $0 == 0x2D || $0 == 0x5F }) else { return false }
        // `subsystem: ...` (pr_fmt) or `driver device: ...` (dev_printk).
        if first.last == 0x3A { return true }
        let (second, _) = text.token(at: text.skippingBlanks(from: afterFirst))
        return second.count >= 2 && second.last == 0x3A
    }

    /// How the messages the families read begin when printed without a device prefix: such a
    /// line is never taken for the tail of the line before it.
    private static let ownMessageAnchors: [StaticString] = [
        "DMAR", "dmar", "AMD-Vi", "arm-smmu", "irq ", "pcieport", "pciehp", "AER", "DPC", "iommu", "Disabling IRQ",
        "Unhandled context fault", "Unexpected global fault", "Blocked unknown Stream ID", "PCIe Bus Error", "event 0x",
        "event: ", "EVTQ", "PRIQ", "nvme", "Event logged", "Call Trace", "handlers:",
    ]

    private static let qpEquals: StaticString = "=3D"
    private static let equals: StaticString = "="

    /// Decodes `=XX` escapes (uppercase hex, RFC 2045 §6.7); anything else is kept as is.
    static func decodeQuotedPrintable(_ text: ByteText, into storage: TextStorage) -> ByteText {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == 0x3D, index + 2 < text.endIndex, let high = text[index + 1].hexValue,
                let low = text[index + 2].hexValue, !text[index + 1].isLower, !text[index + 2].isLower
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        storage.set(out)
        return storage.text
    }
}
