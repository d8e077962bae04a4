import CorralCore

/// Everything that can happen at a moment of virtual time.
enum Agenda {
    /// A behaviour of a device begins (or begins again after a relapse).
    case behaviourStart(device: Int, behaviour: Int)
    /// The next transaction/interrupt/error of an active behaviour; `generation` retires
    /// chains that were paused and restarted.
    case tick(device: Int, behaviour: Int, generation: Int)
    /// A fault interrupt is taken for an IOMMU.
    case interrupt(iommu: Int)
    /// The handler finished a pass; what it read goes to the policy now.
    case handlerDone(iommu: Int, events: [DeviceEvent], overflowed: Bool)
    /// An action's effect takes hold and its outcome is reported.
    case actionDone(Action)
    /// The engine asked to be woken.
    case engineTimer
    /// Corral's daemon reads what waited in the kernel log: at its start (`Scenario.daemonStart`)
    /// or after a stall (`Scenario.daemonStalls`).
    case daemonReads
    /// A scripted happening (hot-plug, a driver's re-enable).
    case happening(device: Int, index: Int)
    /// Stray faults from a removed device's requester ID (in-flight DMA, ATS invalidations).
    case strayAfterRemoval(device: Int, remaining: Int)
    /// EEH: a frozen partitionable endpoint finishes recovery.
    case eehRecovered(device: Int)
    /// An event straight to the policy (AER, DPC, pciehp, irq storms, owner answers).
    case deliver(DeviceEvent)
    /// Corral samples /proc/interrupts (INTx storm detection).
    case interruptSample
}
