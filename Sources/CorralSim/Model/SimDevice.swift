import CorralCore

/// One simulated device: what it is (its `DeviceProfile`: capabilities, driver, serial), where
/// it sits (IOMMU, requester ID or stream), what it does (`behaviours`, `happenings`), and the
/// state the hardware and the actions leave it in.
public struct SimDevice: Sendable {
    public var profile: DeviceProfile
    /// Index of its IOMMU in the topology.
    public var iommu: Int
    /// The ID its transactions carry: its requester ID (or its bridge's, for DMA aliases).
    public var requesterID: RequesterID?
    /// SMMU stream ID (platform devices; PCI devices behind an SMMU use their RID).
    public var streamID: StreamID?
    public var behaviours: [Behaviour]
    public var happenings: [Happening]
    /// A vfio-pci owner (VMM): whether it answers a storm notification by stopping the device.
    public var ownerResponds: Bool?
    /// What its driver mapped: faults come from looking its transactions up here.
    public var domain: IOMMUDomain
    /// Its PCI vendor and device IDs, for the journal's inventory (names in status, the
    /// metrics' `model` label); nil where a scenario does not say.
    public var pciID: PCIIDs.Key? = nil

    // State.
    var busMaster = true
    var silenced = false
    var blocked = false
    var intxDisabled = false
    var present = true
    var resettingUntil: Instant?
    var frozen = false
    var retired = false
    /// Relapses left per behaviour.
    var relapsesLeft: [Int]
    /// Behaviours currently producing events.
    var active: [Bool]
    var activeUntil: [Instant?]
    /// When bus master was cleared while transactions were still draining.
    var drainedAt: Instant?

    public init(
        profile: DeviceProfile, iommu: Int = 0, requesterID: RequesterID? = nil, streamID: StreamID? = nil,
        behaviours: [Behaviour] = [], happenings: [Happening] = [], ownerResponds: Bool? = nil,
        domain: IOMMUDomain = .standard
    ) {
        self.domain = domain
        self.profile = profile
        self.iommu = iommu
        self.requesterID = requesterID ?? profile.address.pciAddress?.requesterID
        self.streamID = streamID
        self.behaviours = behaviours
        self.happenings = happenings
        self.ownerResponds = ownerResponds
        relapsesLeft = behaviours.map(\.relapses)
        active = behaviours.map { _ in false }
        activeUntil = behaviours.map { _ in nil }
    }

    public var address: DeviceAddress { profile.address }

    /// A device with no misbehaviour: anything done to it disturbs a healthy device.
    public var isHealthy: Bool { !behaviours.contains(where: \.isMisbehaviour) && happenings.isEmpty }

    /// Whether its DMA reaches the IOMMU now.
    func issuesDMA(_ behaviour: Behaviour, at now: Instant) -> Bool {
        guard present, !frozen, !retired else { return false }
        if let until = resettingUntil, now < until { return false }
        if !busMaster && behaviour.obeysBusMaster { return false }
        return true
    }
}
