import CorralCore
import CorralStore
import CorralTestSupport
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import CorralServe

/// The endpoint's limits on an `EmbeddedChannel`: the same pipeline as a real connection, with
/// the event loop's clock advanced by hand (no waiting, no wall clock).
@Suite struct HTTPLimitTests {
    static func channel(
        limits: HTTPLimits = HTTPLimits(maxConnections: 8), table: ConnectionTable? = nil
    ) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try StatusServer.configure(
            channel.pipeline.syncOperations, routes: StatusRoutes(journal: try ServeTests.journal()), limits: limits,
            table: table ?? ConnectionTable(capacity: limits.maxConnections))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(channel.allocator.buffer(string: text))
    }

    static func output(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func aTrickledRequestIsCutOffAtTheRequestTimeout() throws {
        let limits = HTTPLimits(maxConnections: 8)
        let channel = try Self.channel(limits: limits)
        try Self.send(channel, "GET /metr")
        channel.embeddedEventLoop.advanceTime(by: limits.requestTimeout - .milliseconds(1))
        #expect(channel.isActive)
        try Self.send(channel, "ic")  // Bytes alone do not extend the deadline.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func aKeptAliveConnectionIsClosedAfterTheIdleTimeout() throws {
        let limits = HTTPLimits(maxConnections: 8)
        let channel = try Self.channel(limits: limits)
        try Self.send(channel, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let reply = try Self.output(channel)
        #expect(reply.hasPrefix("HTTP/1.1 200 OK") && reply.hasSuffix("ok\n"))
        channel.embeddedEventLoop.advanceTime(by: limits.idleTimeout - .milliseconds(1))
        #expect(channel.isActive)
        // A second request on the same connection is answered, and re-arms the idle timer.
        try Self.send(channel, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try Self.output(channel).hasSuffix("ok\n"))
        channel.embeddedEventLoop.advanceTime(by: limits.idleTimeout - .milliseconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func headersBeyondTheCapGet400AndAClose() throws {
        let channel = try Self.channel()
        let request = "GET /metrics HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: 9 * 1024) + "\r\n\r\n"
        try Self.send(channel, request)
        #expect(try Self.output(channel).hasPrefix("HTTP/1.1 400"))
        #expect(!channel.isActive)
    }

    @Test func headersWithinTheCapAreServed() throws {
        let channel = try Self.channel()
        let request = "GET /healthz HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: 7 * 1024) + "\r\n\r\n"
        try Self.send(channel, request)
        #expect(try Self.output(channel).hasSuffix("ok\n"))
    }

    @Test func onlyGetAndHead() throws {
        let channel = try Self.channel()
        try Self.send(channel, "POST /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        let reply = try Self.output(channel)
        #expect(reply.hasPrefix("HTTP/1.1 405"))
        #expect(reply.contains("Allow: GET, HEAD"))
    }

    @Test func atTheCapTheOldestIdleConnectionMakesRoom() throws {
        let table = ConnectionTable(capacity: 2)
        let first = try Self.channel(table: table)
        let second = try Self.channel(table: table)
        // The second is mid-request (its head is in, its body not yet): it is not the one to go.
        // (A connection still sending its head counts as idle: a trickler is evictable.)
        try Self.send(second, "POST /status HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        let third = try Self.channel(table: table)
        #expect(!first.isActive && second.isActive && third.isActive)
        #expect(table.count == 2)
        // Every connection mid-request: a newcomer is refused rather than evicting one.
        try Self.send(third, "POST /status HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        let fourth = try Self.channel(table: table)
        #expect(!fourth.isActive)
        #expect(second.isActive)
        #expect(third.isActive)
    }

    @Test func unknownPathsAnd404() {
        let routes = StatusRoutes(journal: try! ServeTests.journal())
        #expect(routes.reply(method: .GET, uri: "/nope").status == .notFound)
        #expect(routes.reply(method: .GET, uri: "/healthz?probe=1").status == .ok)
    }
}

/// A device name is text the device (or whoever named it) chose: `/status` must carry it as one
/// JSON string, whatever it holds.
@Suite struct StatusDocumentTests {
    @Test func aCraftedDeviceNameCannotInjectFields() throws {
        let path = TemporaryPath.make("status") + ".sqlite"
        let journal = try Journal(path: path)
        let run = try journal.run(kind: "test", name: "status", startedUTC: 0)
        let crafted = "usb-evil\", \"state\": \"healthy\", \"x\": \"\u{1}\n"
        var batch = JournalBatch(run: run)
        batch.episodes = [
            Episode(
                subject: Subject(name: crafted), eventClass: "dma-fault", first: 0, last: 10, count: 3,
                lowerBound: false)
        ]
        try journal.write(batch)
        let reply = StatusRoutes(journal: journal).reply(method: .GET, uri: "/status")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
        let devices = try #require(object["devices"] as? [[String: Any]])
        #expect(devices.count == 1)
        #expect(devices[0]["device"] as? String == crafted)
        #expect(devices[0]["x"] == nil)
        #expect(devices[0]["state"] is NSNull || devices[0]["state"] == nil)
    }
}
