import ArgumentParser
import CorralServe
import Foundation

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve /metrics (Prometheus), /status (JSON) and /healthz from the journal, read-only.",
        discussion: """
            Binds 127.0.0.1 by default: expose it wider on purpose (--address 0.0.0.0) and behind \
            whatever guards your metrics network. contrib/prometheus/corral-alerts.yml and \
            contrib/grafana/corral.json use these metrics. GET and HEAD only; `/` lists the \
            endpoints. Limits (a client cannot starve the daemon it may share a process with): \
            8 KiB of request line and headers, 5 s to send a request, 30 s idle on a kept-alive \
            connection, at most 32 connections (fewer under a low descriptor limit); at the cap \
            the longest-idle connection makes room.
            """)

    @OptionGroup var journal: JournalOption

    @Option(help: "IPv4 address to bind.")
    var address: String = "127.0.0.1"

    @Option(help: "TCP port (9464 is the usual exporter range).")
    var port: UInt16 = 9464

    func run() async throws {
        let store = try journal.open()
        let server: StatusServer
        do {
            server = try await StatusServer(journal: store, address: address, port: port)
        } catch let failure as StatusServer.ListenError {
            throw CommandFailure(failure.description)
        } catch {
            throw CommandFailure("cannot listen on \(address):\(port): \(error)")
        }
        print(
            "corral serve: http://\(address):\(server.port ?? port)/ (/metrics, /status, /healthz; journal \(store.path))"
        )
        try await server.run()
    }
}
