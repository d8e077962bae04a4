import CorralCore
import Foundation

/// A self-contained HTML page (inline SVG and CSS; no network, no JavaScript) of what the
/// journal holds: per device, a fault-rate timeline on a log scale with the actions marked on
/// it, and its episodes and decisions.
public enum HTMLReport {
    public struct DeviceHistory: Sendable {
        public var device: Subject
        public var state: String?
        public var episodes: [Journal.EpisodeRow]
        public var decisions: [Journal.DecisionEntry]
    }

    /// Reads everything since `since` (journal time) and renders it.
    public static func render(
        _ journal: Journal, since: Int64? = nil, display: TimeDisplay = .utc, title: String = "Corral report"
    )
        throws(JournalError)
        -> String
    {
        let episodes = try journal.episodes(sinceUTC: since)
        let decisions = try journal.decisions(sinceUTC: since)
        let states = Dictionary(uniqueKeysWithValues: try journal.deviceSummaries().map { ($0.device, $0.state) })
        let devices = Set(episodes.map(\.device) + decisions.filter { $0.action != nil }.map(\.subject)).sorted()
        let histories = devices.map { device in
            DeviceHistory(
                device: device, state: states[device] ?? nil, episodes: episodes.filter { $0.device == device },
                decisions: decisions.filter { $0.subject == device && $0.action != nil })
        }
        return render(histories, title: title, source: journal.path)
    }

    public static func render(_ devices: [DeviceHistory], title: String, source: String) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1000px; }
            h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; border-bottom: 1px solid #ccc; }
            table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
            td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
            th { background: #f4f4f4; } .num { text-align: right; font-variant-numeric: tabular-nums; }
            .state { font-weight: bold; } svg { background: #fcfcfc; border: 1px solid #eee; }
            .note { color: #666; font-size: 0.85em; }
            </style></head><body>
            <h1>\(escape(title))</h1>
            <p class="note">From \(escape(source)). Times are the journal's clock (seconds; virtual time for
            replayed logs and simulations). Rates are events per second of an episode, on a log scale;
            red marks are actions, grey dashed marks recommendations. A <b>+</b> marks a lower bound.</p>

            """
        if devices.isEmpty { html += "<p>Nothing journaled yet.</p>\n" }
        // Events no device can be held to (the kernel's rate limiting, faults whose device was
        // not named) are shown as what they are, in one table after the devices, never as a
        // device's section (issue 17).
        let (subjects, unattributed) = (
            devices.filter { !$0.device.isUnattributed }, devices.filter { $0.device.isUnattributed }
        )
        for device in subjects {
            html += "<h2>\(escape(device.device.description))"
            if let state = device.state { html += " — <span class=\"state\">\(escape(state))</span>" }
            html += "</h2>\n"
            html += timeline(device)
            html += episodeTable(device.episodes)
            html += decisionTable(device.decisions)
        }
        if !unattributed.isEmpty {
            html += "<h2>Not attributable to a device</h2>\n"
            html += "<p class=\"note\">Counted, never acted on: no device can be held to these.</p>\n"
            html +=
                "<table><tr><th>what</th><th>class</th><th>first (s)</th><th>last (s)</th><th>events</th></tr>\n"
            for entry in unattributed {
                for episode in entry.episodes {
                    html +=
                        "<tr><td>\(escape(entry.device.description))</td><td>\(escape(episode.eventClass.description))</td>"
                        + "<td class=\"num\">\(seconds(episode.first))</td><td class=\"num\">\(seconds(episode.last))</td>"
                        + "<td class=\"num\">\(Count.grouped(episode.count))\(episode.lowerBound ? "+" : "")</td></tr>\n"
                }
            }
            html += "</table>\n"
        }
        html += "</body></html>\n"
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

    static func timeline(_ device: DeviceHistory) -> String {
        let width = 900.0
        let height = 180.0
        let left = 60.0
        let bottom = 30.0
        let times = device.episodes.flatMap { [$0.first, $0.last] } + device.decisions.map(\.at)
        guard let start = times.min(), let end = times.max() else { return "" }
        let span = Double(max(end - start, 1))
        let maxRate = max(device.episodes.map(rate).max() ?? 10, 10)
        let decades = max(1, Int(Foundation.log10(maxRate).rounded(.up)))
        func x(_ time: Int64) -> Double { left + (width - left - 10) * Double(time - start) / span }
        func y(_ value: Double) -> Double {
            let clamped = max(value, 1)
            return (height - bottom) - (height - bottom - 10) * min(Foundation.log10(clamped) / Double(decades), 1)
        }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"event rate over time\">\n"
        for decade in 0...decades {
            let level = y(pow10(decade))
            svg += "<line x1=\"\(left)\" y1=\"\(level)\" x2=\"\(width - 10)\" y2=\"\(level)\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(left - 6)\" y=\"\(level + 4)\" font-size=\"10\" text-anchor=\"end\">\(label(pow10(decade)))/s</text>\n"
        }
        for tick in 0...4 {
            let time = start + Int64(Double(tick) / 4 * span)
            svg +=
                "<text x=\"\(x(time))\" y=\"\(height - 10)\" font-size=\"10\" text-anchor=\"middle\">\(seconds(time))s</text>\n"
        }
        let colours = ["#2b6cb0", "#d69e2e", "#38a169", "#805ad5", "#dd6b20"]
        let classes = Array(Set(device.episodes.map(\.eventClass))).sorted()
        for episode in device.episodes {
            let colour = colours[(classes.firstIndex(of: episode.eventClass) ?? 0) % colours.count]
            let x0 = x(episode.first)
            let x1 = max(x(episode.last), x0 + 2)
            let top = y(rate(episode))
            svg +=
                "<rect x=\"\(x0)\" y=\"\(top)\" width=\"\(x1 - x0)\" height=\"\(max((height - bottom) - top, 1))\" "
                + "fill=\"\(colour)\" fill-opacity=\"0.6\"><title>\(escape(episode.eventClass.description)): \(episode.count)"
                + "\(episode.lowerBound ? "+" : "") events, \(seconds(episode.first))–\(seconds(episode.last)) s</title></rect>\n"
        }
        for decision in device.decisions where !(decision.action ?? "").hasPrefix("report storm") {
            let position = x(decision.at)
            let style = decision.recommendation ? "stroke=\"#999\" stroke-dasharray=\"4 3\"" : "stroke=\"#c53030\""
            svg +=
                "<line x1=\"\(position)\" y1=\"6\" x2=\"\(position)\" y2=\"\(height - bottom)\" \(style) stroke-width=\"1.5\">"
                + "<title>\(escape(decision.action ?? "")) at \(seconds(decision.at)) s</title></line>\n"
        }
        for (index, eventClass) in classes.enumerated() {
            svg +=
                "<rect x=\"\(left + 10 + Double(index) * 140)\" y=\"8\" width=\"10\" height=\"10\" fill=\"\(colours[index % colours.count])\"/>"
            svg +=
                "<text x=\"\(left + 24 + Double(index) * 140)\" y=\"17\" font-size=\"11\">\(escape(eventClass.description))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func episodeTable(_ episodes: [Journal.EpisodeRow]) -> String {
        guard !episodes.isEmpty else { return "" }
        var html =
            "<table><tr><th>class</th><th>first (s)</th><th>last (s)</th><th>events</th><th>rate</th><th>sample addresses</th></tr>\n"
        for episode in episodes {
            html +=
                "<tr><td>\(escape(episode.eventClass.description))</td><td class=\"num\">\(seconds(episode.first))</td>"
                + "<td class=\"num\">\(seconds(episode.last))</td><td class=\"num\">\(Count.grouped(episode.count))"
                + "\(episode.lowerBound ? "+" : "")</td><td class=\"num\">\(label(rate(episode)))/s</td>"
                + "<td>\(escape(episode.sampleAddresses))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    static func decisionTable(_ decisions: [Journal.DecisionEntry]) -> String {
        guard !decisions.isEmpty else { return "" }
        var html = "<table><tr><th>at (s)</th><th>action</th><th>why</th></tr>\n"
        for decision in decisions {
            let action = decision.actionText ?? ""
            html +=
                "<tr><td class=\"num\">\(seconds(decision.at))</td><td>\(decision.recommendation ? "recommended: " : "")"
                + "\(escape(action))</td><td>\(escape(decision.reason))</td></tr>\n"
        }
        return html + "</table>\n"
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
