import NIOConcurrencyHelpers
import NIOCore

/// The open connections of one server, oldest first, and whether each has a request in
/// progress: the connection cap of `HTTPLimits` and who makes room for a newcomer.
final class ConnectionTable: Sendable {
    struct Entry {
        let id: ObjectIdentifier
        let channel: any Channel
        var busy: Bool
    }

    let capacity: Int
    private let entries = NIOLockedValueBox<[Entry]>([])

    init(capacity: Int) {
        self.capacity = capacity
    }

    enum Admission {
        case admitted
        /// Admitted after closing this idle connection.
        case admittedByEvicting(any Channel)
        /// Every connection is mid-request: the newcomer is refused.
        case refused
    }

    func admit(_ channel: any Channel) -> Admission {
        entries.withLockedValue { entries in
            var evicted: (any Channel)?
            if entries.count >= capacity {
                guard let oldestIdle = entries.firstIndex(where: { !$0.busy }) else { return .refused }
                evicted = entries.remove(at: oldestIdle).channel
            }
            entries.append(Entry(id: ObjectIdentifier(channel), channel: channel, busy: false))
            return evicted.map { .admittedByEvicting($0) } ?? .admitted
        }
    }

    func setBusy(_ channel: any Channel, _ busy: Bool) {
        entries.withLockedValue { entries in
            if let index = entries.firstIndex(where: { $0.id == ObjectIdentifier(channel) }) {
                entries[index].busy = busy
            }
        }
    }

    func remove(_ channel: any Channel) {
        entries.withLockedValue { entries in entries.removeAll { $0.id == ObjectIdentifier(channel) } }
    }

    var count: Int { entries.withLockedValue { $0.count } }
}
