import Testing

@testable import CorralDecode

/// The byte view and the scanners the families read fields with (TextView.swift, ByteText.swift).
@Suite struct ByteTextTests {
    /// Decimal numbers: up to 19 digits are read without overflow checks, longer ones with them.
    @Test(arguments: [
        ("0", UInt64(0), 1), ("123456.5", 123_456, 6), ("9999999999999999999", 9_999_999_999_999_999_999, 19),
        ("18446744073709551615 x", UInt64.max, 20), ("12345678901234567890", 12_345_678_901_234_567_890, 20),
    ])
    func decimalNumbers(text: String, value: UInt64, end: Int) throws {
        try Array(text.utf8).withByteText { bytes in
            let number = try #require(bytes.decimalNumber(at: 0))
            #expect(number.value == value)
            #expect(number.end == end)
        }
    }

    @Test(arguments: ["", "x1", "18446744073709551616", "123456789012345678901"])
    func notDecimalNumbers(text: String) {
        Array(text.utf8).withByteText { bytes in
            #expect(bytes.decimalNumber(at: 0) == nil)
        }
    }

    /// A block's search for `=3D` (memmem): found wherever it is, and only within the view —
    /// not in the bytes of the buffer after it, nor from a partial match at the view's end.
    @Test func longTextSearchStaysInsideTheView() {
        let noise = String(repeating: "a=b c=d ", count: 40)
        for text in ["=3D" + noise, noise + "=3D" + noise, noise + "=3D", noise, ""] {
            Array(text.utf8).withByteText { bytes in
                #expect(bytes.containsInLongText("=3D") == text.contains("=3D"), "\(text.count) bytes")
            }
        }
        Array((noise + "=3D").utf8).withByteText { bytes in
            #expect(!bytes[bytes.startIndex..<(bytes.endIndex - 1)].containsInLongText("=3D"))
        }
        Array(("=3D" + noise).utf8).withByteText { bytes in
            #expect(bytes.containsInLongText("=3D"))
            #expect(!bytes[(bytes.startIndex + 1)...].containsInLongText("=3D"), "the match starts before the view")
        }
    }

    /// Positions are the whole buffer's, as with `ArraySlice`: a part keeps its line's numbering,
    /// and a scan stops at the part's end even where the buffer goes on.
    @Test func partsKeepTheirLinesNumbering() throws {
        Array("[  12.5] 4711 DMAR: x".utf8).withByteText { line in
            let part = line[9..<13]
            #expect(part.startIndex == 9)
            #expect(part.decimalNumber(at: 9)?.value == 4711)
            #expect(line[9..<11].decimalNumber(at: 9)?.value == 47)
            #expect(line.matches("DMAR", at: 14))
            #expect(!line[0..<16].matches("DMAR", at: 14))
            #expect(line.find("DMAR") == 14)
            #expect(line[15...].find("DMAR") == nil)
            Array("DMAR: x".utf8).withByteText { expected in #expect(line[14...] == expected) }
        }
    }

    /// `find` compares short texts in place and searches long ones with memchr: both give the
    /// first match, at every length around the switch, a match at the very end included.
    @Test func findAgreesAtEveryLength() {
        for length in 0..<80 {
            for at in [0, length / 2, max(0, length - 4)] where at + 4 <= length {
                var bytes = [UInt8](repeating: 0x64, count: length)  // "ddd…": a near miss everywhere
                bytes.replaceSubrange(at..<(at + 4), with: Array("dmar".utf8))
                bytes.withByteText { text in
                    #expect(text.find("dmar") == at, "length \(length), at \(at)")
                    #expect(text.find("dmar", from: at + 1) == nil)
                    #expect(text[1...].find("dmar") == (at >= 1 ? at : nil))
                }
            }
        }
    }

    /// A storage's view tracks its bytes; a copy of a parser that shares a storage gets its own
    /// before writing, and what the other copy's views read stays as it was.
    @Test func sharedStorageIsReplacedNotWritten() {
        var storage = TextStorage()
        Array("first".utf8).withByteText { storage.set($0) }
        let other = storage
        let view = other.text
        let written = TextStorage.unique(&storage, keepingBytes: true)
        #expect(written !== other)
        Array(" second".utf8).withByteText { written.append($0) }
        #expect(view.string == "first")
        #expect(written.text.string == "first second")
    }
}
