import CorralCore

/// Human output: a timeline line per decision and a device table.
enum TextReport {
    static func decision(_ decision: Decision) -> String {
        var mark = "  "
        switch decision.action {
        case .recommend?: mark = "? "
        case .reportStorm?: mark = "~ "
        case .some: mark = "! "
        case nil: mark = "  "
        }
        return "\(pad(decision.at.description, 15)) \(mark)\(decision.reason)"
    }

    static func deviceTable(_ devices: [DeviceStatus]) -> String {
        var rows = [["DEVICE", "STATE", "DMA FAULTS", "OTHER", "IGNORED", "CONTAINED/WINDOW", "LADDER"]]
        for device in devices {
            let faults = device.totals[.dmaFault].map { Count.grouped($0) + (device.lowerBound ? "+" : "") } ?? "0"
            let other = device.totals.filter { $0.key != .dmaFault }.map { "\($0.key) \(Count.grouped($0.value))" }
                .sorted().joined(separator: ", ")
            let ignored = [
                device.ignoredRecoverable > 0 ? "\(Count.grouped(device.ignoredRecoverable)) recoverable" : nil,
                device.ignoredAfterRemoval > 0 ? "\(Count.grouped(device.ignoredAfterRemoval)) after removal" : nil,
            ].compactMap { $0 }.joined(separator: ", ")
            rows.append([
                device.address.description, device.state.name + (device.shadow ? " (shadow)" : ""), faults,
                other.isEmpty ? "-" : other, ignored.isEmpty ? "-" : ignored,
                "\(device.containmentsInWindow)", device.ladder.description,
            ])
        }
        return TextTable.lines(rows).joined(separator: "\n")
            + "\n(+: lower bound — some events were lost to rate limiting or queue overflow)"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
