#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Splits a byte stream into lines without holding more than one chunk and one partial line.
///
/// The bytes first go through a `TextTranscoder` (UTF-16 and byte-order marks, as Windows tools
/// save logs). Lines end at LF (a CR before it is dropped later, by `LinePrefix`); a stream whose
/// first text has CRs and no LF at all (classic Mac line ends, some serial-console captures) is
/// split at CR instead, rather than read as one line.
///
/// A "line" longer than `maximumLineBytes` (a binary file, a log with no newlines) is cut into
/// pieces of that size and counted in `overlongLines`: memory stays bounded whatever the input.
public struct LineSplitter {
    public static let maximumLineBytes = 1 << 20

    private var carry: [UInt8] = []
    public private(set) var overlongLines = 0
    public private(set) var transcoder = TextTranscoder()
    /// The byte lines end at: LF, or CR for a stream that has no LF (decided on its first text).
    public private(set) var lineEnd: UInt8?

    public init() {}

    /// What was done to the input to read it, for the report ("UTF-16LE converted to UTF-8",
    /// "lines end in CR"); nil for plain UTF-8 text with LF line ends.
    public var conversions: [String] {
        var out: [String] = []
        if let encoding = transcoder.encoding, encoding != .utf8 {
            out.append(
                encoding == .utf8WithBOM ? "UTF-8 byte-order mark dropped" : "\(encoding.rawValue) converted to UTF-8")
        }
        if transcoder.invalidUnits > 0 { out.append("\(transcoder.invalidUnits) invalid UTF-16 code units replaced") }
        if lineEnd == 0x0D { out.append("lines end in CR (no LF in the file)") }
        return out
    }

    /// Feeds the next chunk; `line` gets every line completed by it (without the line end), a
    /// view valid during that call only.
    public mutating func feed(_ chunk: [UInt8], _ line: (ByteText) -> Void) {
        let text = transcoder.feed(chunk)
        split(text, line)
    }

    private mutating func split(_ chunk: [UInt8], _ line: (ByteText) -> Void) {
        guard !chunk.isEmpty else { return }
        if lineEnd == nil { lineEnd = !chunk.contains(0x0A) && chunk.contains(0x0D) ? 0x0D : 0x0A }
        let separator = lineEnd ?? 0x0A
        var start = 0
        let end = chunk.count
        while start < end {
            guard let newline = chunk[start..<end].firstIndex(of: separator) else {
                carry.append(contentsOf: chunk[start..<end])
                if carry.count >= Self.maximumLineBytes {
                    overlongLines += 1
                    carry.withByteText(line)
                    carry.removeAll(keepingCapacity: true)
                }
                return
            }
            if carry.isEmpty {
                chunk[start..<newline].withByteText(line)
            } else {
                carry.append(contentsOf: chunk[start..<newline])
                carry.withByteText(line)
                carry.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
    }

    /// Ends the stream: a last line without a line end is still a line.
    public mutating func finish(_ line: (ByteText) -> Void) {
        split(transcoder.finish(), line)
        if !carry.isEmpty {
            carry.withByteText(line)
            carry.removeAll()
        }
    }

    // MARK: - Blocks of whole lines

    /// Feeds the next chunk; `block` gets the text of every line completed by it at once (one
    /// array, line ends included), for a parser that splits it itself (`LineBlock`): the lines
    /// are exactly those `feed(_:_:)` gives, without one slice per line.
    public mutating func feedBlocks(_ chunk: [UInt8], _ block: (LineBlock) -> Void) {
        splitBlock(transcoder.feed(chunk), block)
    }

    /// Ends the stream in block mode: a last line without a line end is a block of its own.
    public mutating func finishBlocks(_ block: (LineBlock) -> Void) {
        splitBlock(transcoder.finish(), block)
        if !carry.isEmpty {
            block(LineBlock(text: carry, separator: lineEnd ?? 0x0A))
            carry.removeAll()
        }
    }

    /// Reads the whole input through `read` and gives the blocks `feedBlocks(_:_:)` and
    /// `finishBlocks(_:)` would, without copying the text: once the input reads as UTF-8, each
    /// read goes straight into the next block's own storage, after the partial line the last
    /// one left, and nothing is zeroed first. `read` fills (part of) the buffer it is given
    /// and returns how many bytes it wrote: 0 at the end of the input.
    ///
    /// (Reading into a fresh zeroed array and copying it into a block took about a third of
    /// the reading thread of a replay: `benchmarks/ANALYSIS.md` §2.)
    public mutating func readBlocks(
        chunkSize: Int, read: (UnsafeMutableRawBufferPointer) throws -> Int, _ block: (LineBlock) -> Void
    ) rethrows {
        let chunkSize = max(1, chunkSize)
        while true {
            guard let separator = lineEnd, let encoding = transcoder.encoding, !encoding.isUTF16 else {
                // Until the encoding and the line end are known (UTF-16 throughout).
                let chunk = try [UInt8](unsafeUninitializedCapacity: chunkSize) { buffer, initialized in
                    initialized = try read(UnsafeMutableRawBufferPointer(buffer))
                }
                guard !chunk.isEmpty else { break }
                feedBlocks(chunk, block)
                continue
            }
            let carried = carry.count
            var text = try [UInt8](unsafeUninitializedCapacity: carried + chunkSize) { buffer, initialized in
                _ = buffer.initialize(fromContentsOf: carry)
                initialized = carried
                initialized += try read(
                    UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[carried...])))
            }
            guard text.count > carried else { break }
            // The carried partial line has no separator: the text's last one ends the block.
            guard let last = text.lastIndex(of: separator) else {
                carry = text
                cutOverlongCarry(separator, block)
                continue
            }
            carry.removeAll(keepingCapacity: true)
            carry.append(contentsOf: text[(last + 1)...])
            text.removeLast(text.count - last - 1)
            block(LineBlock(text: text, separator: separator))
            cutOverlongCarry(separator, block)
        }
        finishBlocks(block)
    }

    /// A partial line that reached `maximumLineBytes` is given as a piece of its own.
    private mutating func cutOverlongCarry(_ separator: UInt8, _ block: (LineBlock) -> Void) {
        guard carry.count >= Self.maximumLineBytes else { return }
        overlongLines += 1
        block(LineBlock(text: carry, separator: separator, unterminated: true))
        carry.removeAll(keepingCapacity: true)
    }

    private mutating func splitBlock(_ chunk: [UInt8], _ block: (LineBlock) -> Void) {
        guard !chunk.isEmpty else { return }
        if lineEnd == nil { lineEnd = !chunk.contains(0x0A) && chunk.contains(0x0D) ? 0x0D : 0x0A }
        let separator = lineEnd ?? 0x0A
        guard let last = chunk.lastIndex(of: separator) else {
            carry.append(contentsOf: chunk)
            cutOverlongCarry(separator, block)
            return
        }
        var text: [UInt8]
        if carry.isEmpty {
            text = last == chunk.count - 1 ? chunk : Array(chunk[...last])
        } else {
            text = carry
            text.append(contentsOf: chunk[...last])
            carry.removeAll(keepingCapacity: true)
        }
        block(LineBlock(text: text, separator: separator))
        if last + 1 < chunk.count {
            carry.append(contentsOf: chunk[(last + 1)...])
            cutOverlongCarry(separator, block)
        }
    }
}

/// Whole lines of text in one array: every line ends with `separator`, except a last piece
/// without one (the end of the input, or a line cut at `LineSplitter.maximumLineBytes`).
public struct LineBlock: Sendable {
    public var text: [UInt8]
    public var separator: UInt8
    /// The whole block is one line with no separator in it (an overlong piece, cut).
    public var unterminated = false

    public init(text: [UInt8], separator: UInt8 = 0x0A, unterminated: Bool = false) {
        self.text = text
        self.separator = separator
        self.unterminated = unterminated
    }

    /// Calls `line` for each line, without its separator (a view valid during that call).
    public func forEachLine(_ line: (ByteText) -> Void) {
        eachLine(while: { text in
            line(text)
            return true
        })
    }

    /// Calls `line` for each line until it returns false.
    func eachLine(while line: (ByteText) -> Bool) {
        if unterminated {
            _ = text.withByteText(line)
            return
        }
        text.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = 0
            let count = buffer.count
            while start < count {
                guard let found = memchr(base + start, Int32(separator), count - start) else {
                    _ = line(ByteText(base: base, range: start..<count))
                    return
                }
                let end = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                guard line(ByteText(base: base, range: start..<end)) else { return }
                start = end + 1
            }
        }
    }

    /// Whether the block holds what only some logs have, each searched for once in the whole
    /// block rather than in each of its lines: an escape byte (`dmesg --color` captures) and a
    /// quoted-printable `=3D` (mailed logs).
    public struct Hints: Sendable {
        public var escapeByte: Bool
        public var quotedPrintableEscape: Bool
    }

    public var hints: Hints {
        text.withByteText { text in
            Hints(escapeByte: text.contains(byte: 0x1B), quotedPrintableEscape: text.containsInLongText("=3D"))
        }
    }

    /// How many lines `forEachLine` gives.
    public var lineCount: Int {
        if unterminated { return text.isEmpty ? 0 : 1 }
        return text.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return 0 }
            var lines = 0
            var start = 0
            let count = buffer.count
            while start < count {
                guard let found = memchr(base + start, Int32(separator), count - start) else { return lines + 1 }
                lines += 1
                start = base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
            }
            return lines
        }
    }
}
