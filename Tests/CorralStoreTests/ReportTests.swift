import CorralCore
import CorralTestSupport
import Testing

@testable import CorralStore

@Suite struct ReportTests {
    @Test func selfContainedPageWithTimelineAndActions() throws {
        let journal = try Journal(path: temporaryJournalPath("report"))
        let run = try journal.run(kind: "test", name: "report", startedUTC: 0)
        var batch = JournalBatch(run: run)
        batch.episodes = [
            Episode(subject: "0000:03:00.0", eventClass: "dma-fault", first: 0, last: 200_000_000, count: 2_000),
            Episode(
                subject: "0000:03:00.0", eventClass: "aer-corrected", first: 5, last: 5, count: 1, lowerBound: true),
            Episode(
                subject: "(kernel rate limiting)", eventClass: "suppressed", first: 0, last: 100_000_000, count: 990,
                lowerBound: true),
        ]
        let nic = PCIAddress(bus: 3, device: 0, function: 0)!
        batch.decisions = [
            DecisionRow(
                Decision(
                    at: .milliseconds(110), subject: .device(.pci(nic)), action: .clearBusMaster(nic),
                    reason: "storm <&>")),
            DecisionRow(
                Decision(
                    at: .milliseconds(1), subject: .device(.pci(nic)),
                    action: .reportStorm(.device(.pci(nic)), summary: ""),
                    reason: "report")),
        ]
        try journal.write(batch)
        let page = try HTMLReport.render(journal)
        #expect(page.hasPrefix("<!DOCTYPE html>") && page.hasSuffix("</html>\n"))
        #expect(
            !page.contains("<script") && !page.contains("src=") && !page.contains("href="), "no scripts, no network")
        #expect(page.contains("<h3>0000:03:00.0"))
        #expect(page.components(separatedBy: "class=\"series\"").count - 1 == 2, "one series per episode")
        #expect(page.contains("stroke=\"#c53030\""), "the action is marked on the timeline")
        #expect(page.contains("storm &lt;&amp;&gt;"), "text is escaped")
        #expect(page.contains("10k/s"), "2,000 events in 200 ms is 10k/s")
        #expect(page.contains("1+</td>"), "lower bounds are marked")
        // The summary comes first and counts what the journal holds.
        #expect(page.contains("<h2>Summary</h2>") && page.contains("<dt>devices</dt><dd>1</dd>"))
        #expect(page.contains("<dt>actions</dt><dd>2 carried out, 0 recommended only</dd>"), "\(page)")
        // A pseudo-subject is shown as what it is, never as a device's section (issue 17).
        #expect(!page.contains("<h3>(kernel rate limiting)"))
        #expect(page.contains("<h3>Not attributable to a device</h3>"))
        #expect(page.contains("<td>(kernel rate limiting)</td><td>suppressed</td>"))
        #expect(page.contains("990+</td>"))
        // Virtual time says so.
        #expect(page.contains("0.100000000s virtual"))
    }
}

/// An episode's rate over time in bounded buckets (`RateSeries`).
@Suite struct RateSeriesTests {
    @Test func bucketsDoubleAndKeepEveryEvent() {
        var series = RateSeries()
        var total: UInt64 = 0
        var generator = SplitMix64(seed: 3)
        // Ten minutes of events at random offsets: far more than 256 base widths.
        for _ in 0..<20_000 {
            let offset = Int64(generator.next() % 600_000_000_000)
            let count = generator.next() % 5 + 1
            series.add(offset: offset, count: count)
            total += count
        }
        #expect(series.counts.count <= RateSeries.capacity && series.counts.count >= RateSeries.capacity / 2)
        #expect(series.counts.reduce(0, +) == total, "merging loses no event")
        #expect(series.width % RateSeries.baseWidth == 0 && (series.width / RateSeries.baseWidth).nonzeroBitCount == 1)
        // The journal's text reads back as the same series; a damaged one reads as none.
        #expect(RateSeries(text: series.text) == series)
        #expect(RateSeries(text: "1000000 1 x") == nil && RateSeries(text: "5 1") == nil && RateSeries(text: "") == nil)
    }

    /// The shape survives: a storm contained after 100 ms shows its drop.
    @Test func theDropAfterContainmentIsInTheSeries() {
        var book = EpisodeBook()
        for index in 0..<1_000 {
            book.add(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: Int64(index) * 100_000))
        }
        book.add(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 900_000_000))
        let episode = book.takeChanged()[0]
        let rates = episode.series.rates
        #expect(rates.first?.perSecond == 10_000, "10 events per 1 ms bucket")
        #expect(rates.filter { $0.perSecond == 0 }.count > 100, "quiet after containment")
        #expect(episode.series.counts.reduce(0, +) == episode.count)
    }
}
