import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 child channel with ``ServeConnectionHandler`` in front of it: every
/// accepted connection is registered with ``ServeConnections`` (or refused at its limit) and
/// its bytes are counted at the socket.
struct ServeChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let connections: ServeConnections

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let connection = connections.open(channel)
        if connection != nil {
            channel.closeFuture.whenComplete { [connections] _ in connections.closed(channel) }
        }
        do {
            try channel.pipeline.syncOperations.addHandler(ServeConnectionHandler(connection, sendTimeout: connections.sendTimeout), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
