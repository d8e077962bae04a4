import CorralCore

/// Which SMMU stream each PCI function masters with, read from the device tree the way the
/// kernel maps them (`of_map_id()` in drivers/of/base.c; binding:
/// Documentation/devicetree/bindings/pci/pci-iommu.txt).
///
/// A PCI host bridge node's `iommu-map` is a list of `(rid-base, iommu-phandle, iommu-base,
/// length)` entries, one 32-bit big-endian cell each (SMMUv3 has `#iommu-cells = <1>`): a
/// requester ID `rid` in `[rid-base, rid-base + length)` masters with stream ID
/// `iommu-base + rid - rid-base` on the SMMU whose node has that phandle. `iommu-map-mask`, when
/// present, is applied to the requester ID first. The SMMU is named as the kernel names its
/// platform device (`9050000.smmuv3`), which is the name its log lines carry.
///
/// On QEMU's `virt,iommu=smmuv3` the map is the identity over all 65,536 IDs, so edu at
/// 00:02.0 is stream 0x10 — the `event 0x10 received:` records of the arm64 proving ground.
/// ACPI systems describe the same thing in IORT, which sysfs does not expose: streams stay
/// unresolved there (reported as streams, never guessed).
public enum StreamMap {
    public static let deviceTree = "/sys/firmware/devicetree/base"

    public static func load(_ root: SysRoot, inventory: Inventory) -> [(stream: SMMUStream, device: PCIAddress)] {
        // phandle -> the SMMU's platform device name, through each platform device's of_node.
        var iommuByPhandle: [UInt32: IOMMUInstance] = [:]
        for name in root.list("/sys/bus/platform/devices") {
            if let phandle = cell(root.readBytes("/sys/bus/platform/devices/\(name)/of_node/phandle"), 0) {
                iommuByPhandle[phandle] = IOMMUInstance(name)
            }
        }
        guard !iommuByPhandle.isEmpty else { return [] }
        var mapped: [(SMMUStream, PCIAddress)] = []
        for node in hostBridges(root) {
            guard let map = root.readBytes("\(node)/iommu-map"), map.count >= 16 else { continue }
            let domain = cell(root.readBytes("\(node)/linux,pci-domain"), 0) ?? 0
            let mask = cell(root.readBytes("\(node)/iommu-map-mask"), 0) ?? 0xFFFF_FFFF
            for device in inventory.devices where device.address.segment == domain {
                let rid = UInt32(device.address.requesterID.rawValue) & mask
                for entry in 0..<(map.count / 16) {
                    guard let base = cell(map, entry * 4), let phandle = cell(map, entry * 4 + 1),
                        let streamBase = cell(map, entry * 4 + 2), let length = cell(map, entry * 4 + 3),
                        rid >= base, UInt64(rid) < UInt64(base) + UInt64(length),
                        let iommu = iommuByPhandle[phandle]
                    else { continue }
                    mapped.append(
                        (SMMUStream(iommu: iommu, streamID: StreamID(streamBase &+ (rid - base))), device.address))
                    break
                }
            }
        }
        return mapped
    }

    /// Device-tree nodes with an `iommu-map`: top-level nodes and their children (PCIe host
    /// bridges sit at the root on QEMU virt, under a bus node on most SoCs).
    static func hostBridges(_ root: SysRoot) -> [String] {
        var nodes: [String] = []
        for name in root.list(deviceTree) {
            let node = "\(deviceTree)/\(name)"
            if root.exists("\(node)/iommu-map") { nodes.append(node) }
            for child in root.list(node) where root.exists("\(node)/\(child)/iommu-map") {
                nodes.append("\(node)/\(child)")
            }
        }
        return nodes
    }

    /// The `index`th 32-bit big-endian cell of a property.
    static func cell(_ bytes: [UInt8]?, _ index: Int) -> UInt32? {
        guard let bytes, bytes.count >= (index + 1) * 4 else { return nil }
        let at = index * 4
        return UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8
            | UInt32(bytes[at + 3])
    }
}
