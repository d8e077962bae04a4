import CorralCore

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's side of systemd's notification protocol (`sd_notify(3)`), without libsystemd:
/// one datagram per message to the `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or an
/// abstract name when it starts with `@`).
///
/// `Type=notify`: `READY=1` once the daemon watches, `RELOADING=1` … `READY=1` around a SIGHUP
/// reload, `STOPPING=1` on the way out, `STATUS=` a line for `systemctl status`.
/// `WatchdogSec=`: `WATCHDOG=1` every half of `$WATCHDOG_USEC` from the loop itself, so a loop
/// that hangs (a wedged sysfs write, a lock) stops the pings and systemd restarts the daemon.
public struct SystemdNotifier {
    /// Where the messages go; nil when not started by systemd (then every call does nothing).
    public let socketPath: String?
    /// How often the watchdog wants a ping (half its timeout), when it is enabled for us.
    public let watchdogInterval: Duration?
    private var lastPing: Instant?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String], pid: Int32 = getpid()) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        // The watchdog is ours when WATCHDOG_PID is unset or names this process (sd_watchdog_enabled).
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == pid } ?? true
        if path != nil, forUs, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `message` (newline-separated `KEY=value` lines). Returns whether it was sent;
    /// failures are not errors (systemd may be gone, or never was).
    @discardableResult
    public func notify(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(socketPath.utf8)
        // An abstract socket: '@' stands for the leading NUL byte.
        if name.first == UInt8(ascii: "@") { name[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard name.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in name.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent == bytes.count
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(Self.oneLine(status))") }

    /// Before re-reading the config; `ready(status:)` after. `monotonicMicroseconds`: now on
    /// `CLOCK_MONOTONIC` (systemd ≥ 253 requires it with `RELOADING=1`).
    public func reloading(monotonicMicroseconds: Int64) {
        notify("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds)")
    }

    public func stopping() { notify("STOPPING=1") }

    public func status(_ text: String) { notify("STATUS=\(Self.oneLine(text))") }

    /// A watchdog ping when one is due at `now` (the loop calls it on every pass).
    public mutating func watchdogIfDue(at now: Instant) {
        guard let interval = watchdogInterval else { return }
        if let last = lastPing, now - last < interval { return }
        if notify("WATCHDOG=1") { lastPing = now }
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" ? " " : $0 })
    }
}
