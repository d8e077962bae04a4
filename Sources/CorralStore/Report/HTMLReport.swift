import CorralCore
import Foundation

/// A self-contained HTML page (inline SVG and CSS; no network, no JavaScript) of what the
/// journal holds (issue 17): a summary first (runs, devices, storms, actions, losses, time
/// range), then each run apart — a daemon's boot, a replayed log, each simulated policy — and in
/// it, per device, what the device is, its event rate over time with the actions marked
/// (`RateChart`), its episodes and its decisions.
public enum HTMLReport {
    /// One device in one run.
    public struct DeviceHistory: Sendable {
        public var device: Subject
        public var state: String?
        public var identity: String?
        public var episodes: [Journal.EpisodeRow]
        public var decisions: [Journal.DecisionEntry]
    }

    /// One run: its clock, its devices, and what no device can be held to.
    public struct RunSection: Sendable {
        public var run: JournalTimeline.Run
        public var devices: [DeviceHistory]
        public var unattributed: [Journal.EpisodeRow]
    }

    /// What the summary counts.
    public struct Summary: Sendable {
        public var runs = 0
        public var devices = 0
        /// Episodes during which Corral decided something about the device (a threshold crossed).
        public var storms = 0
        public var actions = 0
        public var failedActions = 0
        public var recommendations = 0
        public var lowerBoundEpisodes = 0
        public var journalRowsLost: Int64 = 0
        public var kernelRecordsLost: Int64 = 0
        public var range: [String] = []
    }

    /// Reads everything since `since` (UTC; `JournalTimeline.isAtOrAfter`) and renders it.
    public static func render(
        _ journal: Journal, since: Int64? = nil, display: TimeDisplay = .utc, title: String = "Corral report",
        names given: DeviceNames? = nil
    ) throws(JournalError) -> String {
        let timeline = try journal.timeline()
        let episodes = try journal.episodes(sinceUTC: since)
        let decisions = try journal.decisions(sinceUTC: since)
        let names: DeviceNames
        if let given {
            names = given
        } else {
            names = try DeviceNames.load(journal)
        }
        let states = try journal.deviceStates()
        let outcomes = try journal.actions()
        let metrics = try journal.metricsSnapshot()
        var sections: [RunSection] = []
        let runIDs = Set(episodes.map(\.run) + decisions.filter { $0.action != nil }.map(\.run)).sorted()
        for id in runIDs {
            guard let run = timeline.runs[id] else { continue }
            let mine = episodes.filter { $0.run == id }
            let decided = decisions.filter { $0.run == id && $0.action != nil }
            let subjects = Set(mine.map(\.device) + decided.map(\.subject)).sorted()
            let devices = subjects.filter { !$0.isUnattributed }.map { device in
                DeviceHistory(
                    device: device, state: states[device].flatMap { $0.run == id ? $0.state : nil },
                    identity: names.describe(device), episodes: mine.filter { $0.device == device },
                    decisions: decided.filter { $0.subject == device })
            }
            sections.append(
                RunSection(run: run, devices: devices, unattributed: mine.filter { $0.device.isUnattributed }))
        }
        var summary = Summary()
        summary.runs = sections.count
        summary.devices = Set(sections.flatMap { $0.devices.map(\.device) }).count
        for section in sections {
            for device in section.devices {
                summary.storms +=
                    device.episodes.filter { episode in
                        device.decisions.contains { $0.at >= episode.first && $0.at <= episode.last + 1_000_000_000 }
                    }.count
                summary.recommendations += device.decisions.filter(\.recommendation).count
                summary.actions += device.decisions.filter { !$0.recommendation }.count
                summary.lowerBoundEpisodes += device.episodes.filter(\.lowerBound).count
            }
            let all = section.devices.flatMap(\.episodes) + section.unattributed
            if let first = all.min(by: { $0.first < $1.first }), let last = all.max(by: { $0.last < $1.last }) {
                summary.range.append(
                    "\(runName(section.run)): \(display.text(utc: first.firstUTC, at: first.first, clock: first.clock)) "
                        + "→ \(display.text(utc: last.lastUTC, at: last.last, clock: last.clock))")
            }
        }
        summary.failedActions = outcomes.filter { ($0.outcome ?? "").hasPrefix("failed") }.count
        summary.journalRowsLost = metrics.writeLosses
        summary.kernelRecordsLost =
            (metrics.counters[.kmsgRecordsLost] ?? 0) + (metrics.counters[.traceRecordsLost] ?? 0)
        return render(sections, summary: summary, title: title, source: journal.path, display: display)
    }

    static func runName(_ run: JournalTimeline.Run) -> String { "run \(run.id) (\(run.kind) \(run.name))" }

    public static func render(
        _ sections: [RunSection], summary: Summary, title: String, source: String, display: TimeDisplay
    ) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 1.5em auto; padding: 0 1em; color: #222; max-width: 1100px; }
            h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2.2em; border-bottom: 2px solid #bbb; }
            h3 { font-size: 1.05em; margin: 1.6em 0 0.2em; }
            h1, h2, h3, p { overflow-wrap: anywhere; }
            .scroll { overflow-x: auto; max-width: 100%; }
            table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
            td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
            td { overflow-wrap: anywhere; } th { background: #f4f4f4; }
            .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            .state { font-weight: bold; } .what { color: #444; font-size: 0.9em; margin: 0 0 0.4em; overflow-wrap: anywhere; }
            svg.chart { width: 100%; height: auto; display: block; background: #fcfcfc; border: 1px solid #eee; }
            .legend { font-size: 0.85em; margin: 0.3em 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }
            .swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: -0.1em; margin-right: 0.3em; }
            .note { color: #555; font-size: 0.85em; }
            dl.summary { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2em 1em; margin: 1em 0; }
            dl.summary dt { font-weight: bold; } dl.summary dd { margin: 0; overflow-wrap: anywhere; }
            </style></head><body>
            <h1>\(escape(title))</h1>
            <p class="note">From \(escape(source)). Times are \(display.timeZone == TimeDisplay.utc.timeZone ? "UTC" : "local time")
            (RFC 3339) where the run had a wall clock; a simulation's or a replayed log's own clock is marked
            <i>virtual</i>. Rates are events per second on a log scale, in buckets; numbered markers are
            actions (filled: carried out, hollow and dashed: recommended only), listed under each chart.
            A <b>+</b> marks a lower bound (the kernel or a full queue dropped some).</p>

            """
        html += "<h2>Summary</h2>\n<dl class=\"summary\">\n"
        func item(_ term: String, _ value: String) { html += "<dt>\(escape(term))</dt><dd>\(escape(value))</dd>\n" }
        item("runs", "\(summary.runs)")
        item("devices", "\(summary.devices)")
        item("storms", "\(summary.storms) (episodes during which Corral decided something)")
        item(
            "actions",
            "\(summary.actions) carried out\(summary.failedActions > 0 ? " (\(summary.failedActions) failed)" : ""), "
                + "\(summary.recommendations) recommended only")
        item(
            "losses",
            "\(summary.lowerBoundEpisodes) episodes are lower bounds; \(Count.grouped(summary.kernelRecordsLost)) kernel "
                + "records lost to buffer overruns; \(Count.grouped(summary.journalRowsLost)) journal rows not written")
        item("time range", summary.range.isEmpty ? "-" : summary.range.joined(separator: "; "))
        html += "</dl>\n"
        if sections.isEmpty { html += "<p>Nothing journaled yet.</p>\n" }
        for section in sections {
            html += "<section class=\"run\">\n<h2>\(escape(runName(section.run)))</h2>\n"
            let clock =
                section.run.clock == .virtual
                ? "virtual time (\(section.run.kind == "simulate" ? "the simulator's model" : "the log's own clock"))"
                : "the host's clock, shown as wall-clock time"
            html +=
                "<p class=\"note\">\(escape(clock)); journaled \(display.rfc3339(section.run.startedUTC, fractionDigits: 0)).</p>\n"
            for device in section.devices { html += deviceSection(device, run: section.run, display: display) }
            if !section.unattributed.isEmpty {
                html += "<h3>Not attributable to a device</h3>\n"
                html += "<p class=\"note\">Counted, never acted on: no device can be held to these.</p>\n"
                html +=
                    "<div class=\"scroll\"><table><tr><th>what</th><th>class</th><th>first</th><th>last</th><th>events</th></tr>\n"
                for episode in section.unattributed {
                    html +=
                        "<tr><td>\(escape(episode.device.description))</td><td>\(escape(episode.eventClass.description))</td>"
                        + "<td class=\"num\">\(escape(display.text(utc: episode.firstUTC, at: episode.first, clock: episode.clock)))</td>"
                        + "<td class=\"num\">\(escape(display.text(utc: episode.lastUTC, at: episode.last, clock: episode.clock)))</td>"
                        + "<td class=\"num\">\(Count.grouped(episode.count))\(episode.lowerBound ? "+" : "")</td></tr>\n"
                }
                html += "</table></div>\n"
            }
            html += "</section>\n"
        }
        html += "</body></html>\n"
        return html
    }

    static func deviceSection(_ device: DeviceHistory, run: JournalTimeline.Run, display: TimeDisplay) -> String {
        var html = "<h3>\(escape(device.device.description))"
        if let state = device.state { html += " — <span class=\"state\">\(escape(state))</span>" }
        html += "</h3>\n"
        if let identity = device.identity { html += "<p class=\"what\">\(escape(identity))</p>\n" }
        // Markers for what was done or recommended; storm reports are in the table only.
        let shown = device.decisions.filter { $0.kind != "report-storm" }
        let markers = shown.enumerated().map { index, decision in
            RateChart.Marker(
                number: index + 1, at: decision.at, recommendation: decision.recommendation,
                title: decision.actionText ?? "")
        }
        let axis: (Int64) -> String = { at in
            if run.clock == .host,
                let utc = device.episodes.first.flatMap({ episode in
                    episode.firstUTC.map { $0 - episode.first + at }
                })
            {
                // HH:MM:SS of the RFC 3339 form: the date is in the tables.
                let text = display.rfc3339(utc, fractionDigits: 0)
                let clock = text.split(separator: "T").last.map(String.init) ?? text
                return String(clock.prefix(8))
            }
            return seconds(at) + "s"
        }
        html += RateChart(episodes: device.episodes, markers: markers, axisLabel: axis).svg()
        let classes = Array(Set(device.episodes.map(\.eventClass))).sorted()
        html += "<div class=\"legend\">"
        for eventClass in classes {
            html +=
                "<span><span class=\"swatch\" style=\"background:\(RateChart.colour(eventClass, among: classes))\"></span>"
                + "\(escape(eventClass.description))</span>"
        }
        html += "</div>\n"
        html += episodeTable(device.episodes, display: display)
        html += decisionTable(device.decisions, display: display)
        return html
    }

    static func seconds(_ nanoseconds: Int64) -> String {
        let value = Double(nanoseconds) / 1e9
        return value >= 100 ? String(Int(value)) : String(Double(Int(value * 1000)) / 1000)
    }

    /// Events per second over the episode (an instant — one timestamp — counts as one second).
    static func rate(_ episode: Journal.EpisodeRow) -> Double {
        guard episode.last > episode.first else { return Double(episode.count) }
        return Double(episode.count) / max(Double(episode.last - episode.first) / 1e9, 0.001)
    }

    static func episodeTable(_ episodes: [Journal.EpisodeRow], display: TimeDisplay) -> String {
        guard !episodes.isEmpty else { return "" }
        var html =
            "<div class=\"scroll\"><table><tr><th>class</th><th>first</th><th>last</th><th>events</th><th>average rate</th>"
            + "<th>sample addresses</th></tr>\n"
        for episode in episodes {
            html +=
                "<tr><td>\(escape(episode.eventClass.description))</td>"
                + "<td class=\"num\">\(escape(display.text(utc: episode.firstUTC, at: episode.first, clock: episode.clock)))</td>"
                + "<td class=\"num\">\(escape(display.text(utc: episode.lastUTC, at: episode.last, clock: episode.clock)))</td>"
                + "<td class=\"num\">\(Count.grouped(episode.count))\(episode.lowerBound ? "+" : "")</td>"
                + "<td class=\"num\">\(label(rate(episode)))/s</td><td>\(escape(episode.sampleAddresses))</td></tr>\n"
        }
        return html + "</table></div>\n"
    }

    /// The decisions, numbered as the chart's markers are (storm reports have no marker).
    static func decisionTable(_ decisions: [Journal.DecisionEntry], display: TimeDisplay) -> String {
        guard !decisions.isEmpty else { return "" }
        var html = "<div class=\"scroll\"><table><tr><th>#</th><th>at</th><th>action</th><th>why</th></tr>\n"
        var marker = 0
        for decision in decisions {
            var number = ""
            if decision.kind != "report-storm" {
                marker += 1
                number = String(marker)
            }
            html +=
                "<tr><td class=\"num\">\(number)</td>"
                + "<td class=\"num\">\(escape(display.text(utc: decision.atUTC, at: decision.at, clock: decision.clock)))</td>"
                + "<td>\(decision.recommendation ? "recommended: " : "")\(escape(decision.actionText ?? ""))</td>"
                + "<td>\(escape(decision.reason))</td></tr>\n"
        }
        return html + "</table></div>\n"
    }

    static func pow10(_ exponent: Int) -> Double {
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    static func label(_ value: Double) -> String {
        if value >= 1e9 { return "\(Int(value / 1e9))G" }
        if value >= 1e6 { return "\(Int(value / 1e6))M" }
        if value >= 1e3 { return "\(Int(value / 1e3))k" }
        return "\(Int(value))"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
