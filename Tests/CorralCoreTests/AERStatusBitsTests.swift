import Testing

@testable import CorralCore

@Suite struct AERStatusBitsTests {
    /// The two errors of the proving ground's aer-nvme scenario, as a 6.1 kernel printed them:
    /// `error status/mask=00004000/...` `[14] CmpltTO` and `00000020` `[ 5] SDES`.
    @Test func namesAreTheKernels() {
        #expect(AERStatusBits(0x4000, severity: .nonFatal).names == ["CmpltTO"])
        #expect(AERStatusBits(0x0010_0020, severity: .fatal).description == "0x00100020 (SDES, UnsupReq)")
        #expect(AERStatusBits(0x41, severity: .corrected).names == ["RxErr", "BadTLP"])
        #expect(AERStatusBits(0x2, severity: .corrected).names == ["bit 1"])
        #expect(AERStatusBits(0, severity: .fatal).description == "0x00000000")
    }

    @Test func severityFromTheJournalsClass() {
        #expect(ObservedClass(name: "aer-nonfatal").aerSeverity == .nonFatal)
        #expect(ObservedClass(name: "aer-corrected").aerSeverity == .corrected)
        #expect(ObservedClass(name: "dma-fault").aerSeverity == nil)
    }
}
