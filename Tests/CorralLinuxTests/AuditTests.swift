import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

@Suite struct AuditTests {
    static func protectedHost() -> FakeSysfs {
        let fake = FakeSysfs.machine()
        fake.file("/sys/class/iommu/dmar0/uevent", "")
        fake.file("/sys/firmware/acpi/tables/DMAR", "")
        fake.file(
            "/proc/interrupts",
            "           CPU0\n 24:   1  DMAR-MSI  0-edge  dmar0\n 40:  10  IR-PCI-MSI  524288-edge  nvme0q0\n")
        // The conventional card behind the bridge has no driver and no bus mastering.
        fake.bytes(
            "/sys/devices/pci0000:00/0000:00:1e.0/0000:08:00.0/0000:09:01.0/config",
            {
                var c = FakeSysfs.config(vendor: 0x109e, device: 0x036e, pcie: false)
                c[4] = 0x02
                return c
            }())
        return fake
    }

    static func verdicts(_ fake: FakeSysfs) -> [String: AuditFinding.Verdict] {
        var out: [String: AuditFinding.Verdict] = [:]
        for finding in Audit.run(fake.sysRoot) { out[finding.check] = max(out[finding.check] ?? .ok, finding.verdict) }
        return out
    }

    /// `audit --json` is one array of findings; evidence (sysfs text) stays one string.
    @Test func findingsEncodeAsOneArray() throws {
        let evidence = "0000:03:00.0 \"driver\": \"x\"\n"
        let fake = Self.protectedHost()
        let findings =
            Audit.run(fake.sysRoot) + [
                AuditFinding(check: "c", verdict: .fail, evidence: evidence, why: "w", fix: "f")
            ]
        let array = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(findings)) as? [[String: Any]])
        #expect(array.count == findings.count)
        #expect(array.last?["evidence"] as? String == evidence)
        #expect(array.last?["verdict"] as? String == "fail")
        #expect(Set(array.compactMap { $0["verdict"] as? String }).isSubset(of: ["ok", "warn", "fail"]))
    }

    @Test func wellProtectedHostIsAllOK() {
        let fake = Self.protectedHost()  // kept alive: its folder goes away with it
        let findings = Audit.run(fake.sysRoot)
        #expect(findings.allSatisfy { $0.verdict == .ok }, "\(findings.filter { $0.verdict != .ok })")
        #expect(Audit.exitCode(findings) == 0)
        #expect(findings.contains { $0.check == "IOMMU enabled" && $0.evidence.contains("dmar0") })
    }

    @Test func passthroughHostFails() {
        let fake = Self.protectedHost()
        fake.file("/proc/cmdline", "root=/dev/nvme0n1p2 intel_iommu=on iommu=pt")
        fake.file("/sys/kernel/iommu_groups/12/type", "identity")
        let findings = Audit.run(fake.sysRoot)
        #expect(
            findings.contains {
                $0.check == "kernel command line" && $0.verdict == .warn && $0.evidence.contains("iommu=pt")
            })
        #expect(
            findings.contains {
                $0.check == "IOMMU group 12" && $0.verdict == .fail && $0.evidence.contains("0000:03:00.0")
            })
        #expect(Audit.exitCode(findings) == 2)
    }

    @Test func driverlessBusMasterFails() {
        let fake = FakeSysfs.machine()
        fake.file("/sys/class/iommu/dmar0/uevent", "")
        let verdicts = Self.verdicts(fake)
        #expect(verdicts["driverless bus master"] == .fail)
        let finding = Audit.run(fake.sysRoot).first { $0.check == "driverless bus master" }
        #expect(finding?.evidence.hasPrefix("0000:09:01.0") == true && finding?.fix.contains("setpci") == true)
    }

    @Test func thunderboltWithoutProtectionFails() {
        let fake = Self.protectedHost()
        fake.file("/sys/bus/thunderbolt/devices/domain0/security", "none")
        fake.file("/sys/bus/thunderbolt/devices/domain0/iommu_dma_protection", "0")
        #expect(Self.verdicts(fake)["Thunderbolt domain0"] == .fail)
        fake.file("/sys/bus/thunderbolt/devices/domain0/iommu_dma_protection", "1")
        #expect(Self.verdicts(fake)["Thunderbolt domain0"] == .ok)
    }

    @Test func noIOMMUFailsWithTheRightFix() {
        let fake = FakeSysfs.machine()
        fake.file("/sys/firmware/acpi/tables/DMAR", "")
        fake.file("/proc/cmdline", "root=/dev/sda1 intel_iommu=off")
        let findings = Audit.run(fake.sysRoot)
        let presence = findings.first { $0.check == "IOMMU enabled" }
        #expect(presence?.verdict == .fail && presence?.evidence.contains("firmware has DMAR") == true)
        #expect(findings.contains { $0.verdict == .fail && $0.evidence.contains("intel_iommu=off") })
    }
}
