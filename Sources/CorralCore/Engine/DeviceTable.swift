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
    /// PCI functions (nearly every device) are found without `Hasher` (SipHash was a fifth of
    /// the engine's time per event); streams and platform devices by dictionary.
    private var pciSlots = PCISlotIndex()
    private var otherSlots: [DeviceAddress: Int] = [:]
    /// The last stream or platform device found (a storm is one device, event after event):
    /// comparing its address is cheaper than hashing an SMMU instance name per event.
    private var lastOther: (device: DeviceAddress, slot: Int)?
    /// The records, in no particular order. Mutate `storage[slot]` in place.
    var storage: ContiguousArray<DeviceRecord> = []
    /// The key of each slot (a record's `address` is its key too, but the table does not rely on it).
    private var addresses: ContiguousArray<DeviceAddress> = []

    var count: Int { storage.count }
    var values: ContiguousArray<DeviceRecord> { storage }
    var keys: [DeviceAddress] { Array(addresses) }

    /// The slot of `device`'s record, if it has one.
    @inline(__always)
    func slot(of device: DeviceAddress) -> Int? {
        if case .pci(let address) = device { return pciSlots[address] }
        return otherSlots[device]
    }

    /// `slot(of:)` for the per-event path: remembers a stream or platform device's slot.
    @inline(__always)
    mutating func find(_ device: DeviceAddress) -> Int? {
        if case .pci(let address) = device { return pciSlots[address] }
        if let last = lastOther, last.device == device { return last.slot }
        let slot = otherSlots[device]
        if let slot { lastOther = (device, slot) }
        return slot
    }

    private mutating func setSlot(_ slot: Int?, for device: DeviceAddress) {
        if case .pci(let address) = device {
            pciSlots[address] = slot
        } else {
            otherSlots[device] = slot
            lastOther = nil
        }
    }

    /// Adds the record of a device that has none yet, and returns its slot.
    mutating func insert(_ record: DeviceRecord, for device: DeviceAddress) -> Int {
        precondition(slot(of: device) == nil, "\(device) already has a record")
        let slot = storage.count
        storage.append(record)
        addresses.append(device)
        setSlot(slot, for: device)
        return slot
    }

    subscript(device: DeviceAddress) -> DeviceRecord? {
        get { slot(of: device).map { storage[$0] } }
        set {
            guard let newValue else {
                removeValue(forKey: device)
                return
            }
            if let slot = slot(of: device) {
                storage[slot] = newValue
            } else {
                _ = insert(newValue, for: device)
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey device: DeviceAddress) -> DeviceRecord? {
        guard let slot = slot(of: device) else { return nil }
        setSlot(nil, for: device)
        let last = storage.count - 1
        if slot != last {
            storage.swapAt(slot, last)
            addresses.swapAt(slot, last)
            setSlot(slot, for: addresses[slot])
        }
        addresses.removeLast()
        return storage.removeLast()
    }
}

/// PCI address → slot, open addressing with linear probing and a multiplicative hash of the
/// address packed in one word (segment, bus, devfn). Deletions leave tombstones; the table is
/// rebuilt when they and the entries fill half of it.
struct PCISlotIndex: Sendable {
    private static let empty: UInt64 = 0
    private static let tombstone: UInt64 = 1
    /// `key(address)`: never 0 or 1.
    private var keys: [UInt64] = Array(repeating: 0, count: 16)
    private var values: [Int32] = Array(repeating: 0, count: 16)
    private var used = 0  // entries plus tombstones

    @inline(__always)
    private static func key(_ address: PCIAddress) -> UInt64 {
        (UInt64(address.segment) << 16 | UInt64(address.requesterID.rawValue)) &+ 2
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & (keys.count - 1)
    }

    subscript(address: PCIAddress) -> Int? {
        @inline(__always) get {
            let key = Self.key(address)
            return keys.withUnsafeBufferPointer { keys in
                // The table is never full (rebuilt at half), so the probe ends at an empty slot.
                var index = home(key)
                while true {
                    let found = keys[index]
                    if found == key { return Int(values[index]) }
                    if found == Self.empty { return nil }
                    index = (index + 1) & (keys.count - 1)
                }
            }
        }
        set {
            let key = Self.key(address)
            var index = home(key)
            var firstFree: Int?
            while true {
                let found = keys[index]
                if found == key {
                    if let newValue {
                        values[index] = Int32(newValue)
                    } else {
                        keys[index] = Self.tombstone
                    }
                    return
                }
                if found == Self.tombstone, firstFree == nil { firstFree = index }
                if found == Self.empty { break }
                index = (index + 1) & (keys.count - 1)
            }
            guard let newValue else { return }
            if let reuse = firstFree {
                keys[reuse] = key
                values[reuse] = Int32(newValue)
                return
            }
            keys[index] = key
            values[index] = Int32(newValue)
            used += 1
            if used * 2 > keys.count { rebuild() }
        }
    }

    /// Doubles the table (or rebuilds it at its size when most of it is tombstones).
    private mutating func rebuild() {
        let live = zip(keys, values).filter { $0.0 > Self.tombstone }
        let size = live.count * 4 > keys.count ? keys.count * 2 : keys.count
        keys = Array(repeating: Self.empty, count: size)
        values = Array(repeating: 0, count: size)
        used = 0
        for (key, value) in live {
            var index = home(key)
            while keys[index] != Self.empty { index = (index + 1) & (size - 1) }
            keys[index] = key
            values[index] = value
            used += 1
        }
    }
}
