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

    static let sound = pci(0, 0x1f, 3)
    static let pf = pci(5)
    static let vf = pci(5, 0, 1)
    static let bridge = pci(6)
    static let legacy = pci(7, 1)
    static let thunderbolt = pci(8)

    /// The IDs of the usual devices, from the public PCI ID list: an Intel 82599 NIC, an AMD
    /// Navi 21 GPU, a Samsung PM981 NVMe drive (what `corral status` and the metrics name).
    static let knownIDs: [PCIAddress: PCIIDs.Key] = [
        nic: .init(vendor: 0x8086, device: 0x10fb), gpu: .init(vendor: 0x1002, device: 0x73bf),
        nvme: .init(vendor: 0x144d, device: 0xa808),
    ]

    public static let all: [Scenario] = defined.map { scenario in
        var scenario = scenario
        for index in scenario.devices.indices {
            if let address = scenario.devices[index].profile.address.pciAddress {
                scenario.devices[index].pciID = knownIDs[address]
            }
        }
        return scenario
    }

    static let defined: [Scenario] = [
        Scenario(
            name: "vtd-stray-dma-storm",
            description:
                "A NIC's runaway DMA engine writes to unmapped addresses at 500,000/s behind Intel VT-d (8 fault recording registers); a GPU and an NVMe drive carry on beside it.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nic, driver: "ixgbe", serial: "00-1b-21-ff-fe-8a-10-00"),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 500_000)])
            ] + neighbours(),
            duration: .milliseconds(1_500)),
        Scenario(
            name: "amd-readonly-write-storm",
            description:
                "A storage controller keeps writing through a read-only mapping at 300,000/s behind AMD-Vi (512-entry event log).",
            iommus: [.amdVi],
            devices: [
                SimDevice(
                    profile: endpoint(pci(2), driver: "mpt3sas", serial: "SAS-42"),
                    behaviours: [Behaviour(.readOnlyWrites, start: .milliseconds(50), rate: 300_000)])
            ] + neighbours(),
            duration: .milliseconds(1_200)),
        Scenario(
            name: "smmuv3-secure-access",
            description:
                "A PCIe accelerator behind an Arm SMMUv3 makes secure accesses to non-secure mappings at 200,000/s (permission faults in the event queue).",
            iommus: [.smmuv3],
            devices: [
                SimDevice(
                    profile: endpoint(pci(1), driver: "qaic", serial: "ACC-7"),
                    behaviours: [Behaviour(.secureAccess, start: .milliseconds(50), rate: 200_000)])
            ],
            duration: .milliseconds(1_200)),
        Scenario(
            name: "smmuv2-platform-no-quiesce",
            description:
                "A platform DMA engine (no PCI, stream ID 0x800) behind an SMMUv2 context bank faults at 200,000/s; it has no bus master to clear and no way to prove quiescence.",
            iommus: [.smmuv2],
            devices: [
                SimDevice(
                    profile: DeviceProfile(
                        address: .platform(PlatformDeviceName("fd5c0000.dma")), faultSilencing: true,
                        driver: "pl330"),
                    streamID: StreamID(0x800),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(50), rate: 200_000)])
            ],
            duration: .seconds(2)),
        Scenario(
            name: "shared-queue-overflow",
            description:
                "Two devices share one VT-d unit: a NIC's DMA engine floods its 8 fault recording registers at 4,000,000/s for 200 ms while a sound card makes 25 rare stray accesses. The quiet one's faults must still be seen.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nic, driver: "ixgbe"),
                    behaviours: [
                        Behaviour(.strayDMA, start: .milliseconds(100), rate: 4_000_000, duration: .milliseconds(200))
                    ]),
                SimDevice(
                    profile: DeviceProfile(address: .pci(sound), resetMethods: [.flr], driver: "snd_hda_intel"),
                    behaviours: [
                        Behaviour(.strayDMA, start: .milliseconds(110), rate: 500, duration: .milliseconds(50))
                    ]),
            ],
            duration: .milliseconds(1_200)),
        Scenario(
            name: "relapse-then-retire",
            description:
                "A device whose storm comes back every time it is re-enabled: contained, re-enabled after probation with backoff, again and again, until its 6th containment within the hour retires it.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nic, driver: "ixgbe", serial: "RELAPSE-1"),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 200_000, relapses: 10)])
            ],
            duration: .seconds(35)),
        Scenario(
            name: "busmaster-cycle-reenable",
            description:
                "A NIC storms and is stopped; its driver later re-initialises it (a bus-master disable/enable cycle), which Corral takes as the sign to let it back.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nic, driver: "ixgbe"),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 200_000)],
                    happenings: [Happening(.busMasterCycle, at: .milliseconds(1_500))])
            ],
            duration: .seconds(5)),
        Scenario(
            name: "child-reenable",
            description:
                "An SR-IOV physical function storms and is stopped; when its virtual function is enabled again by its driver, the parent is re-enabled too.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: DeviceProfile(
                        address: .pci(pf), resetMethods: [.flr], transactionsPending: true, faultSilencing: true,
                        driver: "ice", children: [.pci(vf)]),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 200_000)],
                    happenings: [Happening(.childEnabled, at: .milliseconds(1_500))]),
                SimDevice(
                    profile: DeviceProfile(
                        address: .pci(vf), resetMethods: [.flr], transactionsPending: true, driver: "iavf",
                        parent: .pci(pf))),
            ],
            duration: .seconds(5)),
        Scenario(
            name: "gpu-page-requests",
            description:
                "A GPU using shared virtual addressing behind an SMMUv3 in stall mode makes 100,000 recoverable page faults per second: legitimate traffic that must never be contained.",
            iommus: [.smmuv3],
            devices: [
                SimDevice(
                    profile: endpoint(gpu, driver: "amdgpu", ats: true),
                    behaviours: [Behaviour(.pageRequests, start: .milliseconds(50), rate: 100_000)])
            ],
            duration: .seconds(1)),
        Scenario(
            name: "thunderbolt-malicious",
            description:
                "A device behind an external-facing (Thunderbolt) port scans memory at only 2,000 accesses/s: untrusted devices get strict thresholds.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(thunderbolt, driver: "unknown-tb", untrusted: true),
                    behaviours: [Behaviour(.scanning, start: .milliseconds(100), rate: 2_000)])
            ] + neighbours(),
            duration: .seconds(2)),
        Scenario(
            name: "driverless-dma",
            description:
                "A conventional-PCI capture card behind a PCIe-to-PCI bridge does DMA with no driver bound; its faults carry the bridge's requester ID (a DMA alias) and a device without a driver gets strict thresholds.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: DeviceProfile(address: .pci(legacy), resetMethods: [.bus], driver: nil),
                    requesterID: bridge.requesterID,
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 1_000)]),
                SimDevice(
                    profile: DeviceProfile(
                        address: .pci(bridge), resetMethods: [.bus], faultSilencing: true, driver: nil,
                        children: [.pci(legacy)])),
            ],
            aliasGroups: [(bridge: bridge, members: [legacy])],
            duration: .seconds(2)),
        Scenario(
            name: "broken-busmaster",
            description:
                "A device that ignores the bus-master clear: Transactions Pending never clears, so Corral escalates to a function-level reset.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nic, driver: "ixgbe"),
                    behaviours: [
                        Behaviour(.strayDMA, start: .milliseconds(100), rate: 200_000, obeysBusMaster: false)
                    ])
            ],
            duration: .seconds(4)),
        Scenario(
            name: "nvme-surprise-removal",
            description:
                "An NVMe drive is pulled from its hot-plug bay: link down, DPC, then 2,000 stray faults from its old requester ID that must not count against it; the same drive (same serial) goes back in.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: DeviceProfile(
                        address: .pci(nvme), resetMethods: [.flr], transactionsPending: true, slotPowerControl: true,
                        faultSilencing: true, driver: "nvme", parent: .pci(rootPort),
                        serial: SerialNumber("S4EVNF0M912345")),
                    happenings: [
                        Happening(.surpriseRemoval(faultsAfter: 2_000), at: .seconds(1)),
                        Happening(.reinsertion, at: .seconds(3)),
                    ]),
                SimDevice(profile: DeviceProfile(address: .pci(rootPort), driver: "pcieport", children: [.pci(nvme)])),
            ],
            duration: .seconds(4)),
        Scenario(
            name: "aer-correctable-flood",
            description:
                "A marginal link reports 5,000 correctable AER errors per second: reported and rate-limited, never contained (the link corrected them).",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(nvme, driver: "nvme"),
                    behaviours: [Behaviour(.aerCorrected, start: .milliseconds(100), rate: 5_000)])
            ],
            duration: .seconds(2)),
        Scenario(
            name: "intx-storm",
            description:
                "A legacy INTx line nobody acknowledges fires 200,000 times a second and asserts again whenever it is unmasked; the kernel gives up after 100,000 unhandled interrupts, Corral after its first 10 ms sample of /proc/interrupts, then resets the device.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(sound, driver: "snd_hda_intel"),
                    behaviours: [
                        Behaviour(
                            .intxStorm, start: .milliseconds(100), rate: 200_000, obeysBusMaster: false, relapses: 3)
                    ])
            ],
            duration: .seconds(2)),
        Scenario(
            name: "vfio-owner",
            description:
                "Two NICs passed to VMs through vfio-pci storm in turn: the first VMM stops its device when told, the second never answers and Corral contains it after the owner's deadline.",
            iommus: [.vtd],
            devices: [
                SimDevice(
                    profile: endpoint(pci(9), driver: .vfioPCI),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(100), rate: 50_000)],
                    ownerResponds: true),
                SimDevice(
                    profile: endpoint(pci(10), driver: .vfioPCI),
                    behaviours: [Behaviour(.strayDMA, start: .milliseconds(500), rate: 50_000)],
                    ownerResponds: false),
            ],
            duration: .seconds(7)),
    ]

    public static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }
}
