/// Byte patterns shared by the line and record layers.
enum Pattern {
    static let kernelColon: StaticString = "kernel:"
    static let colon: StaticString = ":"
    static let openBracket: StaticString = "["
    static let closeBracket: StaticString = "]"
    // Who reports device faults (`KernelLogParser.fromAFaultReporter`).
    static let dmar: StaticString = "DMAR"
    static let amdVi: StaticString = "AMD-Vi"
    static let aer: StaticString = "AER:"
    static let dpc: StaticString = "DPC:"
    /// Where a fault report pasted into prose may start (`KernelLogParser.pastedMessage`).
    static let proseAnchors: [StaticString] = [
        "DMAR:", "AMD-Vi:", "arm-smmu", "pcieport ", "nvme ", "iommu ", "amd_iommu ",
    ]
    static let faultReporterDrivers: [StaticString] = ["iommu", "smmu", "dart", "dmar"]
}
