/// Byte patterns shared by the line and record layers.
enum Pattern {
    static let kernelColon = [UInt8](ascii: "kernel:")
    static let colon = [UInt8](ascii: ":")
    static let openBracket = [UInt8](ascii: "[")
    static let closeBracket = [UInt8](ascii: "]")
    // Who reports device faults (`KernelLogParser.fromAFaultReporter`).
    static let dmar = [UInt8](ascii: "DMAR")
    static let amdVi = [UInt8](ascii: "AMD-Vi")
    static let aer = [UInt8](ascii: "AER:")
    static let dpc = [UInt8](ascii: "DPC:")
    /// Where a fault report pasted into prose may start (`KernelLogParser.pastedMessage`).
    static let proseAnchors: [[UInt8]] = [
        "DMAR:", "AMD-Vi:", "arm-smmu", "pcieport ", "nvme ", "iommu ", "amd_iommu ",
    ].map { Array($0.utf8) }
    static let faultReporterDrivers: [[UInt8]] = ["iommu", "smmu", "dart", "dmar"].map { Array($0.utf8) }
}
