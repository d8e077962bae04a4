import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One hook program, started and watched to its end without ever blocking on it.
///
/// - It runs in a process group of its own (`POSIX_SPAWN_SETPGROUP`), so that a timeout ends
///   the hook and everything it started: `SIGTERM` to the group, `SIGKILL` a second later.
/// - Its output (stdout and stderr, one pipe) is read as it comes: a hook writing more than a
///   pipe buffer never stalls waiting for us. The first `keep` bytes are kept for the journal,
///   the rest counted and dropped.
/// - It ends when the hook's own process has exited: a background child that still holds the
///   pipe open does not keep the hook's concurrency slot (its output is no longer read).
/// - Signals the daemon ignores (`SIGPIPE`) are reset to their defaults in the hook; it gets no
///   descriptor of the daemon's but its stdin, stdout and stderr.
struct HookProcess {
    enum End: Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed at its timeout (with its process group).
        case timedOut
    }

    struct Result: Equatable {
        var end: End
        /// The start of what it wrote (stdout and stderr interleaved).
        var output: [UInt8]
        /// Bytes it wrote beyond `output`.
        var dropped: Int
    }

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    private let outputFD: Int32

    /// Starts `argv` with `environment`, `input` on its stdin (small: written at once, never waited on).
    init(argv: [String], environment: [String: String], input: [UInt8]) throws(SpawnError) {
        var stdinPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        guard Self.closeOnExecPipe(&stdinPipe) else { throw SpawnError(description: "pipe: \(Self.errnoText())") }
        guard Self.closeOnExecPipe(&outPipe) else {
            close(stdinPipe[0])
            close(stdinPipe[1])
            throw SpawnError(description: "pipe: \(Self.errnoText())")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
        // Nothing else of the daemon's (journal, kmsg, sockets) reaches the hook.
        _ = Self.addCloseFrom?(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noMask = sigset_t()
        sigemptyset(&noMask)
        posix_spawnattr_setsigmask(&attributes, &noMask)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cArgv + cEnvironment { free(pointer) } }
        var child: pid_t = 0
        var status = posix_spawn(&child, argv[0], &actions, &attributes, cArgv, cEnvironment)
        // ETXTBSY: someone holds the program open for writing for a moment (a package upgrade
        // replacing it; a fork elsewhere in this process that inherited a descriptor and has
        // not reached its exec yet). Tried again a few times, 20 ms apart, before giving up.
        var busyRetries = 0
        while status == ETXTBSY, busyRetries < 5 {
            busyRetries += 1
            usleep(20_000)
            status = posix_spawn(&child, argv[0], &actions, &attributes, cArgv, cEnvironment)
        }
        close(stdinPipe[0])
        close(outPipe[1])
        guard status == 0 else {
            close(stdinPipe[1])
            close(outPipe[0])
            throw SpawnError(description: String(cString: strerror(status)))
        }
        pid = child
        outputFD = outPipe[0]
        // The event is small (well under a pipe buffer); non-blocking all the same, so a hook that
        // never reads its stdin cannot stall this write. Closed at once: the hook sees EOF.
        _ = fcntl(stdinPipe[1], F_SETFL, fcntl(stdinPipe[1], F_GETFL) | O_NONBLOCK)
        _ = input.withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
        close(stdinPipe[1])
        _ = fcntl(outputFD, F_SETFL, fcntl(outputFD, F_GETFL) | O_NONBLOCK)
    }

    /// Reads its output and waits for it, at most `timeout` (then its group is terminated, and
    /// killed `grace` later). Blocks the calling thread: the runner calls it on a thread of its own.
    func wait(timeout: Duration, grace: Duration = .seconds(1), keep: Int = 4096) -> Result {
        var output: [UInt8] = []
        var dropped = 0
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let start = ContinuousClock.now
        var signalled: Int32?
        var outputOpen = true
        defer { close(outputFD) }
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                // Whatever it wrote before exiting is in the pipe: read it, without waiting on a
                // background child that may still hold the pipe.
                if outputOpen { _ = drain(&buffer, &output, &dropped, keep) }
                let end: End =
                    signalled != nil
                    ? .timedOut : (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
                return Result(end: end, output: output, dropped: dropped)
            }
            if reaped < 0 && errno != EINTR {
                // Reaped elsewhere (a SIGCHLD handler set to SIG_IGN): the exit status is gone.
                return Result(end: .exited(-1), output: output, dropped: dropped)
            }
            let elapsed = ContinuousClock.now - start
            if signalled == nil, elapsed >= timeout {
                kill(-pid, SIGTERM)
                signalled = SIGTERM
            } else if signalled == SIGTERM, elapsed >= timeout + grace {
                kill(-pid, SIGKILL)
                signalled = SIGKILL
            }
            // Wait for output or for 20 ms (the exit check's period; pidfd would need a syscall
            // Swift cannot call directly).
            var poller = pollfd(fd: outputOpen ? outputFD : -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 20)
            if outputOpen, poller.revents != 0 {
                outputOpen = drain(&buffer, &output, &dropped, keep)
            }
        }
    }

    /// Reads what is there; returns false at end-of-file.
    private func drain(_ buffer: inout [UInt8], _ output: inout [UInt8], _ dropped: inout Int, _ keep: Int) -> Bool {
        while true {
            let count = buffer.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, $0.count) }
            if count == 0 { return false }
            if count < 0 { return errno == EAGAIN || errno == EINTR }
            let room = max(0, keep - output.count)
            output += buffer[0..<min(room, count)]
            dropped += count - min(room, count)
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func closeOnExecPipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), found at run time: Glibc's
    /// Swift module does not declare it (it needs `_GNU_SOURCE`). Without it (older glibc) the
    /// daemon's own descriptors are close-on-exec anyway (SQLite, kmsg and NIO open them so).
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()
}
