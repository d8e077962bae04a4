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

    /// Feeds the next chunk; `line` gets every line completed by it (without the line end).
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
                    line(carry[...])
                    carry.removeAll(keepingCapacity: true)
                }
                return
            }
            if carry.isEmpty {
                line(chunk[start..<newline])
            } else {
                carry.append(contentsOf: chunk[start..<newline])
                line(carry[...])
                carry.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
    }

    /// Ends the stream: a last line without a line end is still a line.
    public mutating func finish(_ line: (ByteText) -> Void) {
        split(transcoder.finish(), line)
        if !carry.isEmpty {
            line(carry[...])
            carry.removeAll()
        }
    }
}
