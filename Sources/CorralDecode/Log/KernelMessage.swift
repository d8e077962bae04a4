import CorralCore

/// A kernel message split the way `dev_printk()` builds it: `<driver> <device>: <text>`
/// (`pcieport 0000:00:1c.5: AER: ...`, `arm-smmu 15000000.iommu: ...`), or a `pr_fmt` prefix
/// (`DMAR: ...`) with no device.
struct KernelMessage {
    /// The whole message.
    let text: ByteText
    /// The dev_printk driver name (`pcieport`, `arm-smmu-v3`), if the message has one.
    let driver: ByteText?
    /// The dev_printk device name (`0000:00:1c.5`, `15000000.iommu`, `ivhd0`, `nvme0`).
    let deviceName: ByteText?
    /// The device name read as a PCI address (`0000:02:05.0:pcie24` → `0000:02:05.0`).
    let pci: PCIAddress?
    /// The text after `<driver> <device>: ` (the whole message when there is no emitter).
    let body: ByteText

    init(_ text: ByteText) {
        self.text = text
        let (first, afterFirst) = text.token(at: text.startIndex)
        let secondStart = text.skippingBlanks(from: afterFirst)
        let (second, afterSecond) = text.token(at: secondStart)
        if !first.isEmpty, first.last != 0x3A, first.first != 0x5B, second.count >= 2, second.last == 0x3A,
            first.allSatisfy({ $0.isLetter || $0.isDigit || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E })
        {
            driver = first
            deviceName = second.dropLast()
            pci = second.pciAddress(at: second.startIndex)?.0
            body = text[text.skippingBlanks(from: afterSecond)...]
        } else {
            driver = nil
            deviceName = nil
            pci = nil
            body = text
        }
    }

    /// The device name as an IOMMU instance name (SMMU messages come from the SMMU's device).
    var iommuInstance: IOMMUInstance? {
        guard let deviceName, pci == nil else { return nil }
        return IOMMUInstance(deviceName.string)
    }
}
