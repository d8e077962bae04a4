import CorralCore
import Foundation
import Testing

@testable import CorralDecode

/// Logs as they reach bug trackers: saved as UTF-16 by Windows tools, with a byte-order mark,
/// with CR-only line ends. Each must decode to the same events as the plain file, whatever
/// the chunk boundaries; none may come out silently empty.
@Suite struct TextEncodingTests {
    /// Every line of the corpus's VT-d, AMD-Vi, SMMU and AER logs: dozens of events.
    static let original: String = ["01-A-i915ovmfpkg-23", "08-A-lkml-2013-vfio-dmar"].map {
        Fixtures.text(Fixtures.root.appendingPathComponent("kernel-logs/\($0).log"))
    }.joined(separator: "\n")

    static func events(_ bytes: [UInt8], chunk: Int = 4096) -> (events: [LogEvent], conversions: [String]) {
        var splitter = LineSplitter()
        var parser = KernelLogParser()
        var out: [LogEvent] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            splitter.feed(Array(bytes[start..<end])) { line in parser.add(line: line) { out.append($0) } }
            start = end
        }
        splitter.finish { line in parser.add(line: line) { out.append($0) } }
        parser.finish { out.append($0) }
        return (out, splitter.conversions)
    }

    static func utf16(_ text: String, bigEndian: Bool, bom: Bool) -> [UInt8] {
        var bytes: [UInt8] = bom ? (bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]) : []
        for unit in text.utf16 {
            let high = UInt8(unit >> 8)
            let low = UInt8(unit & 0xFF)
            bytes += bigEndian ? [high, low] : [low, high]
        }
        return bytes
    }

    static var expected: [String] { events(Array(original.utf8)).events.map(jsonLine) }

    @Test(arguments: [(false, true), (false, false), (true, true), (true, false)])
    func utf16DecodesLikeUTF8(bigEndian: Bool, bom: Bool) {
        let expected = Self.expected
        #expect(expected.count >= 10)
        for chunk in [1, 3, 4096] {
            let (events, conversions) = Self.events(
                Self.utf16(Self.original, bigEndian: bigEndian, bom: bom), chunk: chunk)
            #expect(events.map(jsonLine) == expected, "big endian \(bigEndian), BOM \(bom), chunks of \(chunk)")
            #expect(conversions.first?.contains(bigEndian ? "UTF-16BE" : "UTF-16LE") == true, "\(conversions)")
        }
    }

    @Test func crOnlyLineEndsSplitLines() {
        let text = Self.original.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r")
        let (events, conversions) = Self.events(Array(text.utf8), chunk: 777)
        #expect(events.map(jsonLine) == Self.expected)
        #expect(conversions.contains { $0.contains("CR") })
    }

    @Test func crlfAndUTF8ByteOrderMarkChangeNothing() {
        let text = Self.original.replacingOccurrences(of: "\n", with: "\r\n")
        let (events, conversions) = Self.events([0xEF, 0xBB, 0xBF] + Array(text.utf8), chunk: 100)
        #expect(events.map(jsonLine) == Self.expected)
        #expect(conversions == ["UTF-8 byte-order mark dropped"])
        #expect(Self.events(Array(Self.original.utf8)).conversions.isEmpty, "plain UTF-8 is read as it is")
    }

    /// Beyond the BMP, and broken halves: scalars come out whole, broken units as U+FFFD.
    @Test func surrogatesAcrossChunks() {
        var transcoder = TextTranscoder()
        let text = "DMAR 🐞 fault\n"
        var bytes: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        bytes += [0x00, 0xD8]  // a lone high surrogate at the end
        var out: [UInt8] = []
        for byte in bytes { out += transcoder.feed([byte]) }
        out += transcoder.finish()
        #expect(String(decoding: out, as: UTF8.self) == text + "\u{FFFD}")
        #expect(transcoder.invalidUnits == 1)
        #expect(transcoder.encoding == .utf16LEWithBOM)
    }

    /// Short inputs (under the sniffing window) and binary noise are not mistaken for UTF-16.
    @Test func shortAndBinaryInputs() {
        #expect(TextTranscoder.detect(Array("ok\n".utf8)) == .utf8)
        #expect(TextTranscoder.detect([0, 0, 0, 0, 0, 0, 0, 0]) == .utf8, "all zeros: not text of either order")
        var transcoder = TextTranscoder()
        #expect(transcoder.feed(Array("short".utf8)).isEmpty, "held until it can decide")
        #expect(transcoder.finish() == Array("short".utf8))
    }
}
