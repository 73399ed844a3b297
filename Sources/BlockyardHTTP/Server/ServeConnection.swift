import Foundation
import NIOCore
import Synchronization

/// One accepted connection of `blockyard serve`, as seen at its socket: how many bytes have
/// been written to it (so a response knows where its head starts in the connection's byte
/// stream, see ``MultipartByterangesEncoder/alignHeaderEnds(readOrigins:alignment:)``), and how
/// many of them the socket has not taken yet (so a body is read from disk only as fast as the
/// client reads it: a slow client holds at most one block of this process's memory).
///
/// Updated by ``ServeConnectionHandler`` on the channel's event loop; read from the tasks that
/// answer its requests.
final class ServeConnection: Sendable {
    private struct State {
        var written = 0
        var completed = 0
        var lastProgress = NIODeadline.now()
        var closed = false
        var waiters: [(target: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    }

    private let state = Mutex(State())

    /// Bytes handed to the socket so far: response heads and bodies of every response on this
    /// connection. Complete for earlier responses once the next request has arrived (an
    /// HTTP/1.1 client sends it after reading the previous response).
    var bytesWritten: Int { state.withLock { $0.written } }

    /// Bytes of this connection the socket has taken so far (monotonic).
    var bytesCompleted: Int { state.withLock { $0.completed } }

    /// Waits until the socket has taken at least `target` bytes of this connection in all (at
    /// once when it has). False when the connection closed first, e.g. by the send timeout.
    func waitUntilCompleted(atLeast target: Int) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let answer: Bool? = state.withLock { s in
                if s.closed { return false }
                if s.completed >= target { return true }
                s.waiters.append((target, continuation))
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// The handler passed `count` bytes towards the socket.
    func didEnqueue(_ count: Int) {
        state.withLock { s in
            if s.written == s.completed { s.lastProgress = .now() }
            s.written += count
        }
    }

    /// The socket took `count` bytes written earlier (or the write failed).
    func didComplete(_ count: Int) {
        let ready: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            s.completed += count
            s.lastProgress = .now()
            let completed = s.completed
            let ready = s.waiters.filter { completed >= $0.target }.map(\.continuation)
            s.waiters.removeAll { completed >= $0.target }
            return ready
        }
        for waiter in ready { waiter.resume(returning: true) }
    }

    /// Whether bytes have waited for the socket without any progress for `timeout`.
    func isStalled(for timeout: TimeAmount) -> Bool {
        state.withLock { $0.written > $0.completed && NIODeadline.now() - $0.lastProgress > timeout }
    }

    func didClose() {
        let waiting: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return s.waiters.map(\.continuation)
        }
        for waiter in waiting { waiter.resume(returning: false) }
    }
}

/// The first handler of a connection's pipeline (next to the socket): counts the bytes written
/// and the bytes the socket took (write completions) for its ``ServeConnection``, and closes
/// the connection when bytes have waited for the socket without progress for the send timeout
/// (a client that stopped reading). With no connection (the server is at its connection limit)
/// it answers `503 Service Unavailable` and closes instead, without reading the request.
final class ServeConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    static let refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 45\r\n"
        + "Retry-After: 1\r\nConnection: close\r\n\r\n503 Service Unavailable: too many connections\n"

    let connection: ServeConnection?
    let sendTimeout: TimeAmount
    private var watchdog: RepeatedTask?

    /// - Parameter connection: the connection's state; nil to refuse the connection.
    init(_ connection: ServeConnection?, sendTimeout: TimeAmount) {
        self.connection = connection
        self.sendTimeout = sendTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard let connection else {
            let buffer = context.channel.allocator.buffer(string: Self.refusal)
            // A few bytes into an empty socket buffer: written by the flush, before the close.
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
            context.close(promise: nil)
            return
        }
        guard watchdog == nil else { return }
        let channel = context.channel
        let timeout = sendTimeout
        let period = TimeAmount.nanoseconds(max(TimeAmount.milliseconds(250).nanoseconds, timeout.nanoseconds / 4))
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            if connection.isStalled(for: timeout) { channel.close(promise: nil) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A refused connection's request is never parsed.
        if connection != nil { context.fireChannelRead(data) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let connection else {
            context.write(data, promise: promise)
            return
        }
        let count = unwrapOutboundIn(data).readableBytes
        connection.didEnqueue(count)
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in connection.didComplete(count) }
        context.write(data, promise: written)
    }

    func channelInactive(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
        connection?.didClose()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
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
    }

    /// Most connections served at once; further ones get a 503 and are closed.
    let limit: Int
    /// How long bytes may wait for a client that stopped reading before its connection is closed.
    let sendTimeout: TimeAmount
    private let state = Mutex(State())

    init(limit: Int, sendTimeout: TimeAmount) {
        self.limit = limit
        self.sendTimeout = sendTimeout
    }

    /// Registers an accepted connection; nil when the server is at its limit.
    func open(_ channel: any Channel) -> ServeConnection? {
        state.withLock { s in
            guard s.open.count < limit else { return nil }
            let connection = ServeConnection()
            s.open[ObjectIdentifier(channel)] = connection
            s.peakSinceTrim = max(s.peakSinceTrim, s.open.count)
            return connection
        }
    }

    /// The state of an open connection (nil for one this server did not register).
    func connection(for channel: any Channel) -> ServeConnection? {
        state.withLock { $0.open[ObjectIdentifier(channel)] }
    }

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
