import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

/// The rule every write obeys (docs/safety.md), as a property: over random topologies (root
/// ports, switches, PCIe-to-PCI bridges with alias groups, protected devices, vfio-pci owners,
/// driverless and external devices) and random kmsg streams (backlog, forged device text,
/// malformed heads, live storms), every device written to is one a live kernel-format record
/// named (or the alias group it named, through its bridge), and no write reaches a protected
/// device or one a VM owns. Seeded and deterministic.
@Suite struct DoNoHarmPropertyTests {
    struct Endpoint {
        var address: PCIAddress
        var driver: String?
        var untrusted: Bool
    }

    struct World {
        let fake = FakeSysfs()
        var endpoints: [Endpoint] = []
        var bridges: [PCIAddress] = []
        /// alias requester address → (bridge, members)
        var aliasGroups: [PCIAddress: (bridge: PCIAddress, members: [PCIAddress])] = [:]
        var protected: Set<PCIAddress> = []
        var owned: Set<PCIAddress> = []
        var nextBus: UInt8 = 1
        var random: SplitMix64

        init(seed: UInt64) { random = SplitMix64(seed: seed) }

        mutating func roll(_ n: UInt64) -> Int { Int(random.next() % n) }

        mutating func endpoint(_ address: PCIAddress, under path: String, pcie: Bool) {
            let drivers: [String?] = [nil, "ixgbe", "nvme", "vfio-pci", "e1000"]
            let driver = drivers[roll(UInt64(drivers.count))]
            let untrusted = roll(6) == 0
            let vendor: UInt16 = 0x8086
            let device = UInt16(0x1000 + roll(0x100))
            let devicePath = fake.pci(
                address.description, under: path, driver: driver, classCode: "0x020000", vendor: vendor,
                device: device, resetMethod: roll(2) == 0 ? "flr bus" : nil,
                config: FakeSysfs.config(vendor: vendor, device: device, pcie: pcie, transactionsPending: false),
                removable: untrusted)
            if roll(4) == 0 {
                fake.file("\(devicePath)/boot_vga", "1")
                protected.insert(address)
            }
            if driver == "vfio-pci" { owned.insert(address) }
            endpoints.append(Endpoint(address: address, driver: driver, untrusted: untrusted))
        }

        mutating func build() {
            let host = "/sys/devices/pci0000:00"
            for port in 0..<(2 + roll(3)) {
                let portAddress = PCIAddress(bus: 0, device: UInt8(1 + port), function: 0)!
                let bus = nextBus
                nextBus += 1
                let portPath = fake.pci(
                    portAddress.description, under: host, driver: "pcieport", classCode: "0x060400", vendor: 0x8086,
                    device: 0x7, config: FakeSysfs.config(vendor: 0x8086, device: 0x7, pcieType: 0x4, secondaryBus: bus)
                )
                bridges.append(portAddress)
                switch roll(3) {
                case 0:
                    endpoint(PCIAddress(bus: bus, device: 0, function: 0)!, under: portPath, pcie: true)
                    if roll(2) == 0 {
                        endpoint(PCIAddress(bus: bus, device: 0, function: 1)!, under: portPath, pcie: true)
                    }
                case 1:
                    // A switch: upstream port, then downstream ports with an endpoint each.
                    let upstream = PCIAddress(bus: bus, device: 0, function: 0)!
                    let inner = nextBus
                    nextBus += 1
                    let upPath = fake.pci(
                        upstream.description, under: portPath, driver: "pcieport", classCode: "0x060400",
                        vendor: 0x10b5, device: 0x8747,
                        config: FakeSysfs.config(vendor: 0x10b5, device: 0x8747, pcieType: 0x5, secondaryBus: inner))
                    bridges.append(upstream)
                    for slot in 0..<(1 + roll(2)) {
                        let downstream = PCIAddress(bus: inner, device: UInt8(slot), function: 0)!
                        let leaf = nextBus
                        nextBus += 1
                        let downPath = fake.pci(
                            downstream.description, under: upPath, driver: "pcieport", classCode: "0x060400",
                            vendor: 0x10b5, device: 0x8747,
                            config: FakeSysfs.config(
                                vendor: 0x10b5, device: 0x8747, pcieType: 0x6, secondaryBus: leaf))
                        bridges.append(downstream)
                        endpoint(PCIAddress(bus: leaf, device: 0, function: 0)!, under: downPath, pcie: true)
                    }
                default:
                    // A PCIe-to-PCI bridge: conventional devices behind it master as (bus, 00.0).
                    let bridge = PCIAddress(bus: bus, device: 0, function: 0)!
                    let secondary = nextBus
                    nextBus += 1
                    let bridgePath = fake.pci(
                        bridge.description, under: portPath, driver: nil, classCode: "0x060400", vendor: 0x1b36,
                        device: 0xe,
                        config: FakeSysfs.config(vendor: 0x1b36, device: 0xe, pcieType: 0x7, secondaryBus: secondary))
                    bridges.append(bridge)
                    var members: [PCIAddress] = []
                    let slots = roll(4) == 0 ? [1, 2] : [0, 1]
                    for slot in slots {
                        let address = PCIAddress(bus: secondary, device: UInt8(slot), function: 0)!
                        endpoint(address, under: bridgePath, pcie: false)
                        members.append(address)
                    }
                    aliasGroups[PCIAddress(bus: secondary, device: 0, function: 0)!] = (bridge, members)
                }
            }
            // The root file system on one endpoint (resolved through mountinfo).
            if let root = endpoints.randomElement(using: &random) {
                let path = fake.sysRoot.realPath("/sys/bus/pci/devices/\(root.address)")!
                fake.file("\(path)/host0/block/sda/sda1/dev", "8:1")
                fake.link("/sys/dev/block/8:1", to: "\(path)/host0/block/sda/sda1")
                fake.file("/proc/self/mountinfo", "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n")
                protected.insert(root.address)
            }
            fake.file("/proc/cmdline", "root=UUID=0b4c0e61-2f43-4e8b-9c57-0d5d3d8e6a10 ro")
        }

        /// A requester the kernel could name: an endpoint, an alias ID, a bridge.
        mutating func someRequester() -> PCIAddress {
            switch roll(7) {
            case 0...1 where !aliasGroups.isEmpty:
                return Array(aliasGroups.keys).sorted()[roll(UInt64(aliasGroups.count))]
            case 2...3: return bridges[roll(UInt64(bridges.count))]
            default: return endpoints[roll(UInt64(endpoints.count))].address
            }
        }

        /// Who a live record naming `requester` may lead Corral to write to. An alias ID (which
        /// is also the address of the member in slot 0) names the group: only the bridge, whose
        /// reach holds every member, may be written; never one member alone.
        func allowed(for requester: PCIAddress) -> Set<PCIAddress> {
            if let group = aliasGroups[requester] { return [group.bridge] }
            return [requester]
        }

        func children(_ device: PCIAddress) -> [PCIAddress] {
            let inventory = Inventory.load(fake.sysRoot)
            return inventory.device(device)?.children ?? []
        }
    }

    static func record(_ sequence: inout Int, _ micros: Int64, _ message: String, facility: Int = 0) -> String {
        sequence += 1
        return "\(facility << 3 | 3),\(sequence),\(micros),-;\(message)"
    }

    static func fault(_ device: PCIAddress, _ index: Int) -> String {
        "DMAR: [DMA Write NO_PASID] Request device [\(String(format: "%02x:%02x.%d", device.bus, device.device, device.function))] fault addr 0x\(String(0x1000 * index, radix: 16)) [fault reason 0x05] PTE Write access is not set"
    }

    /// 24 seeds in order; the property is checked on each, and across them it must not be
    /// vacuous: some writes happen, and some decisions are held back as recommendations.
    @Test func writesStayWithinLiveKernelRecordsMinusProtectedMinusOwned() throws {
        var writes = 0
        var heldBack = 0
        for seed in UInt64(1)...UInt64(24) {
            let (written, recommended) = try Self.run(seed: seed)
            writes += written
            heldBack += recommended
        }
        #expect(writes > 0 && heldBack > 0, "writes \(writes), held back \(heldBack)")
    }

    static func run(seed: UInt64) throws -> (written: Int, recommended: Int) {
        var world = World(seed: seed)
        world.build()
        let started = Instant.seconds(300)
        var policy = Policy()
        policy.mode = .enforce
        var watcher = Watcher(root: world.fake.sysRoot, policy: policy, startedAt: started)
        var named: Set<PCIAddress> = []
        var sequence = 0
        var now: Int64 = 290_000_000  // µs
        for pass in 0..<6 {
            var records: [String] = []
            for _ in 0..<(2 + world.roll(4)) {
                let device = world.someRequester()
                let count = 200 + world.roll(3_000)
                let kind = pass == 0 ? world.roll(4) : 1 + world.roll(3)
                let spacing = Int64(20 + world.roll(400))
                let base = now
                switch kind {
                case 0:
                    // Backlog: logged long before the daemon started.
                    for index in 0..<count {
                        records.append(
                            Self.record(&sequence, 10_000_000 + Int64(index) * spacing, Self.fault(device, index)))
                    }
                case 1:
                    // Forged: a USB device's product string at kernel facility, or a user-space line.
                    let facility = world.roll(2)
                    for index in 0..<count {
                        records.append(
                            Self.record(
                                &sequence, base + Int64(index) * spacing,
                                "usb 1-1: Product: \(Self.fault(device, index))",
                                facility: facility))
                    }
                case 2:
                    // A malformed head (old form, no reason line) naming one device, then a live storm.
                    let head = world.someRequester()
                    records.append(
                        Self.record(
                            &sequence, base,
                            "dmar: DMAR:[DMA Read] Request device [\(String(format: "%02x:%02x.%d", head.bus, head.device, head.function))] fault addr 1a45aa9000"
                        ))
                    if base >= started.nanoseconds / 1_000 { named.insert(head) }
                    fallthrough
                default:
                    for index in 0..<count {
                        records.append(Self.record(&sequence, base + Int64(index) * spacing, Self.fault(device, index)))
                    }
                    // Named by a live record only when logged after the daemon started.
                    if base + Int64(count) * spacing >= started.nanoseconds / 1_000 { named.insert(device) }
                }
            }
            // Records reach kmsg in sequence order; their timestamps are what they are.
            var kmsg = FakeKmsg(records)
            now += 2_000_000 + Int64(world.roll(5_000_000))
            watcher.step(&kmsg, now: Instant.microseconds(max(now, started.nanoseconds / 1_000)))
        }
        var allowed: Set<PCIAddress> = []
        for requester in named { allowed.formUnion(world.allowed(for: requester)) }
        let written = watcher.host.log.filter { $0.hasPrefix("did ") && !$0.hasPrefix("did rescan") }
        let inventory = Inventory.load(world.fake.sysRoot)
        for line in written {
            let target = try #require(
                line.split(separator: " ").compactMap { try? PCIAddress(parsing: $0) }.first, "\(line)")
            #expect(allowed.contains(target), "seed \(seed): \(line), allowed \(allowed.sorted())")
            // Everything the write reaches: the target and all below it.
            var reach = [target]
            var index = 0
            while index < reach.count {
                reach += inventory.device(reach[index])?.children ?? []
                index += 1
            }
            #expect(world.protected.isDisjoint(with: reach), "seed \(seed): \(line) reaches a protected device")
            #expect(world.owned.isDisjoint(with: reach), "seed \(seed): \(line) reaches a VM's device")
        }
        let recommended = watcher.decisions.filter {
            $0.action?.isRecommendation == true && $0.reason.contains("recommendation only")
        }.count
        return (written.count, recommended)
    }
}
