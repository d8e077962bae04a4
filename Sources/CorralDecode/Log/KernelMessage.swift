import CorralCore

/// A kernel message split the way `dev_printk()` builds it: `<driver> <device>: <text>`
/// (`pcieport 0000:00:1c.5: AER: ...`, `arm-smmu 15000000.iommu: ...`), or a `pr_fmt` prefix
/// (`DMAR: ...`) with no device.
struct KernelMessage {
    /// The whole message.
    let text: ByteText
    /// Where the `dev_printk` driver name ends and the device name starts and ends, and where
    /// the body starts: positions in `text`, so that a message holds one reference to count
    /// (every kernel line is made into one; the parts are sliced when asked for).
    private let driverEnd: Int
    private let deviceStart: Int
    private let deviceEnd: Int
    private let bodyStart: Int
    /// The device name read as a PCI address (`0000:02:05.0:pcie24` → `0000:02:05.0`).
    let pci: PCIAddress?

    /// The dev_printk driver name (`pcieport`, `arm-smmu-v3`), if the message has one.
    var driver: ByteText? { driverEnd > text.startIndex ? text[text.startIndex..<driverEnd] : nil }
    /// The dev_printk device name (`0000:00:1c.5`, `15000000.iommu`, `ivhd0`, `nvme0`).
    var deviceName: ByteText? { driverEnd > text.startIndex ? text[deviceStart..<deviceEnd] : nil }
    /// The text after `<driver> <device>: ` (the whole message when there is no emitter).
    var body: ByteText { text[bodyStart...] }
    /// Whether the message has a `<driver> <device>: ` prefix.
    var hasEmitter: Bool { driverEnd > text.startIndex }

    init(_ text: ByteText) {
        self.text = text
        // Every kernel line passes here: the two words are found by index, and sliced only
        // when they are a `dev_printk` prefix.
        let start = text.startIndex
        let afterFirst = text.wordEnd(from: start)
        let secondStart = text.skippingBlanks(from: afterFirst)
        let afterSecond = text.wordEnd(from: secondStart)
        if afterFirst > start, text[afterFirst - 1] != 0x3A, text[start] != 0x5B, afterSecond - secondStart >= 2,
            text[afterSecond - 1] == 0x3A, Self.isDriverName(text, start..<afterFirst)
        {
            driverEnd = afterFirst
            deviceStart = secondStart
            deviceEnd = afterSecond - 1
            pci = text[secondStart..<afterSecond].pciAddress(at: secondStart)?.0
            bodyStart = text.skippingBlanks(from: afterSecond)
        } else {
            driverEnd = start
            deviceStart = start
            deviceEnd = start
            pci = nil
            bodyStart = start
        }
    }

    /// Driver names: letters, digits, `-`, `_`, `.`, and `,` (`riscv,iommu`).
    private static func isDriverName(_ text: ByteText, _ range: Range<Int>) -> Bool {
        for index in range {
            let byte = text[index]
            guard byte.isLetter || byte.isDigit || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x2C
            else { return false }
        }
        return true
    }

    /// The device name as an IOMMU instance name (SMMU messages come from the SMMU's device).
    var iommuInstance: IOMMUInstance? {
        guard let deviceName, pci == nil else { return nil }
        return IOMMUInstance(deviceName.string)
    }

    // MARK: - Where a kernel format starts (docs/safety.md, "kernel records only")
    //
    // The kernel prints text that devices and users control (USB `Product:` strings, firmware
    // and model names, DMI strings) inside its own messages, at kernel facility. A family's
    // format is recognised only where the kernel's own format starts: at the start of the
    // message after the printing file's `pr_fmt` prefix, or right after the `dev_printk`
    // prefix of the driver that prints it (and its `dev_fmt` prefix). Text further in is data.

    /// The message after `prefix` when the message starts with it (a `pr_fmt` prefix such as
    /// `DMAR:`), blanks after it skipped; nil otherwise.
    func afterPrefix(_ prefix: StaticString) -> ByteText? {
        guard text.starts(with: prefix) else { return nil }
        return text[text.skippingBlanks(from: text.startIndex + prefix.utf8CodeUnitCount)...]
    }

    /// The `dev_printk` body with an optional subsystem `dev_fmt` prefix removed (`AER: `,
    /// `DPC: `, `pciehp: `); nil when the message has no `<driver> <device>: ` prefix.
    func devBody(droppingSubsystem subsystem: StaticString? = nil) -> ByteText? {
        guard hasEmitter else { return nil }
        if let subsystem, body.starts(with: subsystem) {
            return body[body.skippingBlanks(from: body.startIndex + subsystem.utf8CodeUnitCount)...]
        }
        return body
    }

    /// Whether the `dev_printk` driver name contains `fragment` (`smmu` for the SMMU drivers:
    /// `arm-smmu`, `arm-smmu-v3`, downstream `qcom-smmu`...).
    func driverContains(_ fragment: StaticString) -> Bool {
        driver?.contains(fragment) ?? false
    }

    /// Whether `other` was printed by the same driver for the same device: a continuation
    /// line belongs to a report only when the same emitter printed it.
    func sameEmitter(as other: KernelMessage) -> Bool {
        guard hasEmitter, other.hasEmitter else { return !hasEmitter && !other.hasEmitter }
        return text[text.startIndex..<driverEnd].elementsEqual(other.text[other.text.startIndex..<other.driverEnd])
            && text[deviceStart..<deviceEnd].elementsEqual(other.text[other.deviceStart..<other.deviceEnd])
    }
}
