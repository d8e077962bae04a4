import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Who runs a command such as `corral release`, as an audit trail should name them: the person
/// who logged in, not only the account the command runs as (`sudo` makes that `root`).
///
/// The login UID (`/proc/self/loginuid`, set by pam_loginuid at login and immutable after, so
/// `sudo` and `su` keep it) is what the kernel's audit subsystem records as `auid`; it is the
/// name given first. `SUDO_USER` comes from the environment, which the caller controls, so it is
/// shown as what it is, next to the login UID, never instead of it when that is known.
public struct OperatorIdentity: Hashable, Sendable, CustomStringConvertible {
    /// The account the process runs as.
    public var user: String
    /// `SUDO_USER`, when set.
    public var sudoUser: String?
    /// The login UID, nil when unset (`4294967295`: a process not started from a login, such
    /// as a service) or unreadable.
    public var loginUID: UInt32?
    /// The login UID's account name, when the system knows it.
    public var loginName: String?

    public init(user: String, sudoUser: String? = nil, loginUID: UInt32? = nil, loginName: String? = nil) {
        self.user = user
        self.sudoUser = sudoUser
        self.loginUID = loginUID
        self.loginName = loginName
    }

    /// The name to journal: the login name (or UID), else the sudo user, else the account.
    public var name: String {
        if let loginName { return loginName }
        if let loginUID { return "uid \(loginUID)" }
        return sudoUser ?? user
    }

    /// `alice (login uid 1000, as root)`: the name and how it was established.
    public var description: String {
        var details: [String] = []
        if let loginUID { details.append("login uid \(loginUID)") } else { details.append("no login uid") }
        if let sudoUser, sudoUser != name { details.append("SUDO_USER \(sudoUser)") }
        if user != name { details.append("as \(user)") }
        return "\(name) (\(details.joined(separator: ", ")))"
    }

    /// The identity of this process: `root` resolves `/proc/self/loginuid` (a fake tree in
    /// tests), `environment` gives `SUDO_USER`, `accountName` maps a UID to its name.
    public static func current(
        root: SysRoot = SysRoot(), environment: [String: String] = ProcessInfo.processInfo.environment,
        uid: UInt32 = getuid(), accountName: (UInt32) -> String? = Self.accountName
    ) -> OperatorIdentity {
        let text = (try? String(contentsOfFile: root.resolve("/proc/self/loginuid"), encoding: .utf8)) ?? ""
        let loginUID = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap {
            $0 == UInt32.max ? nil : $0
        }
        let sudoUser = environment["SUDO_USER"].flatMap { $0.isEmpty ? nil : $0 }
        return OperatorIdentity(
            user: accountName(uid) ?? environment["USER"] ?? "uid \(uid)", sudoUser: sudoUser, loginUID: loginUID,
            loginName: loginUID.flatMap(accountName))
    }

    /// The account name of `uid` from the password database (`getpwuid_r`), nil if it has none.
    public static func accountName(_ uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name
        else { return nil }
        return String(cString: name)
    }
}
