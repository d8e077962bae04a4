import CorralCore
import CorralLinux
import CorralServe
import CorralStore
import Foundation
import Logging

/// `corral watch` as a service: opens the journal and `/dev/kmsg`, writes the start marker,
/// starts the status endpoint, then turns the loop — a pass (`Daemon.step`), the systemd
/// notifications, SIGHUP reloads, and the wait for the kernel's next record — until SIGTERM or
/// `--once`; then drains the hooks and flushes the journal. The CLI parses flags and calls it.
public enum DaemonService {
    public struct Settings: Sendable {
        public var root: String
        public var journalPath: String
        public var metricsPort: UInt16
        /// After a burst of kernel records, how long before reading again.
        public var pause: Duration
        public var once: Bool
        /// Where the policy came from, for the start line.
        public var configDescription: String
        /// Each decision as it is made (`watch --json`), in `history --json`'s shape.
        public var onDecision: (@Sendable (Journal.DecisionEntry) -> Void)? = nil

        public init(
            root: String, journalPath: String, metricsPort: UInt16, pause: Duration, once: Bool,
            configDescription: String
        ) {
            self.root = root
            self.journalPath = journalPath
            self.metricsPort = metricsPort
            self.pause = pause
            self.once = once
            self.configDescription = configDescription
        }
    }

    /// Runs until stopped. `reload` reads the policy again (SIGHUP); a failed reload keeps the
    /// current one.
    public static func run(
        _ settings: Settings, policy: Policy, reload: () throws -> Policy, logger: Logger
    ) async throws {
        func log(_ level: Logger.Level, _ message: String) { logger.log(level: level, "\(message)") }
        let sysRoot = SysRoot(settings.root)
        let journal: Journal
        do {
            journal = try Journal(path: settings.journalPath)
        } catch {
            throw DaemonStartError(description: error.description)
        }
        let bootID = sysRoot.read("/proc/sys/kernel/random/boot_id") ?? "unknown-boot"
        let cursor = try? journal.cursor(source: "kmsg")
        // kmsg sequence numbers are u64; the journal's column is SQLite's signed 64 bits: the
        // bits are kept as they are both ways (a number above Int64.max trapped on every start).
        let resume = cursor?.bootID == bootID ? cursor?.sequence.map { UInt64(bitPattern: $0) } : nil
        // Kernel records older than this are history: journaled and reported, never acted on.
        let startedAt = Instant(nanoseconds: SystemClock.monotonic())
        var watcher = Watcher(
            root: sysRoot, policy: policy, startedAt: startedAt, resumeAfter: resume,
            protectedPaths: [settings.journalPath])
        watcher.inventoryInterval = .seconds(5)
        // An action's outcome is stamped when its write was done, not when its step began.
        watcher.actionClock = { Instant(nanoseconds: SystemClock.monotonic()) }
        // On the real host, the kernel's uevents make inventory changes known at once.
        if settings.root == "/" { watcher.uevents = UeventMonitor() }
        // A quiet machine is sampled every 5 s; any kernel message or event brings it back to 1 s.
        watcher.idleCounterInterval = .seconds(5)
        var kmsg: KmsgDevice
        do {
            kmsg = try KmsgDevice(root: sysRoot)
        } catch {
            throw DaemonStartError(description: "\(error.localizedDescription)")
        }
        // The start marker: its kernel timestamp, read back from kmsg, is the start on the
        // kernel's own clock (unique per run, so an earlier run's marker in the backlog is not it).
        let marker =
            "corral[\(getpid())]: watch started at \(startedAt.nanoseconds); kernel records before this one are history"
        let markerWrittenAt = Instant(nanoseconds: SystemClock.monotonic())
        if kmsg.writeMarker(marker, root: sysRoot) {
            watcher.startMarker = Array(marker.utf8)
            watcher.startMarkerWrittenAt = markerWrittenAt
        }
        let run = try journal.run(kind: "daemon", name: bootID, startedUTC: SystemClock.utc(), clock: .host)
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
            hooks: HookRunner(policy: policy.hooks, journal: journal), bootID: bootID, logger: logger)
        daemon.onDecision = settings.onDecision
        let signals = SignalFlags()
        signals.install()
        var server: Task<Void, any Error>?
        if settings.metricsPort != 0 {
            // Containment does not depend on the metrics endpoint: a port someone else holds is
            // logged (in words: `StatusServer.ListenError`) and the daemon watches without it.
            do {
                let status = try await StatusServer(journal: journal, port: settings.metricsPort)
                server = Task {
                    do {
                        try await status.run()
                    } catch {
                        log(.error, "the status endpoint stopped: \(error); the daemon goes on without it")
                    }
                }
            } catch {
                log(.error, "no status endpoint: \(error); the daemon goes on without it")
            }
        }
        log(
            .info,
            "watching \(settings.root) in \(policy.mode) mode; \(watcher.host.inventory.devices.count) PCI functions, "
                + "\(watcher.protected.count) protected; journal \(settings.journalPath)\(resume.map { "; resuming after kmsg #\($0)" } ?? "")"
                + "; config \(settings.configDescription)"
        )
        if let trace = watcher.trace {
            log(
                .info,
                "tracepoints: \(trace.enabled.sorted().joined(separator: ", ")), read from "
                    + (trace.readsRawPages
                        ? "the binary per-CPU buffers (trace_pipe_raw)" : "the text pipe (trace_pipe)"))
        }
        for device in protection.devices.sorted() {
            log(.info, "protected (recommendations only): \(device): \(protection.explain(device))")
        }
        var notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        var announced = false
        // The tracepoint buffers are waited on too: a storm of records wakes the loop before the
        // buffers fill (the kernel wakes a poll on them when `buffer_percent`, 50 by default, of
        // a buffer is used), where a wait on kmsg alone left them unread for up to a second.
        let traceDescriptors = Set(daemon.watcher.trace?.fileDescriptors ?? [])
        var brokenDescriptors = Set<Int32>()
        while true {
            let now = Instant(nanoseconds: SystemClock.monotonic())
            daemon.step(&kmsg, now: now, utc: SystemClock.utc())
            // Ready once the backlog is handled; the watchdog is pinged from here, so a loop that
            // stops turning stops the pings.
            if !announced {
                announced = true
                notifier.ready(status: "watching in \(policy.mode) mode, \(daemon.watcher.protected.count) protected")
            }
            notifier.watchdogIfDue(at: now)
            if settings.once || signals.stop { break }
            if signals.takeReload() {
                notifier.reloading(monotonicMicroseconds: SystemClock.monotonic() / 1_000)
                do {
                    let reloaded = try reload()
                    daemon.reload(reloaded, hooks: HookRunner(policy: reloaded.hooks, journal: journal))
                    log(.notice, "configuration reloaded (mode \(reloaded.mode))")
                    notifier.ready(status: "watching in \(reloaded.mode) mode (reloaded)")
                } catch {
                    log(.error, "configuration reload failed (\(error)); keeping the current one")
                    notifier.ready(status: "reload failed; still on the previous configuration")
                }
            }
            if kmsg.isRegularFile {
                try? await Task.sleep(for: settings.pause)
            } else {
                // Wait until the kernel says something — a record wakes the loop at once, so a
                // fault that crosses a threshold is acted on within one step — or until the
                // engine, a quiescence poll or the counters need the loop. Only after a burst
                // (a backlog, a flood of lines) is the next read held back by `interval`.
                if daemon.watcher.lastStepRecords >= 256 { try? await Task.sleep(for: settings.pause) }
                let wake = daemon.watcher.nextWake(after: Instant(nanoseconds: SystemClock.monotonic()))
                let wait = (wake - Instant(nanoseconds: SystemClock.monotonic())).nanosecondsClamped / 1_000_000
                let descriptors =
                    [kmsg.fileDescriptor] + (daemon.watcher.uevents.map { [$0.fileDescriptor] } ?? [])
                    + (daemon.watcher.trace?.fileDescriptors ?? []).filter { !brokenDescriptors.contains($0) }
                let known = brokenDescriptors.count
                _ = KmsgDevice.waitReadable(
                    descriptors, milliseconds: Int32(max(1, min(wait, 1_000))), watching: traceDescriptors,
                    broken: &brokenDescriptors)
                if brokenDescriptors.count > known {
                    log(
                        .warning,
                        "a tracepoint buffer stopped answering poll(2) (closed or hung up): no longer waited on; "
                            + "the buffers are still read on every pass")
                }
            }
        }
        notifier.stopping()
        daemon.releaseKernelStormClaims()
        if !daemon.hooks.drain(timeout: policy.hooks.timeout + .seconds(2)) {
            log(.warning, "hooks still running at exit; their outcomes are journaled when they end, if they do")
        }
        daemon.flush(at: SystemClock.monotonic())
        server?.cancel()
        log(
            .info,
            "stopped: \(daemon.watcher.follower.records) kernel records, \(daemon.watcher.follower.notKernel) not from "
                + "the kernel (ignored), \(daemon.watcher.follower.lost) lost to ring-buffer overruns; journal flushed")
        if let trace = daemon.watcher.trace {
            log(
                .info,
                "tracepoints: \(trace.recordsRead) records read from "
                    + (trace.readsRawPages ? "the binary per-CPU buffers" : "the text pipe")
                    + ", \(trace.lostRecords) lost (\(trace.pagesAfterLoss) pages after a loss), "
                    + "\(trace.malformedPages) malformed pages")
        }
    }
}

/// Why the daemon could not start (the journal or `/dev/kmsg` could not be opened).
public struct DaemonStartError: Error, CustomStringConvertible {
    public var description: String
}

/// The host's clocks: CLOCK_MONOTONIC (kmsg's timestamps) and UTC, in nanoseconds.
public enum SystemClock {
    public static func monotonic() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    public static func utc() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
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
