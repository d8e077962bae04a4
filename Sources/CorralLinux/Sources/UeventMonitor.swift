import Foundation

/// One kernel uevent (`lib/kobject_uevent.c`): `ACTION@DEVPATH`, then `KEY=VALUE` fields, each
/// NUL-terminated.
public struct Uevent: Hashable, Sendable {
    public var action: String
    public var devpath: String
    public var fields: [String: String]

    public var subsystem: String? { fields["SUBSYSTEM"] }

    /// Parses one message; nil for anything that is not a kernel uevent (udev's own messages
    /// start with `libudev`, and are not on the kernel's group anyway).
    public static func parse(_ bytes: [UInt8]) -> Uevent? {
        let parts = bytes.split(separator: 0, omittingEmptySubsequences: true).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard let header = parts.first, let at = header.firstIndex(of: "@") else { return nil }
        var fields: [String: String] = [:]
        for part in parts.dropFirst() {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[String(part[..<equals])] = String(part[part.index(after: equals)...])
        }
        let action = String(header[..<at])
        guard !action.isEmpty, fields["ACTION"].map({ $0 == action }) ?? true else { return nil }
        return Uevent(action: action, devpath: String(header[header.index(after: at)...]), fields: fields)
    }
}

/// The kernel's uevents (`NETLINK_KOBJECT_UEVENT`, multicast group 1): a PCI function added,
/// removed, bound or unbound is known at once instead of at the next inventory poll. Only the
/// kernel's messages are taken (sender port 0). A uevent only makes the daemon re-read the
/// inventory, never act: a forged one could cost a sysfs read, nothing more.
public final class UeventMonitor {
    public let fileDescriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 16_384)
    /// Messages not from the kernel, ignored.
    public private(set) var notKernel = 0

    /// Nil where netlink is not available (then the inventory is polled, as before).
    public init?() {
        // Protocol 15: NETLINK_KOBJECT_UEVENT (include/uapi/linux/netlink.h).
        let fd = socket(
            AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 15)
        guard fd >= 0 else { return nil }
        // struct sockaddr_nl (include/uapi/linux/netlink.h; not in Swift's Glibc module):
        // u16 nl_family, u16 pad, u32 nl_pid (0: the kernel assigns), u32 nl_groups (1: kernel uevents).
        var address = [UInt8](repeating: 0, count: Self.addressSize)
        address[0] = UInt8(AF_NETLINK & 0xFF)
        address[1] = UInt8(AF_NETLINK >> 8)
        address[8] = 1
        let bound = address.withUnsafeBytes { raw in
            bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(Self.addressSize))
        }
        guard bound == 0 else {
            close(fd)
            return nil
        }
        fileDescriptor = fd
    }

    deinit { close(fileDescriptor) }

    static let addressSize = 12

    /// Every uevent waiting now (never blocks).
    public func read() -> [Uevent] {
        var events: [Uevent] = []
        while true {
            var sender = [UInt8](repeating: 0, count: Self.addressSize)
            var length = socklen_t(Self.addressSize)
            let count = buffer.withUnsafeMutableBytes { bytes in
                sender.withUnsafeMutableBytes { raw in
                    recvfrom(
                        fileDescriptor, bytes.baseAddress, bytes.count, 0,
                        raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
                }
            }
            if count < 0 { return events }  // EAGAIN: nothing more (or an error: polled anyway)
            // nl_pid, bytes 4...7: 0 for the kernel.
            guard sender[4...7].allSatisfy({ $0 == 0 }) else {
                notKernel += 1
                continue
            }
            if let event = Uevent.parse(Array(buffer[0..<count])) { events.append(event) }
        }
    }
}
