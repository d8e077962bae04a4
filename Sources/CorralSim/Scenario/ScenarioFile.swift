import CorralConfig
import CorralCore
import Yams

/// Reads a simulator ``Scenario`` from YAML (JSON is YAML too), with errors that name the file,
/// line, column and key — the same reader as policy files. The format is documented in
/// docs/simulator.md; `corral simulate FILE` runs it.
public enum ScenarioFile {
    public static func parse(_ text: String, file: String = "<scenario>") throws(ConfigFileError) -> Scenario {
        let root = try ConfigFileError.compose(text, file: file)
        guard let root else {
            throw ConfigFileError(file: file, line: nil, column: nil, key: "", problem: "empty scenario file")
        }
        var reader = try MappingReader(root, path: "", file: file)
        guard let nameNode = try reader.take("name") else {
            throw ConfigFileError(root, file, "name", "missing: every scenario needs a name")
        }
        let name = try PolicyFile.scalar(nameNode, "name", file)
        let description =
            try reader.take("description").map { n throws(ConfigFileError) in
                try PolicyFile.scalar(n, "description", file)
            } ?? "A scenario from \(file)."
        guard let durationNode = try reader.take("duration") else {
            throw ConfigFileError(root, file, "duration", "missing: how long to simulate (e.g. 2s)")
        }
        let duration = try PolicyFile.duration(durationNode, "duration", file)
        guard duration <= .seconds(3600) else {
            throw ConfigFileError(durationNode, file, "duration", "at most 1h of virtual time")
        }
        var iommus: [Scenario.IOMMUKind] = [.vtd]
        if let node = try reader.take("iommus") {
            iommus = try PolicyFile.list(node, "iommus", file).enumerated().map { index, item throws(ConfigFileError) in
                let text = try PolicyFile.scalar(item, "iommus[\(index)]", file)
                guard let kind = Scenario.IOMMUKind(rawValue: text) else {
                    let known = Scenario.IOMMUKind.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigFileError(item, file, "iommus[\(index)]", "'\(text)' is not an IOMMU (\(known))")
                }
                return kind
            }
            guard !iommus.isEmpty else { throw ConfigFileError(node, file, "iommus", "needs at least one IOMMU") }
        }
        guard let devicesNode = try reader.take("devices") else {
            throw ConfigFileError(root, file, "devices", "missing: the devices to simulate")
        }
        var devices: [SimDevice] = []
        for (index, node) in try PolicyFile.list(devicesNode, "devices", file).enumerated() {
            devices.append(try device(node, path: "devices[\(index)]", iommus: iommus.count, file: file))
        }
        var seen: Set<DeviceAddress> = []
        for (index, device) in devices.enumerated() where !seen.insert(device.address).inserted {
            throw ConfigFileError(devicesNode, file, "devices[\(index)].address", "\(device.address) appears twice")
        }
        try reader.finish(known: ["name", "description", "duration", "iommus", "devices"])
        var aliases: [PCIAddress: [PCIAddress]] = [:]
        for device in devices {
            guard let pci = device.address.pciAddress, let rid = device.requesterID, rid != pci.requesterID else {
                continue
            }
            aliases[PCIAddress(segment: pci.segment, requesterID: rid), default: []].append(pci)
        }
        return Scenario(
            name: name, description: description, iommus: iommus, devices: devices,
            aliasGroups: aliases.sorted { $0.key < $1.key }.map { (bridge: $0.key, members: $0.value) },
            duration: duration)
    }

    static func device(_ node: Node, path: String, iommus: Int, file: String) throws(ConfigFileError) -> SimDevice {
        var reader = try MappingReader(node, path: path, file: file)
        func text(_ key: String) throws(ConfigFileError) -> (String, Node)? {
            guard let n = try reader.take(key) else { return nil }
            return (try PolicyFile.scalar(n, "\(path).\(key)", file), n)
        }
        func flag(_ key: String, _ fallback: Bool) throws(ConfigFileError) -> Bool {
            guard let n = try reader.take(key) else { return fallback }
            return try PolicyFile.bool(n, "\(path).\(key)", file)
        }
        func pci(_ value: (String, Node), _ key: String) throws(ConfigFileError) -> PCIAddress {
            do throws(PCIAddressParseError) {
                return try PCIAddress(parsing: value.0)
            } catch {
                throw ConfigFileError(value.1, file, "\(path).\(key)", error.description)
            }
        }
        let address: DeviceAddress
        if let value = try text("address") {
            address = .pci(try pci(value, "address"))
        } else if let value = try text("platform") {
            address = .platform(PlatformDeviceName(value.0))
        } else {
            throw ConfigFileError(node, file, "\(path).address", "missing: a PCI address, or `platform:` with a name")
        }
        var resets: Set<ResetMethod> = []
        if let n = try reader.take("reset") {
            for (index, item) in try PolicyFile.list(n, "\(path).reset", file).enumerated() {
                let name = try PolicyFile.scalar(item, "\(path).reset[\(index)]", file)
                guard let method = ResetMethod(rawValue: name) else {
                    throw ConfigFileError(item, file, "\(path).reset[\(index)]", "'\(name)' is not a reset method")
                }
                resets.insert(method)
            }
        }
        let parent = try text("parent").map { v throws(ConfigFileError) in DeviceAddress.pci(try pci(v, "parent")) }
        var children: [DeviceAddress] = []
        if let n = try reader.take("children") {
            for (index, item) in try PolicyFile.list(n, "\(path).children", file).enumerated() {
                let value = try PolicyFile.scalar(item, "\(path).children[\(index)]", file)
                children.append(.pci(try pci((value, item), "children[\(index)]")))
            }
        }
        let profile = DeviceProfile(
            address: address, resetMethods: resets, busMasterControl: try flag("bus-master", address.isPCI),
            transactionsPending: try flag("transactions-pending", address.isPCI),
            slotPowerControl: try flag("slot-power", false), faultSilencing: try flag("fault-silencing", true),
            ats: try flag("ats", false), pri: try flag("ats", false),
            driver: try text("driver").map { DriverName($0.0) },
            untrusted: try flag("untrusted", false), parent: parent, children: children,
            serial: try text("serial").map { SerialNumber($0.0) })
        var iommu = 0
        if let n = try reader.take("iommu") {
            iommu = try PolicyFile.integer(n, "\(path).iommu", file, range: 0...(iommus - 1))
        }
        let requesterID = try text("requester-id").map { v throws(ConfigFileError) in
            try pci(v, "requester-id").requesterID
        }
        var stream: StreamID?
        if let (value, n) = try text("stream-id") {
            let digits = value.hasPrefix("0x") ? String(value.dropFirst(2)) : value
            guard let number = UInt32(digits, radix: value.hasPrefix("0x") ? 16 : 10) else {
                throw ConfigFileError(n, file, "\(path).stream-id", "'\(value)' is not a stream ID")
            }
            stream = StreamID(number)
        }
        let owner = try reader.take("owner-responds").map { n throws(ConfigFileError) in
            try PolicyFile.bool(n, "\(path).owner-responds", file)
        }
        var behaviours: [Behaviour] = []
        if let n = try reader.take("behaviours") {
            for (index, item) in try PolicyFile.list(n, "\(path).behaviours", file).enumerated() {
                behaviours.append(try behaviour(item, path: "\(path).behaviours[\(index)]", file: file))
            }
        }
        var happenings: [Happening] = []
        if let n = try reader.take("happenings") {
            for (index, item) in try PolicyFile.list(n, "\(path).happenings", file).enumerated() {
                happenings.append(try happening(item, path: "\(path).happenings[\(index)]", file: file))
            }
        }
        try reader.finish(known: [
            "address", "platform", "driver", "reset", "bus-master", "transactions-pending", "slot-power",
            "fault-silencing", "ats", "untrusted", "serial", "parent", "children", "iommu", "requester-id", "stream-id",
            "owner-responds", "behaviours", "happenings",
        ])
        return SimDevice(
            profile: profile, iommu: iommu, requesterID: requesterID, streamID: stream, behaviours: behaviours,
            happenings: happenings, ownerResponds: owner)
    }

    static func time(_ node: Node, _ key: String, _ file: String) throws(ConfigFileError) -> Duration {
        let text = try PolicyFile.scalar(node, key, file)
        if text == "0" || text == "0s" { return .zero }
        return try PolicyFile.duration(node, key, file)
    }

    static func behaviour(_ node: Node, path: String, file: String) throws(ConfigFileError) -> Behaviour {
        var reader = try MappingReader(node, path: path, file: file)
        guard let kindNode = try reader.take("kind") else {
            throw ConfigFileError(node, file, "\(path).kind", "missing: what the device does")
        }
        let kindText = try PolicyFile.scalar(kindNode, "\(path).kind", file)
        guard let kind = Behaviour.Kind(rawValue: kindText) else {
            let known = Behaviour.Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigFileError(kindNode, file, "\(path).kind", "'\(kindText)' is not a behaviour (\(known))")
        }
        guard let rateNode = try reader.take("rate") else {
            throw ConfigFileError(node, file, "\(path).rate", "missing: events per second")
        }
        let rate = try PolicyFile.integer(rateNode, "\(path).rate", file, range: 1...50_000_000)
        let start = try reader.take("start").map { n throws(ConfigFileError) in try time(n, "\(path).start", file) }
        let duration = try reader.take("duration").map { n throws(ConfigFileError) in
            try PolicyFile.duration(n, "\(path).duration", file)
        }
        let obeys = try reader.take("obeys-bus-master").map { n throws(ConfigFileError) in
            try PolicyFile.bool(n, "\(path).obeys-bus-master", file)
        }
        let relapses = try reader.take("relapses").map { n throws(ConfigFileError) in
            try PolicyFile.integer(n, "\(path).relapses", file, range: 0...1000)
        }
        let survives = try reader.take("survives-reset").map { n throws(ConfigFileError) in
            try PolicyFile.bool(n, "\(path).survives-reset", file)
        }
        try reader.finish(known: [
            "kind", "rate", "start", "duration", "obeys-bus-master", "relapses", "survives-reset",
        ])
        return Behaviour(
            kind, start: start ?? .zero, rate: Double(rate), duration: duration,
            obeysBusMaster: obeys ?? (kind != .intxStorm), relapses: relapses ?? 0, survivesReset: survives ?? false)
    }

    static func happening(_ node: Node, path: String, file: String) throws(ConfigFileError) -> Happening {
        var reader = try MappingReader(node, path: path, file: file)
        guard let kindNode = try reader.take("kind"), let atNode = try reader.take("at") else {
            throw ConfigFileError(node, file, path, "a happening needs `kind` and `at`")
        }
        let kindText = try PolicyFile.scalar(kindNode, "\(path).kind", file)
        let at = try time(atNode, "\(path).at", file)
        let kind: Happening.Kind
        switch kindText {
        case "surprise-removal":
            let faults = try reader.take("faults-after").map { n throws(ConfigFileError) in
                try PolicyFile.integer(n, "\(path).faults-after", file, range: 0...10_000_000)
            }
            kind = .surpriseRemoval(faultsAfter: faults ?? 0)
        case "reinsertion": kind = .reinsertion
        case "bus-master-cycle": kind = .busMasterCycle
        case "child-enabled": kind = .childEnabled
        default:
            throw ConfigFileError(
                kindNode, file, "\(path).kind",
                "'\(kindText)' is not a happening (surprise-removal, reinsertion, bus-master-cycle, child-enabled)")
        }
        try reader.finish(known: ["kind", "at", "faults-after"])
        return Happening(kind, at: at)
    }
}
