import ArgumentParser
import CorralConfig
import CorralCore
import CorralDaemon
import CorralDecode
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

    @Option(name: .customLong("journal"), help: "The journal (default: \(Journal.defaultPath)).")
    var journalPath: String = Journal.defaultPath

    @Option(help: "Serve /metrics, /status, /healthz on 127.0.0.1 at this port (0: off).")
    var metricsPort: UInt16 = 0

    @Option(
        help:
            "After a burst of kernel records, wait this long before reading again (else a record wakes the daemon at once)."
    )
    var interval: String = "100ms"

    @Flag(help: "Handle what is pending, then exit (cron, tests).")
    var once = false

    func run() async throws {
        let sysRoot = SysRoot(root)
        if root == "/" && geteuid() != 0 {
            throw CommandFailure(
                "corral watch reads /dev/kmsg and writes sysfs: run it as root (or with --root for a fake tree)")
        }
        let policy = try loadPolicy()
        guard let pause = try? Duration(parsing: interval) else {
            throw CommandFailure("--interval: '\(interval)' is not a duration")
        }
        let journal: Journal
        do {
            journal = try Journal(path: journalPath)
        } catch {
            throw CommandFailure(error.description)
        }
        let bootID = sysRoot.read("/proc/sys/kernel/random/boot_id") ?? "unknown-boot"
        let cursor = try? journal.cursor(source: "kmsg")
        // kmsg sequence numbers are u64; the journal's column is SQLite's signed 64 bits: the
        // bits are kept as they are both ways (a number above Int64.max trapped on every start).
        let resume = cursor?.bootID == bootID ? cursor?.sequence.map { UInt64(bitPattern: $0) } : nil
        // Kernel records older than this are history: journaled and reported, never acted on.
        let startedAt = Instant(nanoseconds: monotonicNow())
        var watcher = Watcher(
            root: sysRoot, policy: policy, startedAt: startedAt, resumeAfter: resume, protectedPaths: [journalPath])
        watcher.inventoryInterval = .seconds(5)
        // On the real host, the kernel's uevents make inventory changes known at once.
        if root == "/" { watcher.uevents = UeventMonitor() }
        // A quiet machine is sampled every 5 s; any kernel message or event brings it back to 1 s.
        watcher.idleCounterInterval = .seconds(5)
        var kmsg: KmsgDevice
        do {
            kmsg = try KmsgDevice(root: sysRoot)
        } catch {
            throw CommandFailure("\(error.localizedDescription)")
        }
        // The start marker: its kernel timestamp, read back from kmsg, is the start on the
        // kernel's own clock (unique per run, so an earlier run's marker in the backlog is not it).
        let marker =
            "corral[\(getpid())]: watch started at \(startedAt.nanoseconds); kernel records before this one are history"
        let markerWrittenAt = Instant(nanoseconds: monotonicNow())
        if kmsg.writeMarker(marker, root: sysRoot) {
            watcher.startMarker = Array(marker.utf8)
            watcher.startMarkerWrittenAt = markerWrittenAt
        }
        let run = try journal.run(kind: "daemon", name: bootID, startedUTC: utcNow())
        let protection = watcher.protection
        try? journal.recordProtection(
            run: run,
            protection.devices.sorted().flatMap { device in
                (protection.reasons[device] ?? []).map { (device.description, $0.description) }
            })
        // Hooks fire from the daemon: on-owner when a VM's device storms, on-containment,
        // on-re-enable, on-retirement (each run journaled by the runner).
        var daemon = Daemon(
            watcher: watcher, writer: JournalWriter(journal: journal, run: run),
            hooks: HookRunner(policy: policy.hooks, journal: journal), bootID: bootID, logger: Self.logger)
        let signals = SignalFlags()
        signals.install()
        var server: Task<Void, any Error>?
        if metricsPort != 0 {
            let status = try await StatusServer(journal: journal, port: metricsPort)
            server = Task {
                do {
                    try await status.run()
                } catch {
                    log(.error, "the status endpoint stopped: \(error); the daemon goes on without it")
                }
            }
        }
        log(
            .info,
            "watching \(root) in \(policy.mode) mode; \(watcher.host.inventory.devices.count) PCI functions, "
                + "\(watcher.protected.count) protected; journal \(journalPath)\(resume.map { "; resuming after kmsg #\($0)" } ?? "")"
                + "; config \(configPath ?? "none (built-in defaults; \(Self.defaultConfig) is read when it exists)")"
        )
        for device in protection.devices.sorted() {
            log(.info, "protected (recommendations only): \(device): \(protection.explain(device))")
        }
        var notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        var announced = false
        while true {
            let now = Instant(nanoseconds: monotonicNow())
            daemon.step(&kmsg, now: now, utc: utcNow())
            // Ready once the backlog is handled; the watchdog is pinged from here, so a loop that
            // stops turning stops the pings.
            if !announced {
                announced = true
                notifier.ready(status: "watching in \(policy.mode) mode, \(daemon.watcher.protected.count) protected")
            }
            notifier.watchdogIfDue(at: now)
            if once || signals.stop { break }
            if signals.takeReload() {
                notifier.reloading(monotonicMicroseconds: monotonicNow() / 1_000)
                do {
                    let reloaded = try loadPolicy()
                    daemon.reload(reloaded, hooks: HookRunner(policy: reloaded.hooks, journal: journal))
                    log(.notice, "configuration reloaded (mode \(reloaded.mode))")
                    notifier.ready(status: "watching in \(reloaded.mode) mode (reloaded)")
                } catch {
                    log(.error, "configuration reload failed (\(error)); keeping the current one")
                    notifier.ready(status: "reload failed; still on the previous configuration")
                }
            }
            if kmsg.isRegularFile {
                try? await Task.sleep(for: pause)
            } else {
                // Wait until the kernel says something — a record wakes the loop at once, so a
                // fault that crosses a threshold is acted on within one step — or until the
                // engine, a quiescence poll or the counters need the loop. Only after a burst
                // (a backlog, a flood of lines) is the next read held back by `interval`.
                if daemon.watcher.lastStepRecords >= 256 { try? await Task.sleep(for: pause) }
                let wake = daemon.watcher.nextWake(after: Instant(nanoseconds: monotonicNow()))
                let wait = (wake - Instant(nanoseconds: monotonicNow())).nanosecondsClamped / 1_000_000
                let descriptors = [kmsg.fileDescriptor] + (daemon.watcher.uevents.map { [$0.fileDescriptor] } ?? [])
                _ = KmsgDevice.waitReadable(descriptors, milliseconds: Int32(max(1, min(wait, 1_000))))
            }
        }
        notifier.stopping()
        if !daemon.hooks.drain(timeout: policy.hooks.timeout + .seconds(2)) {
            log(.warning, "hooks still running at exit; their outcomes are journaled when they end, if they do")
        }
        daemon.flush(at: monotonicNow())
        server?.cancel()
        log(
            .info,
            "stopped: \(daemon.watcher.follower.records) kernel records, \(daemon.watcher.follower.notKernel) not from "
                + "the kernel (ignored), \(daemon.watcher.follower.lost) lost to ring-buffer overruns; journal flushed")
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

/// SIGTERM/SIGINT (stop) and SIGHUP (reload): plain sigaction handlers that only set a flag
/// (async-signal-safe), read by the loop between steps.
nonisolated(unsafe) private var stopSignal: sig_atomic_t = 0
nonisolated(unsafe) private var reloadSignal: sig_atomic_t = 0

final class SignalFlags: @unchecked Sendable {
    var stop: Bool { stopSignal != 0 }

    func takeReload() -> Bool {
        defer { reloadSignal = 0 }
        return reloadSignal != 0
    }

    func install() {
        var stopAction = sigaction()
        stopAction.__sigaction_handler.sa_handler = { _ in stopSignal = 1 }
        sigemptyset(&stopAction.sa_mask)
        sigaction(SIGTERM, &stopAction, nil)
        sigaction(SIGINT, &stopAction, nil)
        var reloadAction = sigaction()
        reloadAction.__sigaction_handler.sa_handler = { _ in reloadSignal = 1 }
        sigemptyset(&reloadAction.sa_mask)
        sigaction(SIGHUP, &reloadAction, nil)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of kmsg's timestamps.
func monotonicNow() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}
