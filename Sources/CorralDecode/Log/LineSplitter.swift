/// Splits a byte stream into lines without holding more than one chunk and one partial line.
///
/// A "line" longer than `maximumLineBytes` (a binary file, a log with no newlines) is cut into
/// pieces of that size and counted in `overlongLines`: memory stays bounded whatever the input.
public struct LineSplitter {
    public static let maximumLineBytes = 1 << 20

    private var carry: [UInt8] = []
    public private(set) var overlongLines = 0

    public init() {}

    /// Feeds the next chunk; `line` gets every line completed by it (without the newline).
    public mutating func feed(_ chunk: [UInt8], _ line: (ByteText) -> Void) {
        var start = 0
        let end = chunk.count
        while start < end {
            guard let newline = chunk[start..<end].firstIndex(of: 0x0A) else {
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

    /// Ends the stream: a last line without a newline is still a line.
    public mutating func finish(_ line: (ByteText) -> Void) {
        if !carry.isEmpty {
            line(carry[...])
            carry.removeAll()
        }
    }
}
