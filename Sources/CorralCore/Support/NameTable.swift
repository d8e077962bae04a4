import Synchronization

/// Names stored once per process and known by a small index.
///
/// The engine's per-event input (`DeviceEvent`) names IOMMU units and platform devices. Held as
/// `String`s, those names made every copy of an event a reference-counted copy (outlined value
/// witnesses, `swift_retain`/`release`: a third of the engine's time per event in
/// benchmarks/ANALYSIS.md §1). As indices into this table the same values are plain words:
/// copied with a move, compared with one instruction.
///
/// The table only grows: a name, once seen, keeps its index for the life of the process, so two
/// values are equal exactly when their names are. Its size is bounded by the distinct names the
/// process reads — the units and platform devices of a host, or of the logs it replays — which
/// the engine keeps a record for anyway.
final class NameTable: Sendable {
    private struct Storage {
        var indices: [String: UInt32] = [:]
        var names: [String] = []
    }

    private let storage = Mutex(Storage())

    /// The index of `name`, added if new.
    func index(of name: String) -> UInt32 {
        storage.withLock { storage in
            if let index = storage.indices[name] { return index }
            precondition(storage.names.count < Int(UInt32.max), "more than 2³² distinct names")
            let index = UInt32(storage.names.count)
            storage.names.append(name)
            storage.indices[name] = index
            return index
        }
    }

    /// The name at `index` (given out by `index(of:)` of this table).
    func name(at index: UInt32) -> String {
        storage.withLock { $0.names[Int(index)] }
    }

    /// IOMMU unit names (`dmar0`, `5040000.smmu`).
    static let iommus = NameTable()
    /// Platform device names (`a600000.usb`).
    static let platformDevices = NameTable()
}
