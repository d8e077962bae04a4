import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

@Suite struct UeventTests {
    static func message(_ parts: [String]) -> [UInt8] {
        parts.flatMap { Array($0.utf8) + [0] }
    }

    @Test func parsesAKernelUevent() {
        let bytes = Self.message([
            "bind@/devices/pci0000:00/0000:00:1c.0/0000:03:00.0", "ACTION=bind",
            "DEVPATH=/devices/pci0000:00/0000:00:1c.0/0000:03:00.0", "SUBSYSTEM=pci", "DRIVER=ixgbe",
            "PCI_SLOT_NAME=0000:03:00.0", "SEQNUM=4242",
        ])
        let event = Uevent.parse(bytes)
        #expect(event?.action == "bind" && event?.subsystem == "pci")
        #expect(event?.devpath == "/devices/pci0000:00/0000:00:1c.0/0000:03:00.0")
        #expect(event?.fields["PCI_SLOT_NAME"] == "0000:03:00.0")
    }

    @Test func refusesWhatIsNotOne() {
        #expect(Uevent.parse(Self.message(["libudev", "garbage"])) == nil)
        #expect(Uevent.parse(Self.message(["add@/devices/x", "ACTION=remove"])) == nil, "header and field disagree")
        #expect(Uevent.parse([]) == nil)
    }

    /// On a real kernel (root, a writable /sys): a synthetic uevent ("change" written to a
    /// device's `uevent`) comes back through the monitor, from the kernel.
    static let canTrigger =
        geteuid() == 0 && access("/sys/devices/virtual/mem/null/uevent", W_OK) == 0 && UeventMonitor() != nil

    @Test(.enabled(if: canTrigger, "needs root and a writable /sys")) func aRealUeventArrives() throws {
        let monitor = try #require(UeventMonitor())
        try "change".write(toFile: "/sys/devices/virtual/mem/null/uevent", atomically: false, encoding: .utf8)
        var found: Uevent?
        for _ in 0..<100 where found == nil {
            // Readable as soon as the kernel sends it; 30 s bounds a failing run only.
            _ = KmsgDevice.waitReadable([monitor.fileDescriptor], milliseconds: 30_000)
            found = monitor.read().first { $0.devpath == "/devices/virtual/mem/null" }
        }
        #expect(found?.action == "change" && found?.subsystem == "mem")
    }
}
