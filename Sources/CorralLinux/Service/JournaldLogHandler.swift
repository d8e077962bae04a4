import Logging

/// swift-log's backend for the daemon: one line per message on stderr, with the `<N>` syslog
/// priority prefix that journald turns into the record's priority (`SyslogLevelPrefix=`, on by
/// default for services), so `journalctl -u corral -p warning` shows actions and failures.
/// Metadata follows the message as `key=value` (values with spaces quoted).
public struct JournaldLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let write: @Sendable (String) -> Void

    /// `write` receives each finished line, newline included (tests capture it; the daemon
    /// writes stderr).
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// syslog(3) priorities: emerg 0 … debug 7.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    public func log(event: Logging.LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var text = "<\(Self.priority(event.level))>\(label): \(event.message)"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            let value = "\(value)"
            text += " \(key)=" + (value.contains(" ") ? "\"\(value)\"" : value)
        }
        // One record per line: a message's own newlines would split it in the journal.
        write(String(text.map { $0 == "\n" ? " " : $0 }) + "\n")
    }
}
