import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Ends a connection of `agent serve` after a response whose head says `Connection: close`
/// (the 413 for a body over the limit), instead of reading the rest of a request body that
/// may never end: once the response is flushed, the output side is shut (the client sees the
/// answer, then end of stream), whatever the client still sends is dropped unparsed, and the
/// connection is closed when the client closes its side or after `linger`, whichever comes
/// first. The linger lets a client that was still sending read the answer before the close
/// (closing with unread bytes would reset the connection and could lose it).
final class CloseAfterResponseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let linger: TimeAmount
    /// The response being written asked for the close.
    private var closeAfterEnd = false
    /// The final response went out: nothing more is read or answered.
    private var finished = false

    init(linger: TimeAmount = .seconds(1)) {
        self.linger = linger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !finished { context.fireChannelRead(data) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.headerFields[.connection]?.lowercased() == "close" { closeAfterEnd = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closeAfterEnd, !finished else {
                context.write(data, promise: promise)
                return
            }
            finished = true
            let channel = context.channel
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in
                channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
            }
            if let promise { written.futureResult.cascade(to: promise) }
            context.writeAndFlush(data, promise: written)
            context.eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) }
        }
    }
}
