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
        #expect(page.contains("<h2>0000:03:00.0"))
        #expect(page.components(separatedBy: "<rect x=").count - 1 >= 2, "one bar per episode (plus legend)")
        #expect(page.contains("stroke=\"#c53030\""), "the action is marked on the timeline")
        #expect(page.contains("storm &lt;&amp;&gt;"), "text is escaped")
        #expect(page.contains("10k/s"), "2,000 events in 200 ms is 10k/s")
        #expect(page.contains("1+</td>"), "lower bounds are marked")
        // A pseudo-subject is shown as what it is, never as a device's section (issue 17).
        #expect(!page.contains("<h2>(kernel rate limiting)"))
        #expect(page.contains("<h2>Not attributable to a device</h2>"))
        #expect(page.contains("<td>(kernel rate limiting)</td><td>suppressed</td>"))
        #expect(page.contains("990+</td>"))
    }
}
