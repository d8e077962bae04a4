import Testing

@testable import CorralCore

/// `IOMMUInstance` and `PlatformDeviceName` are indices into a process-wide name table: they
/// must behave exactly as the names they stand for.
@Suite struct NameTableTests {
    @Test func equalExactlyWhenTheNamesAre() {
        let names = ["dmar0", "dmar1", "5040000.smmu", "arm-smmu-v3.0.auto", "a-name-longer-than-fifteen-bytes", ""]
        for left in names {
            for right in names {
                #expect((IOMMUInstance(left) == IOMMUInstance(right)) == (left == right))
                #expect((IOMMUInstance(left).hashValue == IOMMUInstance(right).hashValue) || left != right)
                #expect((PlatformDeviceName(left) == PlatformDeviceName(right)) == (left == right))
                // Ordered by name, whatever order the names were first seen in.
                #expect((IOMMUInstance(left) < IOMMUInstance(right)) == (left < right))
            }
            #expect(IOMMUInstance(left).name == left)
            #expect(PlatformDeviceName(left).name == left)
        }
        // The two tables are apart: a platform device may share an IOMMU's name.
        #expect(PlatformDeviceName("zz-only-platform").name == "zz-only-platform")
        #expect(IOMMUInstance("zz-only-iommu").description == "zz-only-iommu")
    }

    @Test func unnamedUnitsAreNamedAfterTheirVendor() {
        for vendor in IOMMUVendor.allCases {
            #expect(IOMMUInstance.unnamed(vendor) == IOMMUInstance(vendor.rawValue))
            #expect(IOMMUInstance.unnamed(vendor).name == vendor.rawValue)
        }
    }

    /// The log parser interns on every core at once: each name gets one index.
    @Test func concurrentInterningGivesOneIndexPerName() async {
        let names = (0..<200).map { "concurrent-unit-\($0 % 50)" }
        let indices = await withTaskGroup(of: [UInt32].self) { group in
            for _ in 0..<4 { group.addTask { names.map { IOMMUInstance($0).index } } }
            var all: [[UInt32]] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(indices.count == 4)
        for result in indices { #expect(result == indices[0]) }
        #expect(Set(indices[0]).count == 50)
    }
}
