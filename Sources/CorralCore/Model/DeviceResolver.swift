/// Maps what an IOMMU recorded (a requester ID, an SMMU stream) to the device to hold
/// accountable.
///
/// Several functions can share one requester ID: everything behind a PCIe-to-PCI bridge
/// masters with the bridge's ID (`pci_for_each_dma_alias()`), and some devices use quirk
/// aliases. Such faults cannot be pinned on one function, so they are held against the alias
/// group's accountable device — the bridge when there is one, whose bus-master bit gates the
/// whole group — and the decision names every member.
public struct DeviceResolver: Hashable, Sendable {
    /// Devices sharing one requester ID.
    public struct AliasGroup: Hashable, Sendable {
        public var members: [DeviceAddress]
        /// The device to act on for the whole group.
        public var accountable: DeviceAddress
        public init(members: [DeviceAddress], accountable: DeviceAddress) {
            self.members = members
            self.accountable = accountable
        }
    }

    /// The answer for one fault source.
    public struct Attribution: Hashable, Sendable {
        public var device: DeviceAddress
        /// Set when the source was an alias shared by several devices.
        public var aliasGroup: AliasGroup?
    }

    private var aliases: [AliasKey: AliasGroup] = [:]
    private var streams: [SMMUStream: DeviceAddress] = [:]

    private struct AliasKey: Hashable, Sendable {
        var segment: UInt32
        var requester: RequesterID
    }

    public init() {}

    /// Declares that `members` all master with `requester` on `segment`, to be contained
    /// through `accountable`.
    public mutating func registerAlias(
        segment: UInt32 = 0, requester: RequesterID, members: [DeviceAddress], accountable: DeviceAddress
    ) {
        aliases[AliasKey(segment: segment, requester: requester)] = AliasGroup(
            members: members, accountable: accountable)
    }

    /// Forgets every alias group (the inventory changed: they are registered anew).
    public mutating func removeAllAliases() { aliases.removeAll() }

    /// Declares which device owns an SMMU stream (DT `iommus`/`iommu-map`, IORT ID mappings).
    public mutating func registerStream(_ stream: SMMUStream, device: DeviceAddress) {
        streams[stream] = device
    }

    /// The device accountable for a fault from `source`. Unknown requester IDs name the PCI
    /// function with that ID; unknown streams stay streams.
    /// Inlined: it runs for every fault, and its answer returned through memory was read back
    /// before the store finished (a store-forwarding stall, ≈ 9 % of the engine's time per record).
    @inline(__always)
    public func resolve(_ source: FaultSource) -> Attribution {
        switch source {
        case .device(let device):
            return Attribution(device: device, aliasGroup: nil)
        case .requester(let segment, let requester):
            // Most machines have no aliases: no hashing then (this runs for every fault).
            if !aliases.isEmpty, let group = aliases[AliasKey(segment: segment, requester: requester)] {
                return Attribution(device: group.accountable, aliasGroup: group)
            }
            return Attribution(device: .pci(PCIAddress(segment: segment, requesterID: requester)), aliasGroup: nil)
        case .stream(let stream):
            return Attribution(device: (streams.isEmpty ? nil : streams[stream]) ?? .stream(stream), aliasGroup: nil)
        }
    }
}
