import CorralCore

/// What `/status` serves and `corral status --json` prints (one `DeviceStatus` per line):
/// every device the journal knows and every protected one. Encoded by `Codable`, so a device
/// name is always a JSON string, whatever bytes it holds (a hand-built `/status` once let a
/// crafted name inject fields).
public struct StatusDocument: Codable, Hashable, Sendable {
    public var devices: [DeviceStatus]

    public struct DeviceStatus: Codable, Hashable, Sendable {
        public var device: Subject
        /// The engine's state name; nil for a protected device the engine never saw.
        public var state: String?
        public var episodes: Int
        public var events: Int64
        public var nextDeadlineNS: Int64?
        /// `next_deadline_ns` as RFC 3339 in UTC, where the run had a wall clock.
        public var nextDeadlineUTC: String? = nil
        public var budgetLeft: Int?
        public var lastEpisode: LastEpisode?
        /// Why it is never written to (docs/safety.md); absent when it is not protected.
        public var protected: [String]?
        /// An operator's release journaled and not yet applied; absent when there is none.
        public var pendingRelease: PendingRelease?
        /// What the inventory said it is; absent when the journal has no inventory of it.
        public var identity: Identity? = nil

        enum CodingKeys: String, CodingKey {
            case device, state, episodes, events
            case nextDeadlineNS = "next_deadline_ns"
            case nextDeadlineUTC = "next_deadline_utc"
            case budgetLeft = "budget_left"
            case lastEpisode = "last_episode"
            case protected
            case pendingRelease = "pending_release"
            case identity
        }
    }

    /// `DeviceIdentity` with the names `pci.ids` gives (`DeviceNames`).
    public struct Identity: Codable, Hashable, Sendable {
        /// Four lowercase hex digits each, as `lspci -n` prints them.
        public var vendorID: String?
        public var deviceID: String?
        /// Vendor and device names from `pci.ids`, else the IDs.
        public var model: String?
        /// The class code (six hex digits) and its name.
        public var classCode: String?
        public var className: String?
        public var driver: String?
        public var slot: String?
        public var serial: String?

        enum CodingKeys: String, CodingKey {
            case vendorID = "vendor_id"
            case deviceID = "device_id"
            case model
            case classCode = "class_code"
            case className = "class_name"
            case driver, slot, serial
        }
    }

    public struct PendingRelease: Codable, Hashable, Sendable {
        public var id: Int64
        /// Who asked, as `corral release` journaled them (`OperatorIdentity`).
        public var by: String
        public var atUTCNS: Int64

        enum CodingKeys: String, CodingKey {
            case id, by
            case atUTCNS = "at_utc_ns"
        }
    }

    public struct LastEpisode: Codable, Hashable, Sendable {
        public var eventClass: ObservedClass
        public var firstNS: Int64
        public var lastNS: Int64
        /// `first_ns`/`last_ns` as RFC 3339 in UTC, where the run had a wall clock.
        public var firstUTC: String?
        public var lastUTC: String?
        public var count: Int64
        /// The count is a lower bound: the kernel or a full queue dropped some.
        public var lowerBound: Bool

        enum CodingKeys: String, CodingKey {
            case eventClass = "class"
            case firstNS = "first_ns"
            case lastNS = "last_ns"
            case firstUTC = "first_utc"
            case lastUTC = "last_utc"
            case count
            case lowerBound = "lower_bound"
        }
    }
}

extension Journal {
    /// The journal's devices (sorted) then the protected devices it has no rows for.
    public func statusDocument(names given: DeviceNames? = nil) throws(JournalError) -> StatusDocument {
        let names: DeviceNames
        if let given {
            names = given
        } else {
            names = try DeviceNames.load(self)
        }
        let summaries = try deviceSummaries()
        var releases: [Subject: StatusDocument.PendingRelease] = [:]
        for release in try pendingReleases() where releases[Subject(name: release.device)] == nil {
            releases[Subject(name: release.device)] = .init(id: release.id, by: release.by, atUTCNS: release.at)
        }
        let protected = Dictionary(
            try protectedDevices().map { (Subject(name: $0.device), $0.reasons) }, uniquingKeysWith: +)
        var devices = summaries.map { summary in
            StatusDocument.DeviceStatus(
                device: summary.device, state: summary.state, episodes: summary.episodes, events: summary.events,
                nextDeadlineNS: summary.nextDeadline,
                nextDeadlineUTC: summary.nextDeadlineUTC.map(TimeDisplay.utc.json), budgetLeft: summary.budgetLeft,
                lastEpisode: summary.lastEpisode.map {
                    .init(
                        eventClass: $0.eventClass, firstNS: $0.first, lastNS: $0.last,
                        firstUTC: $0.firstUTC.map(TimeDisplay.utc.json), lastUTC: $0.lastUTC.map(TimeDisplay.utc.json),
                        count: $0.count,
                        lowerBound: $0.lowerBound)
                }, protected: protected[summary.device], pendingRelease: releases[summary.device],
                identity: names.identity(summary.device))
        }
        let known = Set(summaries.map(\.device))
        for (device, reasons) in protected.sorted(by: { $0.key < $1.key }) where !known.contains(device) {
            devices.append(
                .init(
                    device: device, state: nil, episodes: 0, events: 0, protected: reasons,
                    identity: names.identity(device)))
        }
        return StatusDocument(devices: devices)
    }
}
