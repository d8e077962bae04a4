import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// What one client may cost the daemon it shares a process with.
///
/// Measured before these limits (FlyingFox): a 256 KiB header cost over 30 s of CPU, a 1 MiB
/// header pinned a core for minutes while `/healthz` stopped answering, and 200 idle connections
/// under a 128-descriptor limit ended the process in `accept`. Each limit below closes one of
/// those doors; SwiftNIO's own `AcceptBackoffHandler` keeps `EMFILE` from ending anything.
public struct HTTPLimits: Sendable, Hashable {
    /// Request line and headers together (SwiftNIO's llhttp decoder enforces it while parsing,
    /// so a long header is refused after `maxHeaderBytes`, not after reading all of it). 8 KiB
    /// is what nginx allows a request line plus headers by default; our requests have none.
    public var maxHeaderBytes = 8 * 1024
    /// From the connection's start (or the end of its previous response) to the end of a
    /// request: a client trickling a header a byte at a time is cut off here.
    public var requestTimeout: TimeAmount = .seconds(5)
    /// A kept-alive connection with no request in progress is closed after this.
    public var idleTimeout: TimeAmount = .seconds(30)
    /// Open connections at most. At the cap the longest-waiting connection with no request in
    /// progress makes room for the new one (so idle holders cannot lock Prometheus out); when
    /// every connection is mid-request, the new one is closed at once.
    public var maxConnections: Int

    public init(maxConnections: Int = HTTPLimits.defaultMaxConnections()) {
        self.maxConnections = max(1, maxConnections)
    }

    /// 32, or a quarter of the process's descriptor limit when that is lower: the endpoint
    /// never takes the descriptors the daemon needs for sysfs, kmsg, the journal and hooks.
    public static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 32 }
        return max(1, min(32, Int(limit.rlim_cur / 4)))
    }
}
