import Foundation

/// Whether a file that root will act on — a hook program it runs, the policy it obeys — can be
/// changed by anyone but root. A hook is executed as root with the daemon's privileges, so a
/// program (or any directory above it) that another user or group can write is a way to root.
///
/// The rule (as sudo and systemd apply it): after resolving symlinks, the file and every
/// directory up to `/` must be owned by root (or the daemon's own user) and not writable by
/// group or others — except a sticky directory such as `/tmp`, where only an entry's owner can
/// replace it, and the entry below it was already found to be root's.
public enum FileTrust {
    /// Why `path` must not be trusted, or nil when it may.
    public static func problem(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else {
            return "\(path): \(String(cString: strerror(errno)))"
        }
        defer { free(resolved) }
        var current = String(cString: resolved)
        let trusted: Set<uid_t> = [0, geteuid()]
        while true {
            var status = stat()
            guard lstat(current, &status) == 0 else { return "\(current): \(String(cString: strerror(errno)))" }
            if !trusted.contains(status.st_uid) {
                return "\(current) is owned by uid \(status.st_uid), not root"
            }
            let writable = status.st_mode & 0o022
            let isDirectory = status.st_mode & S_IFMT == S_IFDIR
            let sticky = status.st_mode & S_ISVTX != 0
            if writable != 0, !(isDirectory && sticky) {
                let who = writable & 0o002 != 0 ? "others" : "its group"
                return "\(current) is writable by group or others (\(who))"
            }
            if current == "/" { return nil }
            current = (current as NSString).deletingLastPathComponent
            if current.isEmpty { current = "/" }
        }
    }
}
