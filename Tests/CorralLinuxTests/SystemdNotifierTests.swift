import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralLinux

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path = TemporaryPath.make("notify")
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        // Bounds a failing test only: every expected message is already sent when it is read.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next message, or nil when none comes.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    /// Everything already queued, without waiting.
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }
}

@Suite struct SystemdNotifierTests {
    @Test func readyReloadingStoppingAndStatus() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path])
        notifier.ready(status: "watching\nin enforce mode")
        #expect(socket.receive() == "READY=1\nSTATUS=watching in enforce mode")
        notifier.reloading(monotonicMicroseconds: 42)
        #expect(socket.receive() == "RELOADING=1\nMONOTONIC_USEC=42")
        notifier.stopping()
        #expect(socket.receive() == "STOPPING=1")
    }

    @Test func watchdogPingsEveryHalfItsTimeout() throws {
        let socket = try NotifySocket()
        var notifier = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000"], pid: 77)
        #expect(notifier.watchdogInterval == .seconds(1))
        notifier.watchdogIfDue(at: .zero)
        notifier.watchdogIfDue(at: .milliseconds(999))
        notifier.watchdogIfDue(at: .milliseconds(1_000))
        #expect(socket.drain() == ["WATCHDOG=1", "WATCHDOG=1"])
    }

    @Test func theWatchdogOfAnotherProcessIsNotOurs() {
        let other = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"], pid: 77)
        #expect(other.watchdogInterval == nil)
        let ours = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "77"], pid: 77)
        #expect(ours.watchdogInterval == .seconds(1))
    }

    @Test func withoutSystemdNothingIsSent() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.notify("READY=1"))
        #expect(notifier.watchdogInterval == nil)
    }

    @Test func anAbstractSocket() throws {
        let name = "corral-test-\(UUID().uuidString)"
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(bound == 0)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name]).notify("READY=1"))
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(count > 0 && String(decoding: buffer[0..<max(0, count)], as: UTF8.self) == "READY=1")
    }
}

/// The shipped unit: `Type=notify` with a watchdog, and `systemd-analyze verify` finds nothing
/// to say about it (run where systemd-analyze is installed: this machine, CI).
@Suite struct SystemdUnitTests {
    static let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("contrib/systemd/corral.service")

    @Test func notifyWithAWatchdog() throws {
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        #expect(
            text.contains("\nType=notify\n") && text.contains("\nWatchdogSec=")
                && text.contains("\nNotifyAccess=main\n"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
    func systemdAnalyzeVerifyIsClean() throws {
        let corral = try #require(WatchDaemonTests.corral)
        let folder = URL(fileURLWithPath: TemporaryPath.make("unit"))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // The unit names the installed path; point it at the binary under test.
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/corral", with: corral.path)
        let copy = folder.appendingPathComponent("corral.service")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        process.arguments = ["verify", copy.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && said.isEmpty, "\(said)")
    }
}

/// `corral release` journals who released (issue 17): the login UID first, because sudo and su
/// keep it and the caller cannot forge it; SUDO_USER only as what it is.
@Suite struct OperatorIdentityTests {
    static func identity(loginuid: String?, environment: [String: String], uid: UInt32) throws -> OperatorIdentity {
        let root = FakeSysfs()
        if let loginuid { root.file("/proc/self/loginuid", loginuid) }
        let names: [UInt32: String] = [0: "root", 1000: "alice", 1001: "bob"]
        return OperatorIdentity.current(root: root.sysRoot, environment: environment, uid: uid) { names[$0] }
    }

    @Test func theLoginUIDNamesTheOperatorBehindSudo() throws {
        let viaSudo = try Self.identity(loginuid: "1000", environment: ["SUDO_USER": "alice"], uid: 0)
        #expect(viaSudo.name == "alice" && viaSudo.description == "alice (login uid 1000, as root)")
        // SUDO_USER is the caller's own environment: it never replaces a known login UID.
        let forged = try Self.identity(loginuid: "1001", environment: ["SUDO_USER": "alice"], uid: 0)
        #expect(forged.name == "bob" && forged.description == "bob (login uid 1001, SUDO_USER alice, as root)")
        // A service (loginuid unset) run by sudo from a shell without a login UID.
        let unset = try Self.identity(loginuid: "4294967295", environment: ["SUDO_USER": "alice"], uid: 0)
        #expect(unset.loginUID == nil && unset.description == "alice (no login uid, as root)")
        let plain = try Self.identity(loginuid: nil, environment: [:], uid: 1000)
        #expect(plain.description == "alice (no login uid)")
        let nameless = try Self.identity(loginuid: "4242", environment: [:], uid: 0)
        #expect(nameless.description == "uid 4242 (login uid 4242, as root)")
    }
}
