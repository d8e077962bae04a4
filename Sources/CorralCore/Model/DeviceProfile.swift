/// What the host knows about a device: what it can do, who owns it, where it sits.
///
/// The escalation ladder is chosen from this (``EscalationLadder``); an unknown device gets
/// ``DeviceProfile/unknown(_:)``, which assumes only what every device of its kind has.
public struct DeviceProfile: Hashable, Sendable {
    public var address: DeviceAddress
    /// Reset methods the kernel reports as usable (`reset_method`), any order.
    public var resetMethods: Set<ResetMethod>
    /// Bus Master Enable can be cleared (every PCI function; never a platform device).
    public var busMasterControl: Bool
    /// The device reports Transactions Pending (PCIe DevSta bit 5, or AF TP), so quiescence
    /// after clearing bus master can be *proved*, not assumed.
    public var transactionsPending: Bool
    /// The device's slot has power control (`/sys/bus/pci/slots/N/power`).
    public var slotPowerControl: Bool
    /// The device can be removed and rescanned through sysfs.
    public var removable: Bool
    /// The IOMMU can mute this device's fault reporting (FPD, DTE SA, CD.R, CFRE).
    public var faultSilencing: Bool
    /// Address Translation Services / Page Request Interface in use.
    public var ats: Bool
    public var pri: Bool
    public var driver: DriverName?
    /// Behind an external-facing port (Thunderbolt, `pci_dev->untrusted`): handled strictly.
    public var untrusted: Bool
    public var parent: DeviceAddress?
    public var children: [DeviceAddress]
    /// Another device sits on the same bus, so a secondary bus reset would hit it too.
    public var sharesBus: Bool
    public var serial: SerialNumber?
    /// Why the device is never acted on, only recommended for (root disk, console, the IOMMUs
    /// themselves, the policy); empty when it is not protected.
    public var protection: [ProtectionReason]
    /// Never acted on, only recommended. Setting it without a reason records `.policy`.
    public var protected: Bool {
        get { !protection.isEmpty }
        set {
            if !newValue {
                protection = []
            } else if protection.isEmpty {
                protection = [.policy]
            }
        }
    }
    /// The IOMMU unit translating for it, when known.
    public var iommu: IOMMUInstance?
    /// Its PCI class, when known (the inventory reads it): a recommendation to stop a display
    /// or storage controller says so in words.
    public var pciClass: PCIClass? = nil

    public init(
        address: DeviceAddress, resetMethods: Set<ResetMethod> = [], busMasterControl: Bool? = nil,
        transactionsPending: Bool = false, slotPowerControl: Bool = false, removable: Bool? = nil,
        faultSilencing: Bool = false, ats: Bool = false, pri: Bool = false, driver: DriverName? = nil,
        untrusted: Bool = false, parent: DeviceAddress? = nil, children: [DeviceAddress] = [],
        sharesBus: Bool = false, serial: SerialNumber? = nil, protected: Bool = false,
        iommu: IOMMUInstance? = nil
    ) {
        self.address = address
        self.resetMethods = resetMethods
        self.busMasterControl = busMasterControl ?? address.isPCI
        self.transactionsPending = transactionsPending
        self.slotPowerControl = slotPowerControl
        self.removable = removable ?? address.isPCI
        self.faultSilencing = faultSilencing
        self.ats = ats
        self.pri = pri
        self.driver = driver
        self.untrusted = untrusted
        self.parent = parent
        self.children = children
        self.sharesBus = sharesBus
        self.serial = serial
        self.protection = protected ? [.policy] : []
        self.iommu = iommu
    }

    /// A device Corral has no inventory for: a PCI function can have bus mastering cleared and
    /// be removed; nothing else is assumed. A platform master can only be blocked at the IOMMU.
    public static func unknown(_ address: DeviceAddress) -> DeviceProfile {
        DeviceProfile(address: address)
    }

    /// No driver bound: "a device with no driver should have no DMA" — handled strictly.
    public var driverless: Bool { driver == nil }
}
