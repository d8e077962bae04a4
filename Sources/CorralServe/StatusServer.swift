import CorralStore
import FlyingFox
import FlyingSocks
import Foundation

/// Read-only HTTP endpoints over the journal, on loopback by default: `/metrics` (Prometheus),
/// `/status` (JSON), `/healthz`. FlyingFox: a small server that costs far less CI build time
/// than the alternatives (reference/swift-deps-probe.md).
public final class StatusServer: Sendable {
    let server: HTTPServer
    let journal: Journal

    /// `address`: an IPv4 address (default 127.0.0.1); `port` 0 picks a free one.
    public init(journal: Journal, address: String = "127.0.0.1", port: UInt16) throws {
        self.journal = journal
        // A client closing early must not end the process with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        server = HTTPServer(address: try .inet(ip4: address, port: port), logger: .disabled)
    }

    /// Serves until cancelled or `stop()`.
    public func run() async throws {
        await server.appendRoute("GET /metrics") { [journal] _ in
            let snapshot = try journal.metricsSnapshot()
            return HTTPResponse(
                statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: Data(MetricsExposition.render(snapshot).utf8))
        }
        await server.appendRoute("GET /status") { [journal] _ in
            let devices = try journal.deviceSummaries().map { summary in
                "{\"device\": \"\(summary.device)\", \"state\": \(summary.state.map { "\"\($0)\"" } ?? "null"), "
                    + "\"events\": \(summary.events), \"episodes\": \(summary.episodes)}"
            }
            return HTTPResponse(
                statusCode: .ok, headers: [.contentType: "application/json"],
                body: Data("{\"devices\": [\(devices.joined(separator: ", "))]}\n".utf8))
        }
        await server.appendRoute("GET /healthz") { _ in
            HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain"], body: Data("ok\n".utf8))
        }
        do {
            try await server.run()
        } catch is CancellationError {
            // stop() ends run() this way: a normal end.
        }
    }

    /// The port it listens on, once listening. Returns as soon as the socket listens; the
    /// generous bound (FlyingFox's default is 5 s) only matters on a machine so loaded that
    /// `run()` has not been scheduled yet — a test run on 2 cores once took longer than 5 s.
    public func port() async throws -> UInt16? {
        try await server.waitUntilListening(timeout: 120)
        if case .ip4(_, let port) = await server.listeningAddress { return port }
        return nil
    }

    public func stop() async {
        await server.stop(timeout: 1)
    }
}
