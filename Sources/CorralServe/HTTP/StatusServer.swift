import CorralStore
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Read-only HTTP endpoints over the journal, on loopback by default: `/` (what is here),
/// `/metrics` (Prometheus), `/status` (JSON), `/healthz`; `GET` and `HEAD`.
///
/// SwiftNIO's HTTP/1 server (NIOPosix + NIOHTTP1): it links no TLS, curl, Kerberos or LDAP
/// into a root daemon (FlyingFox imported FoundationNetworking, which brought 30 libraries of
/// them; docs/linux.md lists what the binary links now), its parser caps headers while parsing,
/// and its accept loop backs off on `EMFILE` instead of failing. One event-loop thread: in
/// `corral watch` this server shares the daemon's process and must never take more than that.
public final class StatusServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    public let limits: HTTPLimits

    /// `address`: an IPv4 or IPv6 address (default 127.0.0.1); `port` 0 picks a free one.
    /// Listening has begun when this returns.
    public init(journal: Journal, address: String = "127.0.0.1", port: UInt16, limits: HTTPLimits = HTTPLimits())
        async throws
    {
        // A client closing early must not end the process with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        self.limits = limits
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let routes = StatusRoutes(journal: journal)
        let table = ConnectionTable(capacity: limits.maxConnections)
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(
                            channel.pipeline.syncOperations, routes: routes, limits: limits, table: table)
                    }
                }
                .bind(host: address, port: Int(port)).get()
        } catch {
            try? await group.shutdownGracefully()
            throw ListenError(address: address, port: port, underlying: error)
        }
    }

    /// Why the server could not listen, in an operator's words: a busy port says so and how to
    /// find its holder, instead of SwiftNIO's `bind(descriptor:ptr:bytes:)` text.
    public struct ListenError: Error, CustomStringConvertible {
        public var address: String
        public var port: UInt16
        public var underlying: any Error

        public var errno: Int32? { (underlying as? IOError)?.errnoCode }

        public var description: String {
            switch errno {
            case EADDRINUSE?:
                "\(address):\(port) is already in use (another exporter, or a corral already serving); "
                    + "`ss -ltnp 'sport = :\(port)'` shows which process holds it; choose another with --port"
            case EACCES?:
                "\(address):\(port): permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"
            case EADDRNOTAVAIL?:
                "\(address) is not an address of this machine"
            default:
                "cannot listen on \(address):\(port): \(underlying)"
            }
        }
    }

    /// The connection's pipeline: SwiftNIO's HTTP/1 server (with the header cap, keep-alive
    /// pipelining and 400 on malformed requests), then `StatusRequestHandler`. Tests build the
    /// same pipeline on an `EmbeddedChannel`.
    static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, routes: StatusRoutes, limits: HTTPLimits,
        table: ConnectionTable
    ) throws {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = 100
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: true, withErrorHandling: true, withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: decoderLimits)
        try pipeline.addHandler(StatusRequestHandler(routes: routes, limits: limits, table: table))
    }

    /// The port it listens on.
    public var port: UInt16? {
        channel.localAddress?.port.map { UInt16(truncatingIfNeeded: $0) }
    }

    /// Serves until cancelled or `stop()`; an error on one connection, or a failed `accept`,
    /// never ends it.
    public func run() async throws {
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        try await group.shutdownGracefully()
    }

    public func stop() async {
        try? await channel.close()
    }
}
