import CorralCore
import CorralDecode
import Testing

@testable import CorralSim

/// The IOMMU models: capacity, overflow, silencing, and records that decode to what the fault was.
@Suite struct IOMMUModelTests {
    static func fault(
        _ lookup: IOMMUDomain.Lookup, write: Bool = true, rid: UInt16 = 0x0300, stream: UInt32? = nil,
        address: UInt64 = 0x2_0000_0000
    ) -> SimFault {
        SimFault(
            device: 0, requesterID: RequesterID(rawValue: rid), streamID: stream.map(StreamID.init), address: address,
            write: write, lookup: lookup)
    }

    /// The DMA faults a drain decoded (the models record nothing else).
    static func faults(_ events: [DeviceEvent]) -> [DMAFault] {
        events.compactMap { if case .dmaFault(let fault) = $0 { fault } else { nil } }
    }

    @Test func domainLookups() {
        let domain = IOMMUDomain.standard
        #expect(domain.translate(0x1_0000_1000, write: true) == .translated)
        #expect(domain.translate(0x2_0000_0000, write: true) == .writeToReadOnly)
        #expect(domain.translate(0x2_0000_0000, write: false) == .translated)
        #expect(domain.translate(0x1_0000_0000, write: false, secure: true) == .secureOnNonSecure)
        #expect(domain.translate(0x5000, write: false) == .notPresent)
        #expect(domain.translate(1 << 50, write: false) == .addressSize)
    }

    @Test func vtdHasEightRecordsThenOverflows() {
        var vtd = VTdModel()
        let results = (0..<9).map { _ in vtd.record(Self.fault(.writeToReadOnly)) }
        #expect(results.filter { if case .recorded = $0 { true } else { false } }.count == 8)
        guard case .lost = results[8] else {
            Issue.record("the 9th fault should be lost (PFO)")
            return
        }
        let first = vtd.takeOverflow()
        let second = vtd.takeOverflow()
        #expect(first && !second, "PFO is seen once, then cleared")
        let events = Self.faults(vtd.drain())
        #expect(events.count == 8 && vtd.pending == 0)
        #expect(
            events.allSatisfy {
                $0.source == .requester(segment: 0, RequesterID(rawValue: 0x0300)) && $0.rawCode == 5
                    && $0.access == .write && $0.kind == .writeToReadOnly && $0.iommu == vtd.instance
            })
        vtd.setSilenced(requesterID: RequesterID(rawValue: 0x0300), streamID: nil, true)
        guard case .silenced = vtd.record(Self.fault(.notPresent)) else {
            Issue.record("FPD set: the fault is not recorded")
            return
        }
        let recorded = vtd.record(Self.fault(.addressSize, rid: 0x0400))
        #expect(recorded == .recorded)
        #expect(Self.faults(vtd.drain()).first?.rawCode == 4, "Access beyond MGAW")
    }

    @Test func amdFlagsSayPresentAndPermission() {
        var amd = AMDViModel()
        #expect(amd.capacity == 512)
        _ = amd.record(Self.fault(.writeToReadOnly))
        _ = amd.record(Self.fault(.notPresent, write: false))
        let events = Self.faults(amd.drain())
        #expect(events.map(\.access) == [.write, .read])
        // Flags 0x70 (present, permission, write) and 0x00 (not present), as the kinds say.
        #expect(events.map(\.kind) == [.writeToReadOnly, .notPresent])
    }

    @Test func smmuv3ReasonsFromTheWalk() {
        var smmu = SMMUv3Model()
        _ = smmu.record(Self.fault(.addressSize, stream: 0x10))
        _ = smmu.record(Self.fault(.secureOnNonSecure, write: false, stream: 0x10))
        _ = smmu.record(Self.fault(.notPresent, stream: 0x11))
        let events = Self.faults(smmu.drain())
        #expect(events.map(\.rawCode) == [0x11, 0x13, 0x10])
        #expect(events.allSatisfy { $0.iommu == smmu.instance && $0.vendor == .armSMMUv3 })
        #expect(
            events[1].access == .read
                && events[2].source == .stream(SMMUStream(iommu: smmu.instance, streamID: StreamID(0x11))))
    }

    @Test func smmuv2OneRecordPerContextBank() {
        var smmu = SMMUv2Model()
        let results = [
            smmu.record(Self.fault(.notPresent, stream: 0x800)), smmu.record(Self.fault(.notPresent, stream: 0x800)),
            smmu.record(Self.fault(.writeToReadOnly, stream: 0x801)),
        ]
        #expect(results == [.recorded, .lost, .recorded])
        let multi = smmu.takeOverflow()
        #expect(multi, "FSR.MULTI")
        let events = Self.faults(smmu.drain())
        #expect(
            events.map(\.source)
                == [0x800, 0x801].map {
                    .stream(SMMUStream(iommu: smmu.instance, streamID: StreamID($0)))
                })
        #expect(events.map(\.rawCode) == [0x402, 0x408])
    }
}

extension RecordResult: Equatable {}
