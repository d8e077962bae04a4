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
    static let faultReporterDrivers: [[UInt8]] = ["iommu", "smmu", "dart", "dmar"].map { Array($0.utf8) }
}
