import CorralCore
import Foundation
import Testing

@testable import CorralDecode

/// One `decode --json` line, as the CLI writes it.
func jsonLine(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}

func jsonObject(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}

/// Text in a kernel log is whatever a driver or a device put there: it must come out of
/// `--json` as the same string, never as JSON of its own.
@Suite struct JSONOutputTests {
    static let hostile = "5040000.smmu\", \"device\": \"0000:00:00.0\", \"x\": \"\u{1}\n\\"

    @Test func logEventTextStaysOneString() throws {
        var event = LogEvent(line: 3, kind: .dmaFault)
        event.iommu = IOMMUInstance(Self.hostile)
        event.reasonText = Self.hostile
        event.function = Self.hostile
        event.lastLine = 5
        let object = try #require(jsonObject(jsonLine(event)))
        #expect(object["iommu"] as? String == Self.hostile)
        #expect(object["reason_text"] as? String == Self.hostile)
        #expect(object["device"] == nil, "no field injected")
        #expect(object["class"] as? String == "dma-fault")
        #expect(object["last_line"] as? Int == 5)
        #expect(!jsonLine(event).contains("\n"), "one line per event")
    }

    /// The fault's kind is shown as the engine reads it, not only computed (issue 16).
    @Test func dmaFaultsShowTheirKind() throws {
        let (events, _) = KernelLogParser.parse(
            """
            DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set
            DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x04] Access beyond MGAW
            pcieport 0000:00:1c.0: AER: Corrected error received: 0000:01:00.0
            """)
        let kinds = events.map { jsonObject(jsonLine($0))?["kind"] as? String }
        #expect(kinds == ["write-to-read-only", "address-size", nil])
    }

    @Test func timeKeepsTheKernelsMicroseconds() throws {
        var event = LogEvent(line: 1, kind: .aer)
        event.time = LogTime(clock: .sinceBoot, nanoseconds: 12_345_678_901)
        event.status = 0x1000
        let object = try #require(jsonObject(jsonLine(event)))
        #expect(object["time"] as? Double == 12.345678)
        #expect(object["clock"] as? String == "boot")
        #expect(object["status"] as? String == "0x00001000")
        #expect(object["last_line"] == nil, "a one-line record has no last_line")
    }

    @Test func replaySubjectNamedByTheLogStaysOneString() throws {
        var replay = LogReplay(policy: Policy())
        var event = LogEvent(line: 1, kind: .iommuError)
        event.iommu = IOMMUInstance(Self.hostile)
        replay.add(event)
        let lines = replay.subjectLines
        #expect(lines.count == 1)
        let first = try #require(lines.first)
        let object = try #require(jsonObject(jsonLine(first)))
        #expect(object["subject"] as? String == "iommu " + Self.hostile)
        #expect(object["type"] as? String == "subject")
        let summary = try #require(jsonObject(jsonLine(replay.summaryLine(LogStatistics()))))
        #expect(summary["type"] as? String == "summary")
        #expect(summary["clock"] is NSNull, "no timestamps: clock is null, not missing")
    }
}
