import CorralCore

/// Coalesces observations into episodes in fixed memory per (device, class): an episode ends
/// when its device has been quiet for `gap`. Pure — the journal writer persists what it holds.
public struct EpisodeBook: Sendable {
    public let gap: Int64
    /// The open episode per (subject, class).
    public private(set) var open: [Key: Episode] = [:]
    /// Episodes changed since the last `takeChanged()` (closed ones included).
    private var changed: [Key: Episode] = [:]
    private var closedChanged: [Episode] = []

    public struct Key: Hashable, Sendable {
        public var subject: Subject
        public var eventClass: ObservedClass
    }

    /// `gap`: nanoseconds of quiet that end an episode (default 60 s).
    public init(gap: Int64 = 60_000_000_000) { self.gap = gap }

    public mutating func add(_ observation: Observation) {
        let key = Key(subject: observation.subject, eventClass: observation.eventClass)
        if var episode = open[key], observation.at - episode.last <= gap, observation.at >= episode.first {
            episode.last = max(episode.last, observation.at)
            episode.count &+= observation.count
            episode.lowerBound = episode.lowerBound || observation.lowerBound
            if let address = observation.address, episode.sampleAddresses.count < Episode.maximumSamples,
                !episode.sampleAddresses.contains(address)
            {
                episode.sampleAddresses.append(address)
            }
            episode.statusUnion |= observation.status ?? 0
            episode.series.add(offset: observation.at - episode.first, count: observation.count)
            open[key] = episode
            changed[key] = episode
            return
        }
        if let previous = open[key] { closedChanged.append(previous) }
        var episode = Episode(
            subject: observation.subject, eventClass: observation.eventClass, first: observation.at,
            last: observation.at, count: observation.count, lowerBound: observation.lowerBound,
            sampleAddresses: observation.address.map { [$0] } ?? [], statusUnion: observation.status ?? 0)
        episode.series.add(offset: 0, count: observation.count)
        open[key] = episode
        changed[key] = episode
    }

    /// Marks every open episode of `subject` a lower bound (the kernel dropped some of its messages).
    public mutating func markLowerBound(_ subject: Subject) {
        for (key, var episode) in open where key.subject == subject && !episode.lowerBound {
            episode.lowerBound = true
            open[key] = episode
            changed[key] = episode
        }
    }

    /// What changed since the last call: to be written (upserted by subject, class, first).
    public mutating func takeChanged() -> [Episode] {
        defer {
            changed.removeAll(keepingCapacity: true)
            closedChanged.removeAll(keepingCapacity: true)
        }
        return closedChanged
            + changed.values.sorted { ($0.first, $0.subject, $0.eventClass) < ($1.first, $1.subject, $1.eventClass) }
    }

    public var hasChanges: Bool { !changed.isEmpty || !closedChanged.isEmpty }

    /// Puts episodes a failed write did not persist back among the changes (the open ones are
    /// re-read from the book, so only closed ones need keeping).
    public mutating func requeue(_ episodes: [Episode]) {
        for episode in episodes {
            let key = Key(subject: episode.subject, eventClass: episode.eventClass)
            if let current = open[key], current.first == episode.first {
                changed[key] = current
            } else {
                closedChanged.append(episode)
            }
        }
    }
}
