import ArgumentParser
import CorralConfig
import CorralCore
import CorralDaemon
import CorralLinux
import CorralServe
import CorralStore
import Foundation
import Logging

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "The daemon: follow the kernel, contain misbehaving devices, journal everything.",
        discussion: """
            Reads /dev/kmsg (kernel records only: a forged user-space line is ignored and counted), \
            feeds the engine, and in enforce mode carries out its decisions through sysfs: bus \
            master, reset_method + reset, slot power, remove/rescan, unbind. In recommend mode it \
            logs exactly what it would do. The journal keeps its place (kmsg sequence + boot ID), \
            so a restart resumes without acting twice. SIGHUP reloads the config; SIGTERM stops \
            after flushing the journal. `--once` handles what is pending and exits. Under systemd \
            (`Type=notify`, contrib/systemd/corral.service) it reports READY once it watches, \
            RELOADING/STOPPING, and pings `WatchdogSec=` from its loop (no libsystemd needed).
            """)

    @Option(help: "observe, recommend or enforce (default: the config's, else recommend).")
    var mode: Policy.Mode?

    @Option(
        help: ArgumentHelp(
            "Policy file; refused if anyone but root can change it.",
            discussion: "Default: /etc/corral/corral.yaml (under --root) when it exists, else built-in defaults."))
    var config: String?

    @Option(help: "Root of the system to watch (tests use a fake tree).")
    var root: String = "/"

    @Option(name: .customLong("journal"), help: "The journal (SQLite) to write.")
    var journalPath: String = Journal.defaultPath

    @Option(
        help: "Serve /metrics, /status, /healthz on 127.0.0.1 at this TCP port, as `corral serve --port` does (0: off)."
    )
    var port: UInt16 = 0

    /// The flag's name before `serve` and `watch` agreed on `--port` (issue 17): still read, so a
    /// unit file written for an older Corral keeps its endpoint; not shown in --help.
    @Option(name: .customLong("metrics-port"), help: .hidden)
    var metricsPort: UInt16?

    func validate() throws {
        if let metricsPort, port != 0, metricsPort != port {
            throw ValidationError("--metrics-port is the old name of --port; give one of them")
        }
    }

    @Option(
        help:
            "After a burst of kernel records, wait this long before reading again (else a record wakes the daemon at once)."
    )
    var interval: String = "100ms"

    @Flag(help: "Handle what is pending, then exit (cron, tests).")
    var once = false

    @Flag(
        help: ArgumentHelp(
            "Print each decision as a JSON line on standard output as it is made.",
            discussion:
                "The shape of `history --json`'s decision lines (docs/json.md), with clock host and at_utc. "
                + "The log stays on standard error."))
    var json = false

    func run() async throws {
        if root == "/" && geteuid() != 0 {
            throw CommandFailure(
                "corral watch reads /dev/kmsg and writes sysfs: run it as root (or with --root for a fake tree)")
        }
        let policy = try loadPolicy()
        guard let pause = try? Duration(parsing: interval) else {
            throw CommandFailure("--interval: '\(interval)' is not a duration")
        }
        var settings = DaemonService.Settings(
            root: root, journalPath: journalPath, metricsPort: metricsPort ?? port, pause: pause, once: once,
            configDescription: configPath ?? "none (built-in defaults; \(Self.defaultConfig) is read when it exists)")
        if json {
            settings.onDecision = { decision in
                // Written whole and at once: stdout is a pipe to a script, not a terminal.
                FileHandle.standardOutput.write(Data((JSONLine.encode(decision) + "\n").utf8))
            }
        }
        do {
            try await DaemonService.run(settings, policy: policy, reload: loadPolicy, logger: Self.logger)
        } catch let error as DaemonStartError {
            throw CommandFailure(error.description)
        }
    }

    /// Read when `--config` is not given (under `--root`).
    static let defaultConfig = "/etc/corral/corral.yaml"

    /// `--config`, else the default file when it exists, else nil (built-in defaults).
    var configPath: String? {
        if let config { return config }
        let fallback = SysRoot(root).resolve(Self.defaultConfig)
        return FileManager.default.fileExists(atPath: fallback) ? fallback : nil
    }

    func loadPolicy() throws -> Policy {
        var policy = Policy()
        if let config = configPath {
            var status = stat()
            guard stat(config, &status) == 0 else { throw CommandFailure("\(config): cannot read it") }
            if let problem = FileTrust.problem(config) {
                throw CommandFailure(
                    "\(config): \(problem); refusing a config anyone but root can change (chown root, chmod go-w)")
            }
            policy = try PolicyLoader.load(path: config)
        }
        if let mode { policy.mode = mode }
        return policy
    }

    /// The daemon's logger: swift-log with `JournaldLogHandler` (`<N>` priorities on stderr).
    static let logger = Logger(label: "corral") { label in
        JournaldLogHandler(label: label, write: { line in FileHandle.standardError.write(Data(line.utf8)) })
    }

    func log(_ level: Logger.Level, _ message: String) {
        Self.logger.log(level: level, "\(message)")
    }
}
