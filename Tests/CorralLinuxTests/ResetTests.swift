import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

/// Resets through sysfs on kernels with and without `reset_method` (5.15).
@Suite struct ResetTests {
    static let nic = try! PCIAddress(parsing: "0000:03:00.0")

    static func host(_ fake: FakeSysfs, _ interposer: FileSystemInterposer) -> LinuxHost {
        let root = SysRoot(fake.root, interposer: interposer)
        return LinuxHost(root: root, mode: .enforce, inventory: Inventory.load(fake.sysRoot))
    }

    static func outcome(_ host: inout LinuxHost) -> ActionOutcome.Result? {
        for (_, event) in host.takeEvents() {
            if case .actionCompleted(let outcome) = event { return outcome.result }
        }
        return nil
    }

    /// 5.15 and later: our method, the reset, then the device's own list back.
    @Test func withResetMethodTheMethodIsChosenThenRestored() {
        let fake = FakeSysfs.machine()
        let interposer = FileSystemInterposer()
        var host = Self.host(fake, interposer)
        host.perform(.reset(Self.nic, .flr), at: .seconds(1))
        #expect(Self.outcome(&host) == .succeeded)
        let path = "/sys/bus/pci/devices/0000:03:00.0"
        let resetWrites = interposer.writes.filter { $0.path.hasPrefix(path + "/reset") }
        #expect(
            resetWrites.map { "\($0.path.dropFirst(path.count + 1))=\($0.written ?? "")" } == [
                "reset_method=flr", "reset=1", "reset_method=flr bus",
            ])
        #expect(fake.sysRoot.read(path + "/reset_method") == "flr bus")
    }

    /// A failed reset still gives the device its methods back.
    @Test func aFailedResetStillRestoresTheMethods() {
        let fake = FakeSysfs.machine()
        let interposer = FileSystemInterposer { call, _ in
            call.operation == .write && call.path.hasSuffix("/reset") ? EIO : nil
        }
        var host = Self.host(fake, interposer)
        host.perform(.reset(Self.nic, .flr), at: .seconds(1))
        guard case .failed(let failure)? = Self.outcome(&host) else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.errno == EIO)
        #expect(interposer.writes.last?.path.hasSuffix("/reset_method") == true)
        #expect(interposer.writes.last?.written == "flr bus")
    }

    /// Before 5.15: `reset` alone, when the kernel's first method (from config space) is ours.
    @Test func withoutResetMethodTheKernelsFirstMethodIsUsed() {
        let fake = FakeSysfs.machine()
        let path = "/sys/bus/pci/devices/0000:03:00.0"
        fake.remove(path + "/reset_method")
        let interposer = FileSystemInterposer()
        var host = Self.host(fake, interposer)
        host.perform(.reset(Self.nic, .flr), at: .seconds(1))
        #expect(Self.outcome(&host) == .succeeded)
        #expect(interposer.writes.map(\.path) == [path + "/reset"])
    }

    /// Before 5.15, a method the kernel would not use first is not done behind the engine's
    /// back: unsupported, and nothing is written (the ladder moves on).
    @Test func withoutResetMethodAnotherMethodIsUnsupported() {
        let fake = FakeSysfs.machine()
        let path = "/sys/bus/pci/devices/0000:03:00.0"
        fake.remove(path + "/reset_method")
        let interposer = FileSystemInterposer()
        var host = Self.host(fake, interposer)
        host.perform(.reset(Self.nic, .bus), at: .seconds(1))
        #expect(
            Self.outcome(&host)
                == .unsupported("this kernel has no reset_method (before 5.15): its reset would use flr first, not bus")
        )
        #expect(interposer.writes.isEmpty)
    }

    @Test func theLegacyOrderFromConfigSpace() {
        #expect(ResetMethod.legacyFirst(ConfigSpace(FakeSysfs.config(vendor: 1, device: 2))) == .flr)
        #expect(ResetMethod.legacyFirst(ConfigSpace(FakeSysfs.config(vendor: 1, device: 2, flr: false))) == nil)
    }
}
