import CorralCore
import Foundation

/// One device's event rate over time in one run, as inline SVG: each episode's `RateSeries` as
/// a line on a log scale (so the drop after containment shows), each action a numbered marker
/// whose number the decision table repeats. Drawn in a fixed coordinate space (`viewBox`) that
/// scales with the page: every label is placed inside it (the first and last time labels
/// anchored at their ends, markers stacked in rows when they would overlap), so nothing is
/// clipped at any window size. The legend is HTML beside it, never over the data.
struct RateChart {
    struct Marker {
        var number: Int
        var at: Int64
        var recommendation: Bool
        var title: String
    }

    var episodes: [Journal.EpisodeRow]
    var markers: [Marker]
    /// Renders an x-axis time (`HH:MM:SS` of the wall clock, or seconds of virtual time).
    var axisLabel: (Int64) -> String

    static let width = 960.0
    static let left = 64.0
    static let right = 20.0
    static let markerRow = 20.0
    static let plotHeight = 170.0
    static let bottom = 30.0
    static let colours = ["#2b6cb0", "#d69e2e", "#38a169", "#805ad5", "#dd6b20", "#319795"]

    /// Colour of an event class, the same in the chart and its legend.
    static func colour(_ eventClass: ObservedClass, among classes: [ObservedClass]) -> String {
        colours[(classes.firstIndex(of: eventClass) ?? 0) % colours.count]
    }

    /// Points of an episode: the middle of each bucket at its rate; one point for an instant.
    static func points(_ episode: Journal.EpisodeRow) -> [(at: Int64, perSecond: Double)] {
        if let series = episode.series, !series.counts.isEmpty {
            var points = series.rates.map {
                (at: episode.first + $0.offset + series.width / 2, perSecond: $0.perSecond)
            }
            // The last bucket is only as long as the episode ran into it.
            if let last = points.last, last.at > episode.last {
                points[points.count - 1].at = max(episode.last, episode.first)
            }
            return points
        }
        // A journal older than schema v6: the episode's average, at its two ends.
        let span = max(episode.last - episode.first, 1_000_000)
        let rate = Double(episode.count) * 1e9 / Double(span)
        return episode.last > episode.first ? [(episode.first, rate), (episode.last, rate)] : [(episode.first, rate)]
    }

    func svg() -> String {
        let classes = Array(Set(episodes.map(\.eventClass))).sorted()
        let allPoints = episodes.map(Self.points)
        let times = allPoints.flatMap { $0.map(\.at) } + episodes.flatMap { [$0.first, $0.last] } + markers.map(\.at)
        guard let start = times.min(), let end = times.max() else { return "" }
        let span = Double(max(end - start, 1))
        // Marker rows: a marker closer than 22 units to the last one in a row goes to the next row.
        let plotWidth = Self.width - Self.left - Self.right
        func x(_ time: Int64) -> Double { Self.left + plotWidth * Double(time - start) / span }
        var rowEnds: [Double] = []
        var placed: [(Marker, row: Int)] = []
        for marker in markers.sorted(by: { ($0.at, $0.number) < ($1.at, $1.number) }) {
            let position = x(marker.at)
            let row = rowEnds.firstIndex { position - $0 >= 22 } ?? rowEnds.count
            if row == rowEnds.count { rowEnds.append(position) } else { rowEnds[row] = position }
            placed.append((marker, row))
        }
        let top = 8 + Double(max(rowEnds.count, 1)) * Self.markerRow
        let baseline = top + Self.plotHeight
        let height = baseline + Self.bottom
        let peak = max(allPoints.flatMap { $0.map(\.perSecond) }.max() ?? 10, 10)
        let decades = max(1, Int(Foundation.log10(peak).rounded(.up)))
        func y(_ rate: Double) -> Double {
            guard rate >= 1 else { return baseline }
            return baseline - Self.plotHeight * min(Foundation.log10(rate) / Double(decades), 1)
        }
        var svg =
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(Self.width)) \(Int(height.rounded(.up)))\" "
            + "role=\"img\" aria-label=\"event rate over time\" data-episodes=\"\(episodes.count)\">\n"
        for decade in 0...decades {
            let level = Self.format(y(HTMLReport.pow10(decade)))
            svg +=
                "<line x1=\"\(Int(Self.left))\" y1=\"\(level)\" x2=\"\(Int(Self.width - Self.right))\" y2=\"\(level)\" stroke=\"#e6e6e6\"/>"
            svg +=
                "<text x=\"\(Int(Self.left - 6))\" y=\"\(Self.format(y(HTMLReport.pow10(decade)) + 4))\" font-size=\"11\" "
                + "text-anchor=\"end\">\(HTMLReport.label(HTMLReport.pow10(decade)))/s</text>\n"
        }
        for tick in 0...4 {
            let time = start + Int64(Double(tick) / 4 * span)
            let anchor = tick == 0 ? "start" : tick == 4 ? "end" : "middle"
            svg +=
                "<text x=\"\(Self.format(x(time)))\" y=\"\(Self.format(height - 9))\" font-size=\"11\" "
                + "text-anchor=\"\(anchor)\">\(HTMLReport.escape(axisLabel(time)))</text>\n"
        }
        svg +=
            "<line x1=\"\(Int(Self.left))\" y1=\"\(Self.format(baseline))\" x2=\"\(Int(Self.width - Self.right))\" "
            + "y2=\"\(Self.format(baseline))\" stroke=\"#999\"/>\n"
        for (episode, points) in zip(episodes, allPoints) {
            let colour = Self.colour(episode.eventClass, among: classes)
            let title =
                "<title>\(HTMLReport.escape(episode.eventClass.description)): \(Count.grouped(episode.count))"
                + "\(episode.lowerBound ? "+" : "") events</title>"
            if points.count == 1, let point = points.first {
                svg +=
                    "<circle class=\"series\" data-points=\"1\" cx=\"\(Self.format(x(point.at)))\" cy=\"\(Self.format(y(point.perSecond)))\" "
                    + "r=\"3.5\" fill=\"\(colour)\">\(title)</circle>\n"
            } else {
                let path = points.map { "\(Self.format(x($0.at))),\(Self.format(y($0.perSecond)))" }.joined(
                    separator: " ")
                svg +=
                    "<polyline class=\"series\" data-points=\"\(points.count)\" points=\"\(path)\" fill=\"none\" "
                    + "stroke=\"\(colour)\" stroke-width=\"1.8\" stroke-linejoin=\"round\">\(title)</polyline>\n"
            }
        }
        for (marker, row) in placed {
            let position = Self.format(x(marker.at))
            let centre = 8 + Double(row) * Self.markerRow + Self.markerRow / 2
            let colour = marker.recommendation ? "#888" : "#c53030"
            let dash = marker.recommendation ? " stroke-dasharray=\"4 3\"" : ""
            svg +=
                "<g class=\"marker\"><title>\(marker.number): \(HTMLReport.escape(marker.title))</title>"
                + "<line x1=\"\(position)\" y1=\"\(Self.format(centre + 8))\" x2=\"\(position)\" y2=\"\(Self.format(baseline))\" "
                + "stroke=\"\(colour)\" stroke-width=\"1.2\"\(dash)/>"
                + "<circle cx=\"\(position)\" cy=\"\(Self.format(centre))\" r=\"8\" fill=\"\(marker.recommendation ? "#fff" : colour)\" "
                + "stroke=\"\(colour)\"/>"
                + "<text x=\"\(position)\" y=\"\(Self.format(centre + 3.5))\" font-size=\"10\" text-anchor=\"middle\" "
                + "fill=\"\(marker.recommendation ? colour : "#fff")\">\(marker.number)</text></g>\n"
        }
        return svg + "</svg>\n"
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
