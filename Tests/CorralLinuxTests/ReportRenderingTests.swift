import CorralTestSupport
import Foundation
import Testing

/// The HTML report as a browser draws it (issue 17): `corral report` on a journal with a
/// simulated relapse-then-retire run and a replayed log, opened in headless Chromium at a
/// phone's width and a desktop's. A checker appended to a copy of the page (the report itself
/// has no scripts) measures every chart element against its chart's box, the page against the
/// window, and counts each episode's points; the browser's console must stay silent.
@Suite struct ReportRenderingTests {
    /// Chromium's headless shell (Debian's `chromium-headless-shell`; `.ci/run` installs it).
    static var chromium: String? {
        ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static let checker = """
        <script>
        const problems = [];
        for (const svg of document.querySelectorAll('svg.chart')) {
          const box = svg.viewBox.baseVal;
          for (const element of svg.querySelectorAll('text, circle, polyline, line')) {
            const b = element.getBBox();
            if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5
                || b.y + b.height > box.y + box.height + 0.5) {
              problems.push('outside its chart: ' + element.tagName + ' ' + (element.textContent || '').slice(0, 40));
            }
          }
          const series = svg.querySelectorAll('.series').length;
          if (series !== Number(svg.dataset.episodes)) problems.push(series + ' series for ' + svg.dataset.episodes + ' episodes');
          const labels = [...svg.querySelectorAll(':scope > text')].map(t => t.getBBox());
          for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
            const a = labels[i], b = labels[j];
            if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) problems.push('axis labels overlap');
          }
        }
        if (document.documentElement.scrollWidth > window.innerWidth + 1) {
          problems.push('page wider than the window: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
        }
        const points = [...document.querySelectorAll('.series')].map(e => Number(e.dataset.points));
        document.body.setAttribute('data-verdict', JSON.stringify({problems, points, charts: document.querySelectorAll('svg.chart').length}));
        </script>
        """

    struct Verdict: Decodable {
        var problems: [String]
        var points: [Int]
        var charts: Int
    }

    static func open(_ page: URL, width: Int, height: Int) throws -> (verdict: Verdict, console: [String]) {
        let browser = Process()
        browser.executableURL = URL(fileURLWithPath: try #require(chromium))
        browser.arguments = [
            "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
            "--window-size=\(width),\(height)", "--dump-dom", page.absoluteString,
        ]
        let output = Pipe()
        let errors = Pipe()
        browser.standardOutput = output
        browser.standardError = errors
        try browser.run()
        let dom = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        browser.waitUntilExit()
        let attribute = try #require(
            dom.range(of: "data-verdict=\"").map { dom[$0.upperBound...].prefix { $0 != "\"" } }, "no verdict in \(log)"
        )
        let json = attribute.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        let verdict = try JSONDecoder().decode(Verdict.self, from: Data(json.utf8))
        return (verdict, log.split(separator: "\n").filter { $0.contains("CONSOLE") }.map(String.init))
    }

    @Test func theReportDrawsInABrowserWithoutClippingAtAnySize() throws {
        guard Self.chromium != nil else {
            // CI installs it: there the test must run, not pass by doing nothing.
            #expect(ProcessInfo.processInfo.environment["CI"] == nil, "chromium-headless-shell is not installed")
            return
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("corral-report-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("j.sqlite").path
        // Under a long folder name with no place to break it: the run's heading must still wrap
        // (a CI checkout's path once pushed the page past a phone's width).
        let deep = folder.appendingPathComponent(String(repeating: "alongcheckoutpath", count: 4))
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
        let log = deep.appendingPathComponent("11-A-mlx5-intr-remap-2020.log").path
        try FileManager.default.copyItem(
            atPath: JSONContractTests.repository.appendingPathComponent(
                "Tests/Fixtures/kernel-logs/11-A-mlx5-intr-remap-2020.log"
            ).path, toPath: log)
        #expect(try JSONContractTests.run(["simulate", "relapse-then-retire", "--journal", journal]).status == 0)
        #expect(try JSONContractTests.run(["replay", log, "--journal", journal]).status == 0)
        let html = folder.appendingPathComponent("report.html")
        #expect(try JSONContractTests.run(["report", "--journal", journal, "--html", html.path]).status == 0)
        let page = try String(contentsOf: html, encoding: .utf8)
        // Runs apart: the simulation and the replay each have their section.
        #expect(page.contains("simulate relapse-then-retire") && page.contains("(replay "), "\(page.prefix(3000))")
        #expect(page.contains("<h2>Summary</h2>") && !page.contains("<script"))
        let checked = folder.appendingPathComponent("checked.html")
        try page.replacingOccurrences(of: "</body>", with: Self.checker + "</body>").write(
            to: checked, atomically: true, encoding: .utf8)
        for (width, height) in [(390, 844), (1600, 1000)] {
            let (verdict, console) = try Self.open(checked, width: width, height: height)
            #expect(verdict.problems.isEmpty, "at \(width)×\(height): \(verdict.problems)")
            #expect(console.isEmpty, "at \(width)×\(height): \(console)")
            #expect(verdict.charts >= 2)
            // The relapsing device's episode is a series, not one average: many points.
            #expect((verdict.points.max() ?? 0) > 50, "\(verdict.points)")
        }
    }
}
