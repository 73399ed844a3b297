import Foundation

/// A bare HTTP/1.1 server on 127.0.0.1 whose answers a test writes byte by byte: for what no
/// real server does on demand (endless bodies, redirects to another port, broken framing).
/// One thread per connection, one request per connection; every request is logged with its
/// headers.
public final class LoopbackHTTPServer: @unchecked Sendable {
    /// A request as received: the request line and the headers (names lower-cased).
    public struct Request: Sendable {
        /// 1-based, in arrival order.
        public let index: Int
        public let method: String
        /// The request target as sent (path and query).
        public let target: String
        /// The target without its query.
        public let path: String
        public let headers: [String: String]
    }

    /// The client connection a handler answers on.
    public final class Connection: @unchecked Sendable {
        let fd: Int32
        private let server: LoopbackHTTPServer

        init(fd: Int32, server: LoopbackHTTPServer) {
            self.fd = fd
            self.server = server
        }

        /// Sends the status line and headers (plus `Connection: close`).
        @discardableResult
        public func writeHead(_ status: Int, _ headers: [String: String]) -> Bool {
            let reason = status == 200 ? "OK" : status == 206 ? "Partial Content" : "Status"
            var text = "HTTP/1.1 \(status) \(reason)\r\nConnection: close\r\n"
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
            return write(Array((text + "\r\n").utf8))
        }

        /// Sends everything it can; false once the client has gone (MSG_NOSIGNAL: a client
        /// that hung up must not kill the test).
        @discardableResult
        public func write(_ bytes: [UInt8]) -> Bool {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, min(bytes.count - done, 1 << 16), Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
                server.countSent(n)
            }
            return true
        }
    }

    /// Answers one request on its connection and returns the status to log (0: dropped).
    public typealias Handler = @Sendable (Request, Connection) -> Int

    public let port: Int
    private let handler: Handler
    private let listener: Int32
    private let lock = NSLock()
    private var count = 0
    private var sent = 0
    private var log: [(Request, Int)] = []
    private var stopped = false

    public init(handler: @escaping Handler) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            throw CocoaError(.featureUnsupported)
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { stop() }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting connections (those already open finish).
    public func stop() {
        let wasStopped = lock.withLock {
            defer { stopped = true }
            return stopped
        }
        if !wasStopped {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }
    }

    /// Bytes written to sockets (heads and bodies), all responses together.
    public var bytesSent: Int { lock.withLock { sent } }

    /// Requests answered so far, in arrival order, with the status each handler returned.
    public var requests: [(Request, Int)] { lock.withLock { log }.sorted { $0.0.index < $1.0.index } }

    fileprivate func countSent(_ n: Int) { lock.withLock { sent += n } }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let terminator: [UInt8] = [13, 10, 13, 10]
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return }
            buffer += chunk[0..<n]
            if buffer.count >= 4, (0...(buffer.count - 4)).contains(where: { Array(buffer[$0..<($0 + 4)]) == terminator }) { break }
            if buffer.count > 1 << 20 { return }
        }
        let lines = String(decoding: buffer, as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let target = String(requestLine[1])
        let request: Request = lock.withLock {
            count += 1
            return Request(index: count, method: String(requestLine[0]), target: target,
                           path: String(target.prefix { $0 != "?" }), headers: headers)
        }
        let status = handler(request, Connection(fd: fd, server: self))
        lock.withLock { log.append((request, status)) }
    }
}
