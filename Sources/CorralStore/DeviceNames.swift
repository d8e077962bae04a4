import CorralCore
import Foundation
import GRDB

/// What the inventory says a PCI function is, journaled beside its address (the `devices`
/// table) so `status`, `history` and reports name it — on another machine and after the device
/// has gone too (issue 17).
public struct DeviceIdentity: Hashable, Sendable {
    public var address: String
    public var vendorID: UInt16?
    public var deviceID: UInt16?
    /// `subsystem_vendor:subsystem_device`, as hex.
    public var subsystem: String?
    public var classCode: UInt32?
    public var serial: String?
    /// The slot's name (`/sys/bus/pci/slots/NAME`): what is printed on the chassis.
    public var slot: String?
    public var driver: String?

    public init(
        address: String, vendorID: UInt16? = nil, deviceID: UInt16? = nil, subsystem: String? = nil,
        classCode: UInt32? = nil, serial: String? = nil, slot: String? = nil, driver: String? = nil
    ) {
        self.address = address
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.subsystem = subsystem
        self.classCode = classCode
        self.serial = serial
        self.slot = slot
        self.driver = driver
    }
}

/// Names next to addresses, as `lspci` gives them: vendor and device from the system's
/// `pci.ids` (IDs alone when it is missing), then class, driver, slot and serial from the journal.
public struct DeviceNames: Sendable {
    /// Where distributions put `pci.ids` (Debian's `pci.ids` package, Fedora's `hwdata`), in
    /// `lspci`'s order.
    public static let pciIDsPaths = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"]

    public var identities: [Subject: DeviceIdentity]
    public var pciIDs: PCIIDs
    /// The `pci.ids` read, nil when none was found.
    public var pciIDsPath: String?

    public init(identities: [Subject: DeviceIdentity], pciIDs: PCIIDs = PCIIDs(), pciIDsPath: String? = nil) {
        self.identities = identities
        self.pciIDs = pciIDs
        self.pciIDsPath = pciIDsPath
    }

    /// The journal's identities, named from the first `pci.ids` of `paths` that can be read.
    public static func load(_ journal: Journal, pciIDsPaths paths: [String] = pciIDsPaths) throws(JournalError)
        -> DeviceNames
    {
        let identities = try journal.deviceIdentities()
        let wanted = Set(
            identities.values.compactMap { identity in
                identity.vendorID.map { PCIIDs.Key(vendor: $0, device: identity.deviceID ?? 0) }
            })
        guard !wanted.isEmpty else { return DeviceNames(identities: identities) }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            return DeviceNames(identities: identities, pciIDs: PCIIDs(parsing: data, wanted: wanted), pciIDsPath: path)
        }
        return DeviceNames(identities: identities)
    }

    /// `Samsung Electronics Co Ltd NVMe SSD Controller PM9A1/PM9A3/980PRO`, else
    /// `144d:a80a`; nil when the journal has no IDs for it.
    public func model(_ subject: Subject) -> String? {
        guard let identity = identities[subject], let vendor = identity.vendorID else { return nil }
        let device = identity.deviceID ?? 0
        return pciIDs.name(vendor: vendor, device: device)
            ?? "\(Hex.padded(vendor, width: 4)):\(Hex.padded(device, width: 4))"
    }

    /// The model, class, driver, slot and serial, as far as known:
    /// `NVIDIA Corporation GA102 [GeForce RTX 3090] · display controller · driver nvidia · slot 3`.
    public func describe(_ subject: Subject) -> String? {
        guard let identity = identities[subject] else { return nil }
        var parts: [String] = []
        if let model = model(subject) { parts.append(model) }
        if let code = identity.classCode { parts.append(PCIClass(code).description) }
        parts.append(identity.driver.map { "driver \($0)" } ?? "no driver")
        if let slot = identity.slot { parts.append("slot \(slot)") }
        if let serial = identity.serial { parts.append("serial \(serial)") }
        // The serial and the slot's name come from the device and the firmware.
        return TerminalText.safe(parts.joined(separator: " · "))
    }
}

extension DeviceNames {
    /// The JSON form of what is known about `subject` (`status --json`, `/status`).
    public func identity(_ subject: Subject) -> StatusDocument.Identity? {
        guard let identity = identities[subject] else { return nil }
        let code = identity.classCode.map(PCIClass.init)
        return StatusDocument.Identity(
            vendorID: identity.vendorID.map { Hex.padded($0, width: 4) },
            deviceID: identity.deviceID.map { Hex.padded($0, width: 4) }, model: model(subject),
            classCode: code.map { Hex.padded($0.rawValue, width: 6) }, className: code?.name, driver: identity.driver,
            slot: identity.slot, serial: identity.serial)
    }
}

extension Journal {
    /// What the inventory said each device was, as last journaled.
    public func deviceIdentities() throws(JournalError) -> [Subject: DeviceIdentity] {
        try read { db in
            var out: [Subject: DeviceIdentity] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT address, vendor_id, device_id, subsystem, class_code, serial, slot, driver FROM devices")
            {
                let vendor: Int64? = row[1]
                let device: Int64? = row[2]
                let classCode: Int64? = row[4]
                let identity = DeviceIdentity(
                    address: row[0], vendorID: vendor.map { UInt16(truncatingIfNeeded: $0) },
                    deviceID: device.map { UInt16(truncatingIfNeeded: $0) }, subsystem: row[3],
                    classCode: classCode.map { UInt32(truncatingIfNeeded: $0) }, serial: row[5], slot: row[6],
                    driver: row[7])
                out[Subject(name: identity.address)] = identity
            }
            return out
        }
    }
}
