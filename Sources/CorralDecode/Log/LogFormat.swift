/// The line formats a kernel log comes in. `corral decode` detects them per line; `--format`
/// forces one (lines in other formats are then taken as bare messages).
public enum LogFormat: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// `dmesg`: `[  12.345678] msg`, optionally with a caller ID `[  T140]` (CONFIG_PRINTK_CALLER)
    /// or a level prefix `<3>` (`dmesg -r`) / `kern  :err   : ` (`dmesg -x`).
    case dmesg
    /// `dmesg -T`: `[Thu Oct 22 08:54:51 2020] msg` (day and month names in any language).
    case dmesgWallClock = "dmesg-T"
    /// syslog / journald short: `Nov  9 11:20:38 host kernel: msg` (localized month names, host optional).
    case syslog
    /// RFC 3339 syslog / journald short-iso: `2024-01-15T10:23:45.123456+01:00 host kernel: msg`.
    case rfc3339
    /// `/dev/kmsg` records: `prio,seq,usec,flags;msg` plus ` KEY=value` dictionary lines.
    case kmsg
    /// journald JSON export (`journalctl -k -o json`): one object per line with `MESSAGE`.
    case journalJSON = "journal-json"
    /// Messages with no prefix at all.
    case bare

    public var description: String { rawValue }

    /// Position in `allCases` (dense counters).
    public var index: Int {
        switch self {
        case .dmesg: 0
        case .dmesgWallClock: 1
        case .syslog: 2
        case .rfc3339: 3
        case .kmsg: 4
        case .journalJSON: 5
        case .bare: 6
        }
    }
}
