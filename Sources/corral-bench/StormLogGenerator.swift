import CorralCore
import CorralDecode

/// Writes a synthetic storm log: what a machine's dmesg looks like while devices misbehave.
/// The mix (by line): VT-d faults with their `DRHD` status lines, AMD-Vi page faults, SMMUv3
/// five-line records, AER three-line reports, rate-limit notes and ordinary kernel noise.
/// Content comes from a seeded generator: the same size and seed give the same file.
struct StormLogGenerator {
    var random: SplitMix64
    var micros: UInt64 = 1_000_000
    var lines = 0
    /// Percent of lines that are ordinary kernel messages instead of the storm mix (the
    /// "mostly noise" log: a machine's log with a few faults in it).
    var noisePercent: UInt64

    init(seed: UInt64, noisePercent: UInt64 = 0) {
        random = SplitMix64(seed: seed)
        self.noisePercent = noisePercent
    }

    /// Messages a busy machine logs that no family takes (drivers, filesystems, network, audit).
    static let noise: [String] = [
        "usb 1-1.2: new high-speed USB device number 7 using xhci_hcd",
        "EXT4-fs (nvme0n1p2): mounted filesystem with ordered data mode. Quota mode: none.",
        "audit: type=1400 audit(1701234567.123:456): apparmor=\"STATUS\" operation=\"profile_load\" name=\"snap\"",
        "e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
        "IPv6: ADDRCONF(NETDEV_CHANGE): eno1: link becomes ready",
        "systemd-journald[412]: Received client request to flush runtime journal.",
        "Bluetooth: hci0: Firmware revision 0.0 build 14 week 44 2021",
        "wlp2s0: authenticated",
        "kauditd_printk_skb: 12 callbacks suppressed",
        "docker0: port 1(veth3c2a1b4) entered forwarding state",
        "CPU3: Core temperature above threshold, cpu clock throttled (total events = 1)",
        "perf: interrupt took too long (2504 > 2500), lowering kernel.perf_event_max_sample_rate to 79750",
        "ata1.00: configured for UDMA/133",
        "input: Logitech USB Receiver as /devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/input/input12",
    ]

    mutating func stamp() -> String {
        micros += random.next() % 200
        let fraction = String(micros % 1_000_000)
        return "[" + String(repeating: " ", count: max(0, 5 - String(micros / 1_000_000).count))
            + "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction + "] "
    }

    /// Appends roughly `target` bytes of log to `out`.
    mutating func append(bytes target: Int, to out: inout [UInt8]) {
        let start = out.count
        while out.count - start < target {
            if noisePercent > 0, random.next() % 100 < noisePercent {
                line(Self.noise[Int(random.next() % UInt64(Self.noise.count))], &out)
                continue
            }
            let roll = random.next() % 100
            let device = Hex.padded(random.next() % 8, width: 2)
            switch roll {
            case 0..<55:
                let address = Hex.string((random.next() % 0x10_0000) << 12)
                let read = random.next() % 2 == 0
                line("DMAR: DRHD: handling fault status reg 2", &out)
                line(
                    "DMAR: [DMA \(read ? "Read" : "Write") NO_PASID] Request device [\(device):00.0] fault addr 0x\(address) [fault reason \(read ? "0x06] PTE Read" : "0x05] PTE Write") access is not set",
                    &out)
            case 55..<70:
                line(
                    "nvme 0000:\(device):00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0012 address=0x\(Hex.string(random.next() % (1 << 40))) flags=0x00\(random.next() % 2 == 0 ? "2" : "0")0]",
                    &out)
            case 70..<78:
                line("arm-smmu-v3 fc900000.iommu: event 0x10 received:", &out)
                line("arm-smmu-v3 fc900000.iommu: \t0x0000\(device)0000000010", &out)
                line("arm-smmu-v3 fc900000.iommu: \t0x0000020000000000", &out)
                line("arm-smmu-v3 fc900000.iommu: \t0x\(Hex.padded(random.next() % (1 << 40), width: 16))", &out)
                line("arm-smmu-v3 fc900000.iommu: \t0x0000000000000000", &out)
            case 78..<84:
                line("pcieport 0000:00:1c.5: AER: Corrected error received: 0000:\(device):00.0", &out)
                line(
                    "pcieport 0000:\(device):00.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)",
                    &out)
                line("pcieport 0000:\(device):00.0:   device [8086:9d15] error status/mask=00000001/00002000", &out)
                line("pcieport 0000:\(device):00.0:    [ 0] RxErr                  (First)", &out)
            case 84..<86:
                line("dmar_fault: \(random.next() % 5_000) callbacks suppressed", &out)
            default:
                line("usb 1-1.2: new high-speed USB device number \(random.next() % 128) using xhci_hcd", &out)
            }
        }
    }

    mutating func line(_ text: String, _ out: inout [UInt8]) {
        out.append(contentsOf: stamp().utf8)
        out.append(contentsOf: text.utf8)
        out.append(0x0A)
        lines += 1
    }
}
