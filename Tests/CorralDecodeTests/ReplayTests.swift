import CorralCore
import Testing

@testable import CorralDecode

@Suite struct ReplayTests {
    /// `count` VT-d write faults from 03:00.0, one every `gapMicros`, starting at 100 s of boot.
    static func vtdStorm(count: Int, gapMicros: Int, device: String = "03:00.0", startSeconds: Int = 100) -> String {
        (0..<count).map { index in
            let micros = startSeconds * 1_000_000 + index * gapMicros
            let stamp = "\(micros / 1_000_000).\(String(micros % 1_000_000).leftPadded(6))"
            return
                "[\(stamp)] DMAR: [DMA Write NO_PASID] Request device [\(device)] fault addr 0x\(String(0x1000 * index, radix: 16)) [fault reason 0x05] PTE Write access is not set"
        }.joined(separator: "\n")
    }

    static func replay(_ text: String, policy: Policy = Policy()) -> LogReplay {
        var replay = LogReplay(policy: policy)
        let (events, _) = KernelLogParser.parse(text)
        for event in events { replay.add(event) }
        replay.finish()
        return replay
    }

    /// Subjects are found by value with the last one remembered: interleaved devices must
    /// each keep their own counts, in the order they first appeared.
    @Test func interleavedDevicesKeepTheirOwnCounts() throws {
        let lines = (0..<30).map { index in
            let device = ["03:00.0", "04:00.0", "03:00.0"][index % 3]
            return "[100.\(String(index).leftPadded(6))] DMAR: [DMA Read NO_PASID] Request device [\(device)] "
                + "fault addr 0x1000 [fault reason 0x06] PTE Read access is not set"
        }
        let replay = Self.replay(lines.joined(separator: "\n"))
        #expect(replay.order == ["0000:03:00.0", "0000:04:00.0"])
        #expect(replay.subjects["0000:03:00.0"]?.events == [.dmaFault: 20])
        #expect(replay.subjects["0000:04:00.0"]?.events[.dmaFault] == 10)
        #expect(replay.subjects["0000:04:00.0"]?.firstLine == 2)
        #expect(replay.subjects["0000:03:00.0"]?.peakPerSecond == 20)
    }

    /// The dense per-kind counters need every kind at its own place in `allCases`.
    @Test func eventKindIndicesAreTheirPlaceInAllCases() {
        #expect(LogEvent.Kind.allCases.map(\.index) == Array(LogEvent.Kind.allCases.indices))
    }

    @Test func stormIsFoundAtTheLogsOwnTime() throws {
        // 2,000 faults at 10,000/s: past the default storm threshold (1000/1s).
        let replay = Self.replay(Self.vtdStorm(count: 2_000, gapMicros: 100))
        #expect(replay.clock == .sinceBoot)
        let subject = try #require(replay.subjects["0000:03:00.0"])
        #expect(subject.events[.dmaFault] == 2_000)
        #expect(subject.peakPerSecond == 2_000)
        #expect(subject.storms == 1)
        #expect(subject.decisions.allSatisfy { $0.action == nil || $0.action!.isRecommendation || $0.action!.isReport })
        let first = try #require(subject.decisions.first { $0.action?.isRecommendation == true })
        // `1000/1s` fires on the 1,000th fault within a second: at 10,000/s, the one logged at
        // 99.9 ms of the log's own time.
        #expect(first.at == Instant.microseconds(99_900))
        #expect(replay.lastEventAt == Instant.microseconds(199_900))
    }

    @Test func decisionsLeaveAsTheyAreMadeAndMemoryKeepsFirstAndLast() throws {
        // Two devices storming in turn, ten minutes apart: more decisions than a subject keeps.
        let text = (0..<8).map { index in
            Self.vtdStorm(
                count: 2_000, gapMicros: 100, device: index % 4 == 3 ? "04:00.0" : "03:00.0",
                startSeconds: 100 + index * 600)
        }.joined(separator: "\n")
        var seen: [Decision] = []
        var replay = LogReplay(policy: Policy(), decisionsKept: 2) { seen.append($0) }
        for event in KernelLogParser.parse(text).0 { replay.add(event) }
        replay.finish()
        #expect(seen.count == replay.decisionCount)
        let subject = try #require(replay.subjects["0000:03:00.0"])
        let own = seen.filter { $0.subject == .device(.pci(try! PCIAddress(parsing: "0000:03:00.0"))) }
        try #require(own.count > 4, "enough decisions to drop some: \(own.count)")
        #expect(subject.decisionCount == own.count)
        #expect(subject.decisions == Array(own.prefix(2)))
        #expect(Array(subject.laterDecisions) == Array(own.suffix(2)))
        #expect(subject.decisionsNotKept == own.count - 4)
    }

    @Test func recentHistoryKeepsTheLastAndCountsAll() {
        var history = RecentHistory<Int>(capacity: 3)
        history.append(contentsOf: 1...10)
        #expect(Array(history) == [8, 9, 10] && history.total == 10 && history.dropped == 7)
        #expect(Array(history.appended(after: 8)) == [9, 10])
        #expect(Array(history.appended(after: 2)) == [8, 9, 10], "older ones are gone")
        #expect(history.appended(after: 10).isEmpty)
    }

    @Test func quietDeviceGetsNothing() throws {
        let replay = Self.replay(Self.vtdStorm(count: 5, gapMicros: 1_000_000))
        let subject = try #require(replay.subjects["0000:03:00.0"])
        #expect(subject.storms == 0 && subject.decisions.allSatisfy { $0.action == nil })
    }

    @Test func noTimestampsMeansOneLinePerInterval() throws {
        let text = Self.vtdStorm(count: 3, gapMicros: 1).split(separator: "\n").map {
            $0.drop { $0 != "]" }.dropFirst(2)
        }
        .joined(separator: "\n")
        var replay = LogReplay(policy: Policy(), lineInterval: .milliseconds(5))
        for event in KernelLogParser.parse(text).0 { replay.add(event) }
        #expect(replay.clock == nil)
        #expect(replay.lastEventAt == Instant.milliseconds(15))
    }

    @Test func rateLimitingAndUnattributedAreReported() {
        let text = """
            [  144.480629] dmar_fault: 893 callbacks suppressed
            [  144.480641] AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x001a address=0xfffc8000 flags=0x0050]
            """
        let replay = Self.replay(text)
        #expect(replay.suppressed == 893)
        #expect(replay.unattributed[.dmaFault] == 1)
    }

    @Test func deviceEventMappingKeepsTheVendorMeaning() throws {
        let (events, _) = KernelLogParser.parse(
            """
            [    1.0] DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x100000 [fault reason 0x05] PTE Write access is not set
            [    2.0] pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down
            [    3.0] nvme 0000:01:00.0: Removing after probe failure status: -19
            """)
        guard case .dmaFault(let fault)? = events[0].deviceEvent else {
            Issue.record("not a DMA fault: \(events[0])")
            return
        }
        #expect(fault.kind == .writeToReadOnly && fault.access == .write && fault.vendor == .intelVTd)
        let port = try PCIAddress(parsing: "0000:00:1c.0")
        #expect(events[1].deviceEvent == .linkChanged(port: port, up: false))
        #expect(events[2].deviceEvent == .deviceLost(.pci(try PCIAddress(parsing: "0000:01:00.0"))))
    }
}

extension Action {
    var isReport: Bool { if case .reportStorm = self { true } else { false } }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
