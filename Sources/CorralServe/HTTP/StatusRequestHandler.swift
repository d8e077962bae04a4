import NIOCore
import NIOHTTP1

/// One connection of the status endpoint: admits it under the connection cap, answers each
/// request from `StatusRoutes`, and closes it when a request takes longer than
/// `HTTPLimits.requestTimeout` or a kept-alive connection idles past `idleTimeout`.
/// Sits after SwiftNIO's HTTP/1 server pipeline (which enforces the header cap and answers a
/// malformed request with 400 itself).
final class StatusRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let routes: StatusRoutes
    let limits: HTTPLimits
    let table: ConnectionTable
    private var request: HTTPRequestHead?
    private var deadline: Scheduled<Void>?

    init(routes: StatusRoutes, limits: HTTPLimits, table: ConnectionTable) {
        self.routes = routes
        self.limits = limits
        self.table = table
    }

    func channelActive(context: ChannelHandlerContext) {
        switch table.admit(context.channel) {
        case .admitted:
            break
        case .admittedByEvicting(let idle):
            idle.close(promise: nil)
        case .refused:
            context.close(promise: nil)
            return
        }
        arm(limits.requestTimeout, context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        table.remove(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            table.setBusy(context.channel, true)
            arm(limits.requestTimeout, context)
        case .body:
            break  // Nothing here takes a body; the request timeout bounds how long one may run.
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        let reply = routes.reply(method: head.method, uri: head.uri)
        var headers = HTTPHeaders([
            ("Content-Type", reply.contentType), ("Content-Length", String(reply.body.count)),
        ])
        for (name, value) in reply.extraHeaders { headers.add(name: name, value: value) }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: reply.body)))), promise: nil)
        }
        let done = context.writeAndFlushPromise(wrapOutboundOut(.end(nil)))
        if keepAlive {
            table.setBusy(context.channel, false)
            arm(limits.idleTimeout, context)
        } else {
            deadline?.cancel()
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Closes the connection after `timeout` unless re-armed first.
    private func arm(_ timeout: TimeAmount, _ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise(_ data: NIOAny) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        writeAndFlush(data, promise: promise)
        return promise.futureResult
    }
}
