import CorralCore

/// Polls the AER counters sysfs keeps per device (`aer_dev_correctable`, `aer_dev_nonfatal`,
/// `aer_dev_fatal`: Documentation/ABI/testing/sysfs-bus-pci-devices-aer_stats). They count every
/// error, printed or not (v6.16 ratelimits the log lines, not the statistics), so what they
/// counted beyond what the log showed in the interval is fed to the engine — never twice.
public struct AERCounters {
    static let files: [(String, String, AERSeverity)] = [
        ("aer_dev_correctable", "TOTAL_ERR_COR", .corrected),
        ("aer_dev_nonfatal", "TOTAL_ERR_NONFATAL", .nonFatal),
        ("aer_dev_fatal", "TOTAL_ERR_FATAL", .fatal),
    ]
    private var last: [PCIAddress: [AERSeverity: UInt64]] = [:]

    public init() {}

    static func total(_ text: String, key: String) -> UInt64? {
        text.split(separator: "\n").first { $0.hasPrefix(key + " ") }.flatMap { $0.split(separator: " ").last }
            .flatMap { UInt64($0) }
    }

    /// `logged`: AER errors per device and severity the log reported since the last poll.
    public mutating func poll(
        _ root: SysRoot, inventory: Inventory, logged: [PCIAddress: [AERSeverity: UInt64]]
    ) -> [DeviceEvent] {
        var events: [DeviceEvent] = []
        for device in inventory.devices {
            for (file, key, severity) in Self.files {
                guard let text = root.read("/sys/bus/pci/devices/\(device.address)/\(file)"),
                    let total = Self.total(text, key: key)
                else { continue }
                let previous = last[device.address]?[severity]
                last[device.address, default: [:]][severity] = total
                guard let previous, total > previous else { continue }
                let seen = logged[device.address]?[severity] ?? 0
                let hidden = total - previous
                guard hidden > seen else { continue }
                events.append(.aerError(AERError(device: device.address, severity: severity, count: hidden - seen)))
            }
        }
        return events
    }
}
