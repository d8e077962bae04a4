import Foundation
import Logging

/// swift-log backend for the daemon: one line per message on stderr, with the `<N>` syslog
/// priority prefix journald turns into the record's priority (`SyslogLevelPrefix=true`), and
/// metadata as `key=value` pairs, so `journalctl -u corral -p warning` works.
struct JournaldLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let pairs = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "<\(Self.priority(event.level))>\(label): \(event.message)\(pairs.isEmpty ? "" : " " + pairs)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
