import CorralCore

/// A simulated machine and what goes wrong on it.
public struct Scenario: Sendable {
    public enum IOMMUKind: String, Sendable, CaseIterable {
        case vtd
        case amdVi = "amd-vi"
        case smmuv3, smmuv2
    }

    public var name: String
    public var description: String
    /// The IOMMU units (index = `SimDevice.iommu`).
    public var iommus: [IOMMUKind]
    public var devices: [SimDevice]
    /// Groups of devices that share a requester ID (behind a PCIe-to-PCI bridge): DMA aliases.
    public var aliasGroups: [(bridge: PCIAddress, members: [PCIAddress])]
    public var duration: Duration
    /// When Corral's daemon starts (nil: before anything happens). What happened before waits in
    /// the kernel's log and is read at the start as a backlog: history, never acted on.
    public var daemonStart: Duration?
    /// Times the daemon's loop stalls (a sysfs write that hangs, a slow journal): what happens
    /// meanwhile waits in the kernel's log and is read, each event at its own time, when the
    /// loop turns again — live evidence, read late.
    public var daemonStalls: [(at: Duration, duration: Duration)] = []
    /// Engine policy adjustments this scenario needs (e.g. a short probation to show relapses).
    public var policy: Policy

    public init(
        name: String, description: String, iommus: [IOMMUKind], devices: [SimDevice],
        aliasGroups: [(bridge: PCIAddress, members: [PCIAddress])] = [], duration: Duration,
        policy: Policy = Policy()
    ) {
        self.name = name
        self.description = description
        self.iommus = iommus
        self.devices = devices
        self.aliasGroups = aliasGroups
        self.duration = duration
        self.policy = policy
    }

    /// When the first misbehaviour starts.
    public var onset: Instant? {
        let starts =
            devices.flatMap { $0.behaviours.filter(\.isMisbehaviour).map(\.start) }
            + devices.flatMap { $0.happenings.map(\.at) }
        return starts.min().map { Instant.zero + $0 }
    }

    func makeIOMMU(_ index: Int) -> any SimIOMMU {
        switch iommus[index] {
        case .vtd: VTdModel(instance: IOMMUInstance("dmar\(index)"))
        case .amdVi: AMDViModel(instance: IOMMUInstance("ivhd\(index)"))
        case .smmuv3: SMMUv3Model(instance: IOMMUInstance("arm-smmu-v3.\(index).auto"))
        case .smmuv2: SMMUv2Model(instance: IOMMUInstance("arm-smmu.\(index).auto"))
        }
    }
}
