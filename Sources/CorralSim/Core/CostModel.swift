import CorralCore

/// What things cost in the simulator: CPU time of fault handling and how long actions take.
///
/// Every figure the simulator prints comes from this model, not from hardware. The defaults
/// are order-of-magnitude values from the sources named beside each; all are configurable.
public struct CostModel: Sendable, Hashable {
    /// Hard-IRQ entry and exit for a fault event interrupt (MSI), plus reading and clearing the
    /// status register: VT-d `dmar_fault()` runs as a hard IRQ (IRQF_NO_THREAD) and reads FSTS
    /// twice (reference/kernel-anchors.md §1.3). ~2 µs: interrupt entry/exit and two uncached
    /// MMIO reads of ~0.5 µs each.
    public var interrupt: Duration = .microseconds(2)
    /// Reading, decoding and clearing one fault record (2–4 uncached MMIO accesses, or one
    /// ring entry plus a head-pointer write): ~0.5 µs.
    public var record: Duration = .nanoseconds(500)
    /// One printk line to the log buffer and a console: ~20 µs (a serial console at 115200
    /// baud would take ~10 ms per line; a buffer-only console far less). Only the lines the
    /// 10-per-5-s ratelimit lets through are printed.
    public var printk: Duration = .microseconds(20)
    /// Corral's engine per event: O(1) bucket arithmetic, measured at several million events
    /// per second by `corral-bench`; 0.3 µs keeps a margin for the transport.
    public var engine: Duration = .nanoseconds(300)
    /// Latency from a fault to its interrupt being taken.
    public var interruptLatency: Duration = .microseconds(1)

    /// A config-space write (bus master, INTx disable): ~2 µs.
    public var configWrite: Duration = .microseconds(2)
    /// Changing an IOMMU context/DTE/STE/CD entry and invalidating its caches: ~10 µs.
    public var iommuEntryUpdate: Duration = .microseconds(10)
    /// Function-level reset: 100 ms mandatory wait (PCIe r4.0 §6.6.2, Linux `pcie_flr()`).
    public var functionReset: Duration = .milliseconds(100)
    /// Secondary bus reset / PM reset: Linux waits ~1 s for a bus reset to settle.
    public var busReset: Duration = .milliseconds(1_000)
    /// Slot power cycle: power off, wait, power on, link training: ~1.5 s.
    public var slotPowerCycle: Duration = .milliseconds(1_500)
    /// Removing a device (driver unbind, device release): ~10 ms.
    public var removal: Duration = .milliseconds(10)
    /// Transactions Pending polls: Linux `pci_wait_for_pending()` polls at 0, 100, 200, 400 ms.
    public var pendingPoll: Duration = .milliseconds(100)
    /// How long a device keeps outstanding transactions after bus master is cleared.
    public var drainTime: Duration = .microseconds(50)
    /// EEH: freeze to recovered (error_detected, reset, slot_reset, resume): ~1 s.
    public var eehRecovery: Duration = .milliseconds(1_000)

    public init() {}
}
