import CorralCore

/// `corral audit`: read-only checks of whether the IOMMU actually protects this machine, each
/// with a verdict, the evidence, why it matters and the fix. Encoded as `{"check", "verdict",
/// "evidence", "why", "fix"}` (evidence holds sysfs text: device names, kernel arguments).
public struct AuditFinding: Hashable, Sendable, Encodable {
    public enum Verdict: String, Hashable, Sendable, Comparable, Encodable {
        case ok, warn, fail
        public static func < (lhs: Verdict, rhs: Verdict) -> Bool { lhs.rank < rhs.rank }
        var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
    }
    public var check: String
    public var verdict: Verdict
    public var evidence: String
    public var why: String
    public var fix: String
}

public enum Audit {
    /// Runs every check under `root`.
    public static func run(_ root: SysRoot, inventory: Inventory? = nil) -> [AuditFinding] {
        let inventory = inventory ?? Inventory.load(root)
        var findings: [AuditFinding] = []
        findings += iommuPresence(root)
        findings += commandLine(inventory.commandLine ?? "")
        findings += interruptRemapping(root)
        findings += groups(root, inventory)
        findings += driverless(inventory)
        findings += external(root, inventory)
        findings += thunderbolt(root)
        findings += protected(root, inventory)
        return findings
    }

    /// What `corral watch` would never write to, and why (docs/safety.md, rule (c)).
    static func protected(_ root: SysRoot, _ inventory: Inventory) -> [AuditFinding] {
        let protection = ProtectedDevices.detect(root, inventory)
        return protection.devices.sorted().map { device in
            AuditFinding(
                check: "protected device", verdict: .ok, evidence: "\(device): \(protection.explain(device))",
                why: "Corral only recommends for it, and for any port above it; it never writes to them",
                fix: "-")
        }
    }

    /// 0 all ok, 1 warnings, 2 failures.
    public static func exitCode(_ findings: [AuditFinding]) -> Int32 {
        switch findings.map(\.verdict).max() ?? .ok {
        case .ok: 0
        case .warn: 1
        case .fail: 2
        }
    }

    static func iommuPresence(_ root: SysRoot) -> [AuditFinding] {
        let units = root.list("/sys/class/iommu")
        let tables = ["DMAR", "IVRS", "IORT"].filter { root.exists("/sys/firmware/acpi/tables/\($0)") }
        if !units.isEmpty {
            return [
                AuditFinding(
                    check: "IOMMU enabled", verdict: .ok,
                    evidence: "/sys/class/iommu: \(units.joined(separator: ", "))",
                    why: "DMA from devices is translated and checked", fix: "-")
            ]
        }
        return [
            AuditFinding(
                check: "IOMMU enabled", verdict: .fail,
                evidence: tables.isEmpty
                    ? "/sys/class/iommu is empty; no DMAR/IVRS/IORT table"
                    : "firmware has \(tables.joined(separator: ", ")) but /sys/class/iommu is empty",
                why: "without an IOMMU any bus-mastering device can read and write all of memory",
                fix: tables.isEmpty
                    ? "enable VT-d / AMD-Vi / SMMU in the firmware setup"
                    : "boot with intel_iommu=on (Intel) or remove amd_iommu=off / iommu=off")
        ]
    }

    static func commandLine(_ line: String) -> [AuditFinding] {
        let words = Set(line.split(separator: " ").map(String.init))
        var findings: [AuditFinding] = []
        let failing: [(String, String)] = [
            ("intel_iommu=off", "the Intel IOMMU is switched off"), ("amd_iommu=off", "the AMD IOMMU is switched off"),
            ("iommu=off", "the IOMMU is switched off"),
            ("intremap=off", "interrupt remapping is off: devices can forge MSIs"),
        ]
        let warning: [(String, String)] = [
            ("iommu=pt", "passthrough: devices with a driver get identity (no translation) domains"),
            ("iommu.passthrough=1", "passthrough: devices with a driver get identity (no translation) domains"),
            ("iommu.strict=0", "lazy IOTLB invalidation: a freed buffer stays reachable for a short window"),
            ("pci=noaer", "AER is off: link and device errors go unreported"),
        ]
        for (word, why) in failing where words.contains(word) {
            findings.append(
                AuditFinding(
                    check: "kernel command line", verdict: .fail, evidence: "/proc/cmdline: \(word)", why: why,
                    fix: "remove \(word)"))
        }
        for (word, why) in warning where words.contains(word) {
            findings.append(
                AuditFinding(
                    check: "kernel command line", verdict: .warn, evidence: "/proc/cmdline: \(word)", why: why,
                    fix: "remove \(word)"))
        }
        if findings.isEmpty {
            findings.append(
                AuditFinding(
                    check: "kernel command line", verdict: .ok, evidence: "/proc/cmdline: no switch weakens the IOMMU",
                    why: "-", fix: "-"))
        }
        return findings
    }

    static func interruptRemapping(_ root: SysRoot) -> [AuditFinding] {
        guard let interrupts = root.read("/proc/interrupts") else { return [] }
        let remapped = interrupts.contains("IR-")
        return [
            AuditFinding(
                check: "interrupt remapping", verdict: remapped ? .ok : .warn,
                evidence: remapped
                    ? "/proc/interrupts: IR- interrupt chips" : "/proc/interrupts: no IR- interrupt chip",
                why: "without remapping a device can send arbitrary interrupts (MSI writes)",
                fix: remapped ? "-" : "enable interrupt remapping (x2APIC/IR in firmware; remove intremap=off)")
        ]
    }

    static func groups(_ root: SysRoot, _ inventory: Inventory) -> [AuditFinding] {
        var findings: [AuditFinding] = []
        var members: [Int: [PCIDeviceInfo]] = [:]
        for device in inventory.devices {
            if let group = device.iommuGroup { members[group, default: []].append(device) }
        }
        for (group, devices) in members.sorted(by: { $0.key < $1.key }) {
            let type = devices.first?.iommuGroupType ?? "unknown"
            let names = devices.map(\.address.description).joined(separator: ", ")
            let external = devices.contains(where: \.untrusted)
            switch type {
            case "identity":
                findings.append(
                    AuditFinding(
                        check: "IOMMU group \(group)", verdict: .fail, evidence: "type identity: \(names)",
                        why: "identity (passthrough) domains let these devices reach all of memory",
                        fix:
                            "echo DMA > /sys/kernel/iommu_groups/\(group)/type (with drivers unbound), or drop iommu=pt"
                    ))
            case "DMA-FQ" where external:
                findings.append(
                    AuditFinding(
                        check: "IOMMU group \(group)", verdict: .warn,
                        evidence: "type DMA-FQ with an external device: \(names)",
                        why: "lazy invalidation leaves freed buffers reachable for a window", fix: "iommu.strict=1"))
            case "blocked", "DMA", "DMA-FQ":
                findings.append(
                    AuditFinding(
                        check: "IOMMU group \(group)", verdict: .ok, evidence: "type \(type): \(names)", why: "-",
                        fix: "-"))
            default:
                findings.append(
                    AuditFinding(
                        check: "IOMMU group \(group)", verdict: .warn, evidence: "type \(type): \(names)",
                        why: "unknown default domain type", fix: "check /sys/kernel/iommu_groups/\(group)/type"))
            }
            let endpoints = devices.filter { !$0.isBridge }
            if endpoints.count > 1 {
                findings.append(
                    AuditFinding(
                        check: "IOMMU group \(group) isolation", verdict: .warn,
                        evidence:
                            "\(endpoints.count) devices share it: "
                            + endpoints.map { "\($0.address)" }.joined(separator: ", "),
                        why: "devices in one group can reach each other's DMA buffers and are contained together",
                        fix: "move a card to a slot with ACS, or accept the shared group"))
            }
        }
        let ungrouped = inventory.devices.filter { $0.iommuGroup == nil && !$0.isBridge }
        if !ungrouped.isEmpty && !root.list("/sys/class/iommu").isEmpty {
            findings.append(
                AuditFinding(
                    check: "devices outside any IOMMU group", verdict: .warn,
                    evidence: ungrouped.map(\.address.description).joined(separator: ", "),
                    why: "their DMA is not translated", fix: "check the firmware's DMAR/IVRS device scopes"))
        }
        return findings
    }

    static func driverless(_ inventory: Inventory) -> [AuditFinding] {
        let offenders = inventory.devices.filter { $0.driver == nil && !$0.isBridge && $0.config.busMaster == true }
        guard !offenders.isEmpty else {
            return [
                AuditFinding(
                    check: "driverless bus masters", verdict: .ok,
                    evidence: "no device without a driver has Bus Master Enable set",
                    why: "-", fix: "-")
            ]
        }
        return offenders.map { device in
            AuditFinding(
                check: "driverless bus master", verdict: .fail,
                evidence: "\(device.address): no driver, command register has Bus Master Enable",
                why: "a device no driver manages should have no DMA at all",
                fix:
                    "setpci -s \(device.address) COMMAND=0:4, or bind its driver (corral watch contains it on first fault)"
            )
        }
    }

    static func external(_ root: SysRoot, _ inventory: Inventory) -> [AuditFinding] {
        inventory.devices.filter(\.untrusted).map { device in
            let ats = device.config.atsEnabled
            return AuditFinding(
                check: "external device", verdict: ats ? .warn : .ok,
                evidence: "\(device.address) (\(device.driver ?? "no driver")) behind an external-facing port"
                    + (ats ? "; ATS enabled" : ""),
                why: ats ? "with ATS the device caches translations and can use them without the IOMMU checking" : "-",
                fix: ats ? "disable ATS for untrusted devices (pci=noats) or keep the port untrusted" : "-")
        }
    }

    static func thunderbolt(_ root: SysRoot) -> [AuditFinding] {
        root.list("/sys/bus/thunderbolt/devices").filter { $0.hasPrefix("domain") }.map { domain in
            let base = "/sys/bus/thunderbolt/devices/\(domain)"
            let security = root.read("\(base)/security") ?? "unknown"
            let protection = root.read("\(base)/iommu_dma_protection") == "1"
            let verdict: AuditFinding.Verdict = protection ? .ok : (security == "none" ? .fail : .warn)
            return AuditFinding(
                check: "Thunderbolt \(domain)", verdict: verdict,
                evidence: "security=\(security), iommu_dma_protection=\(protection ? 1 : 0)",
                why: protection
                    ? "the IOMMU protects memory from Thunderbolt devices"
                    : "a plugged-in device can do DMA before any check",
                fix: protection
                    ? "-" : "enable Kernel DMA Protection in firmware, or set security level 'user'/'secure'")
        }
    }
}
