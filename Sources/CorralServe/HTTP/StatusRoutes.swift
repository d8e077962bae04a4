import CorralStore
import Foundation
import NIOHTTP1

/// What each path answers: pure, so it is tested without a socket.
public struct StatusRoutes: Sendable {
    public struct Reply: Sendable, Equatable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: [UInt8]
        public var extraHeaders: [(String, String)] = []

        public static func == (a: Reply, b: Reply) -> Bool {
            a.status == b.status && a.contentType == b.contentType && a.body == b.body
                && a.extraHeaders.map { "\($0.0): \($0.1)" } == b.extraHeaders.map { "\($0.0): \($0.1)" }
        }

        static func text(_ status: HTTPResponseStatus, _ text: String) -> Reply {
            Reply(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
    }

    let journal: Journal

    public init(journal: Journal) {
        self.journal = journal
    }

    /// The index page: what is here, for a person who opens the address in a browser.
    static let index = """
        corral: device fault containment, read-only endpoints over the journal

          /metrics   Prometheus text format (contrib/prometheus/corral-alerts.yml uses it)
          /status    every device the journal knows, JSON (the contract of `corral status --json`)
          /healthz   "ok" while this endpoint can read the journal

        """

    /// `GET` and `HEAD` (same headers, no body) only; the query string is ignored.
    public func reply(method: HTTPMethod, uri: String) -> Reply {
        guard method == .GET || method == .HEAD else {
            var reply = Reply.text(.methodNotAllowed, "only GET and HEAD\n")
            reply.extraHeaders = [("Allow", "GET, HEAD")]
            return reply
        }
        let path =
            uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        do {
            switch path {
            case "/":
                return .text(.ok, Self.index)
            case "/metrics":
                return Reply(
                    status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    body: Array(
                        MetricsExposition.render(try journal.metricsSnapshot(), names: try DeviceNames.load(journal))
                            .utf8))
            case "/status":
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                var body = Array(try encoder.encode(try journal.statusDocument()))
                body.append(UInt8(ascii: "\n"))
                return Reply(status: .ok, contentType: "application/json", body: body)
            case "/healthz":
                try journal.ping()
                return .text(.ok, "ok\n")
            default:
                return .text(.notFound, "not found; see /\n")
            }
        } catch {
            return .text(.internalServerError, "journal: \(error)\n")
        }
    }
}
