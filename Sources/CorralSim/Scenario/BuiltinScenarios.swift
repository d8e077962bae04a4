import CorralCore

/// The built-in scenarios: one per row of the mission, each a small machine a platform engineer
/// would recognise.
public enum BuiltinScenarios {
    public static let defaultName = "vtd-stray-dma-storm"

    static func pci(_ bus: UInt8, _ device: UInt8 = 0, _ function: UInt8 = 0) -> PCIAddress {
        PCIAddress(bus: bus, device: device, function: function)!
    }

    static let nic = pci(3)
    static let gpu = pci(1)
    static let nvme = pci(4)
    static let rootPort = pci(0, 0x1c)

    /// A capable PCIe endpoint: FLR, bus-master control, Transactions Pending, fault silencing.
    static func endpoint(
        _ address: PCIAddress, driver: DriverName?, serial: String? = nil, parent: PCIAddress? = nil,
        untrusted: Bool = false, ats: Bool = false, slotPower: Bool = false
    ) -> DeviceProfile {
        DeviceProfile(
            address: .pci(address), resetMethods: [.flr, .bus], transactionsPending: true, slotPowerControl: slotPower,
            faultSilencing: true, ats: ats, pri: ats, driver: driver, untrusted: untrusted,
            parent: parent.map { .pci($0) }, serial: serial.map(SerialNumber.init))
    }

    /// Healthy neighbours: a GPU and an NVMe drive doing their ordinary, fault-free work.
    static func neighbours(iommu: Int = 0) -> [SimDevice] {
        [
            SimDevice(profile: endpoint(gpu, driver: "amdgpu", serial: "GPU-0001"), iommu: iommu),
            SimDevice(profile: endpoint(nvme, driver: "nvme", serial: "S4EVNF0M900001"), iommu: iommu),
        ]
    }

    public static let all: [Scenario] = [
        Scenario(
            name: "vtd-stray-dma-storm",
            description:
                "A NIC's runaway DMA engine writes to unmapped addresses at 500,000/s behind Intel VT-d (8 fault recording registers). Corral silences it at the IOMMU, then stops its DMA and proves it quiet.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nic, driver: "ixgbe", serial: "00-1b-21-ff-fe-8a-10-00"),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 500_000)])
            ] + neighbours(),
            duration: .seconds(2)),
    ]

    public static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }
}
