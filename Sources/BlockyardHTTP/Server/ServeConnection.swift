import Foundation
import NIOCore
import Synchronization

/// One accepted connection of `blockyard serve`, as seen at its socket: how many bytes have been
/// written to it (so a response can place its multipart part headers relative to the
/// connection's byte stream, see ``MultipartByterangesEncoder/alignHeaderEnds(bodyStreamOffset:alignment:)``)
/// and whether it can take more bytes now (so a body is read from disk only when the client
/// is reading: a slow client holds at most one small block).
///
/// Updated by ``ServeConnectionHandler`` on the channel's event loop; read from the tasks that
/// answer its requests.
final class ServeConnection: Sendable {
    private struct State {
        var writable = true
        var closed = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let written = Atomic<Int>(0)
    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Bytes handed to the socket so far: response heads and bodies of every response on this
    /// connection. Complete for earlier responses once the next request has arrived (an
    /// HTTP/1.1 client sends it after reading the previous response).
    var bytesWritten: Int { written.load(ordering: .acquiring) }

    /// Whether the socket's write buffer is below its high watermark.
    var isWritable: Bool { state.withLock { $0.writable && !$0.closed } }

    /// Waits until the socket can take more bytes. False when the connection closed, or
    /// stayed unwritable for `timeout` (a client that stopped reading).
    func waitUntilWritable(timeout: TimeAmount) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let waiter: Int? = state.withLock { s in
                if s.closed || s.writable { return nil }
                let id = s.nextWaiter
                s.nextWaiter += 1
                s.waiters[id] = continuation
                return id
            }
            guard let waiter else {
                continuation.resume(returning: isWritable)
                return
            }
            eventLoop.scheduleTask(in: timeout) { [self] in
                state.withLock { $0.waiters.removeValue(forKey: waiter) }?.resume(returning: false)
            }
        }
    }

    func didWrite(_ count: Int) {
        _ = written.add(count, ordering: .releasing)
    }

    func setWritable(_ writable: Bool) {
        let ready: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            s.writable = writable
            guard writable else { return [] }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in ready { waiter.resume(returning: true) }
    }

    func didClose() {
        let waiting: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in waiting { waiter.resume(returning: false) }
    }
}

/// The first handler of a connection's pipeline (next to the socket): counts the bytes written
/// and reports writability changes to its ``ServeConnection``. With `refuse` set (the server is
/// at its connection limit) it answers `503 Service Unavailable` and closes instead, without
/// reading the request.
final class ServeConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    static let refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 45\r\n"
        + "Retry-After: 1\r\nConnection: close\r\n\r\n503 Service Unavailable: too many connections\n"

    let connection: ServeConnection?

    /// - Parameter connection: the connection's state; nil to refuse the connection.
    init(_ connection: ServeConnection?) {
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if connection == nil && context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if connection == nil { refuse(context) }
        context.fireChannelActive()
    }

    private func refuse(_ context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(string: Self.refusal)
        // A few bytes into an empty socket buffer: written by the flush, before the close.
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A refused connection's request is never parsed.
        if connection != nil { context.fireChannelRead(data) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        connection?.didWrite(unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection?.setWritable(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.didClose()
        context.fireChannelInactive()
    }
}

/// The open connections of a server: at most `limit` at once, found by their channel.
///
/// When many connections have closed, memory the allocator kept for their buffers is handed
/// back to the system (`malloc_trim`), so a burst of clients does not leave the process large.
final class ServeConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: ServeConnection] = [:]
        var peakSinceTrim = 0
        var trimScheduled = false
        var refused = 0
    }

    /// Most connections served at once; further ones get a 503 and are closed.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Registers an accepted connection; nil when the server is at its limit.
    func open(_ channel: any Channel) -> ServeConnection? {
        state.withLock { s in
            guard s.open.count < limit else {
                s.refused += 1
                return nil
            }
            let connection = ServeConnection(eventLoop: channel.eventLoop)
            s.open[ObjectIdentifier(channel)] = connection
            s.peakSinceTrim = max(s.peakSinceTrim, s.open.count)
            return connection
        }
    }

    /// The state of an open connection (nil for one this server did not register).
    func connection(for channel: any Channel) -> ServeConnection? {
        state.withLock { $0.open[ObjectIdentifier(channel)] }
    }

    /// Connections open now.
    var count: Int { state.withLock { $0.open.count } }

    /// Connections refused at the limit so far.
    var refusedCount: Int { state.withLock { $0.refused } }

    func closed(_ channel: any Channel) {
        let trim: Bool = state.withLock { s in
            s.open.removeValue(forKey: ObjectIdentifier(channel))
            // Worth a trim once at least 64 connections' buffers were given up; a burst of
            // closes shares one, half a second after the first.
            guard s.peakSinceTrim - s.open.count >= 64, !s.trimScheduled else { return false }
            s.trimScheduled = true
            return true
        }
        guard trim else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + 0.5) { [self] in
            ServeConnections.releaseFreeMemory()
            state.withLock { s in
                s.trimScheduled = false
                s.peakSinceTrim = s.open.count
            }
        }
    }

    /// glibc's `malloc_trim(0)`: returns the allocator's free memory to the system. Looked up
    /// at run time (it is not in Swift's Glibc module, and other C libraries lack it).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    static func releaseFreeMemory() {
        _ = mallocTrim?(0)
    }
}
