/// The engine's device records: a dense array, and a dictionary from address to slot.
///
/// Why not `[DeviceAddress: DeviceRecord]`: the per-event path updates one record several
/// times (count, detector, timer). Through a dictionary each update either copies the whole
/// record out and back (a few hundred bytes, and its arrays' reference counts) or goes through
/// `Dictionary`'s `_modify` coroutine, whose frame was heap-allocated (benchmarks/ANALYSIS.md
/// §1). Here the address is hashed once per event; the record is then updated in place in the
/// array (`records.storage[slot]`), with no copy and no allocation.
///
/// The dictionary-like API (`records[device]`, `removeValue(forKey:)`, `values`, `keys`)
/// keeps the engine's colder paths as they read. Removal swaps the last record into the
/// freed slot: a slot is valid until the next removal.
struct DeviceTable: Sendable {
    private var slots: [DeviceAddress: Int] = [:]
    /// The records, in no particular order. Mutate `storage[slot]` in place.
    var storage: ContiguousArray<DeviceRecord> = []
    /// The key of each slot (a record's `address` is its key too, but the table does not rely on it).
    private var addresses: ContiguousArray<DeviceAddress> = []

    var count: Int { storage.count }
    var values: ContiguousArray<DeviceRecord> { storage }
    var keys: [DeviceAddress] { Array(addresses) }

    /// The slot of `device`'s record, if it has one.
    func slot(of device: DeviceAddress) -> Int? { slots[device] }

    /// Adds the record of a device that has none yet, and returns its slot.
    mutating func insert(_ record: DeviceRecord, for device: DeviceAddress) -> Int {
        precondition(slots[device] == nil, "\(device) already has a record")
        let slot = storage.count
        storage.append(record)
        addresses.append(device)
        slots[device] = slot
        return slot
    }

    subscript(device: DeviceAddress) -> DeviceRecord? {
        get { slots[device].map { storage[$0] } }
        set {
            guard let newValue else {
                removeValue(forKey: device)
                return
            }
            if let slot = slots[device] {
                storage[slot] = newValue
            } else {
                _ = insert(newValue, for: device)
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey device: DeviceAddress) -> DeviceRecord? {
        guard let slot = slots.removeValue(forKey: device) else { return nil }
        let last = storage.count - 1
        if slot != last {
            storage.swapAt(slot, last)
            addresses.swapAt(slot, last)
            slots[addresses[slot]] = slot
        }
        addresses.removeLast()
        return storage.removeLast()
    }
}
