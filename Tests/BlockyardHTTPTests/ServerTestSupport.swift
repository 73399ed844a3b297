@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

// MARK: A raw HTTP/1.1 client

/// One HTTP response as bytes: the status, the header fields in order, the body.
struct RawResponse: Sendable {
    let status: Int
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    /// The first value of a header field (case-insensitive name).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func has(_ name: String) -> Bool { header(name) != nil }

    var text: String { String(decoding: body, as: UTF8.self) }
}

struct RawHTTPError: Error, CustomStringConvertible {
    let description: String
}

/// A keep-alive connection to 127.0.0.1 that sends requests byte for byte as given (header
/// names in the case given, any size) and reads responses exactly, so tests see what a
/// client sees. Blocking socket calls run on a dispatch queue, never on the cooperative pool
/// the server under test also runs on.
final class RawConnection: @unchecked Sendable {
    let port: Int
    private let socket: LoopbackSocket
    private var fd: Int32 { socket.fd }
    private var buffer: [UInt8] = []
    private let queue = DispatchQueue(label: "raw-http")
    /// Every byte received on the connection, in order (when made with `recording`).
    private(set) var transcript: [UInt8]?

    /// - Parameter recording: keep every received byte in ``transcript``.
    init(port: Int, timeoutSeconds: Int = 20, recording: Bool = false) throws {
        self.port = port
        if recording { transcript = [] }
        do {
            socket = try LoopbackSocket(port: port, timeoutSeconds: timeoutSeconds)
        } catch {
            throw RawHTTPError(description: "cannot connect to 127.0.0.1:\(port)")
        }
    }

    /// Sends a request and reads its response.
    func request(_ method: String = "GET", _ target: String, headers: [(String, String)] = []) async throws -> RawResponse {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return try await exchange(Array(text.utf8), isHead: method == "HEAD")
    }

    /// Sends arbitrary bytes, then reads one response.
    func exchange(_ bytes: [UInt8], isHead: Bool = false) async throws -> RawResponse {
        try await onQueue {
            try self.sendAll(bytes)
            return try self.readResponse(isHead: isHead)
        }
    }

    /// Sends bytes without reading (a partial or hostile request).
    func send(_ bytes: [UInt8]) async throws {
        try await onQueue { try self.sendAll(bytes) }
    }

    /// Reads a response to something sent earlier.
    func readResponse(isHead: Bool = false) async throws -> RawResponse {
        try await onQueue { try self.readResponse(isHead: isHead) }
    }

    /// Whether the peer has closed the connection (reads EOF or an error within the timeout).
    func isClosedByPeer() async -> Bool {
        (try? await onQueue { () -> Bool in
            var byte: UInt8 = 0
            return recv(self.fd, &byte, 1, 0) <= 0
        }) ?? true
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        let sent = socket.send(bytes)
        guard sent == bytes.count else {
            throw RawHTTPError(description: "send failed after \(sent) of \(bytes.count) bytes (errno \(errno))")
        }
    }

    /// More bytes into `buffer`; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw RawHTTPError(description: "recv failed (errno \(errno))") }
            if n == 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            transcript?.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw RawHTTPError(description: "connection closed in the response head") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw RawHTTPError(description: "connection closed after \(buffer.count) of \(count) body bytes") }
        }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }

    private func readResponse(isHead: Bool) throws -> RawResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw RawHTTPError(description: "bad status line \(statusLine.debugDescription)")
        }
        var headers: [(String, String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw RawHTTPError(description: "bad header line \(line.debugDescription)") }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        let response = RawResponse(status: status, headers: headers.map { (name: $0.0, value: $0.1) }, body: [])
        if isHead || status == 304 || status == 204 || (100..<200).contains(status) {
            return response
        }
        var body: [UInt8] = []
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw RawHTTPError(description: "bad chunk size \(sizeLine.debugDescription)")
                }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readExactly(size)
                _ = try readLine()
            }
        } else if let length = response.header("content-length").flatMap(Int.init) {
            body = try readExactly(length)
        } else {
            while try fill() {}
            body = buffer
            buffer.removeAll()
        }
        return RawResponse(status: status, headers: response.headers, body: body)
    }
}

/// One request on a new connection.
func fetch(_ port: Int, _ method: String = "GET", _ target: String, headers: [(String, String)] = []) async throws -> RawResponse {
    let connection = try RawConnection(port: port)
    return try await connection.request(method, target, headers: headers)
}

// MARK: The requests electron-updater 6.8.9 sends (docs/HTTP-SERVER.md, conformance table)

enum ElectronUpdaterRequest {
    /// `GenericProvider` channel-file request (Electron `net`: Chromium adds Accept-Encoding).
    static func channelFile(stagingID: String = "9f0c6a0e-3b1f-5c1a-9e21-6a3c2a51d7c4") -> [(String, String)] {
        [("User-Agent", "electron-builder"), ("Cache-Control", "no-cache"), ("x-user-staging-id", stagingID),
         ("Accept-Encoding", "gzip, deflate, br"), ("Connection", "keep-alive")]
    }

    /// `httpExecutor.downloadToBuffer` of a blockmap: GET without Range.
    static let blockmap: [(String, String)] = [
        ("accept", "*/*"), ("User-Agent", "electron-builder"), ("Cache-Control", "no-cache"),
        ("Accept-Encoding", "gzip, deflate, br"), ("Connection", "keep-alive"),
    ]

    /// Single-range mode (`isUseMultipleRangeRequest` false): lower-case `range`.
    static func singleRange(_ range: ByteRange) -> [(String, String)] {
        [("accept", "*/*"), ("User-Agent", "electron-builder"), ("Cache-Control", "no-cache"),
         ("range", "bytes=\(range.first)-\(range.last)"), ("Accept-Encoding", "identity"), ("Connection", "keep-alive")]
    }

    /// Multi-range mode: one `Range: bytes=a-b, c-d, …` request per batch.
    static func multiRange(_ ranges: [ByteRange]) -> [(String, String)] {
        [("accept", "*/*"), ("User-Agent", "electron-builder"), ("Cache-Control", "no-cache"),
         ("Range", RangeHeader.value(for: ranges)), ("Accept-Encoding", "identity"), ("Connection", "keep-alive")]
    }

    /// The full-download fallback: GET without Range.
    static let fullDownload: [(String, String)] = [
        ("accept", "*/*"), ("User-Agent", "electron-builder"), ("Cache-Control", "no-cache"),
        ("Accept-Encoding", "gzip, deflate, br"), ("Connection", "keep-alive"),
    ]
}

/// electron-updater's `checkIsRangesSupported` Content-Type check: a multipart type whose
/// last parameter is the boundary (quoted or a token). Returns the boundary.
func electronUpdaterBoundary(_ contentType: String) -> String? {
    let pattern = #"^multipart/.+?\s*;\s*boundary=(?:"([^"]+)"|([^\s";]+))\s*$"#
    guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]),
          let match = regex.firstMatch(in: contentType, range: NSRange(contentType.startIndex..., in: contentType)) else { return nil }
    for group in [1, 2] {
        if let range = Range(match.range(at: group), in: contentType) { return String(contentType[range]) }
    }
    return nil
}

/// electron-updater's `DataSplitter` reading a multipart body: skip `len(boundary)+2` bytes,
/// find CRLFCRLF, copy exactly each requested length in request order (part headers are
/// ignored), skip `\r\n--boundary`, repeat. Returns the parts, or nil where the real parser
/// would desynchronise (a missing header end, not enough bytes).
func electronUpdaterSplit(_ body: [UInt8], boundary: String, lengths: [Int]) -> [[UInt8]]? {
    func find(_ needle: [UInt8], from: Int) -> Int? {
        guard body.count >= needle.count else { return nil }
        var i = from
        while i <= body.count - needle.count {
            if body[i] == needle[0] && Array(body[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
    let crlf2: [UInt8] = [13, 10, 13, 10]
    var position = boundary.utf8.count + 2
    var parts: [[UInt8]] = []
    for length in lengths {
        guard let headerEnd = find(crlf2, from: position) else { return nil }
        let start = headerEnd + 4
        guard start + length <= body.count else { return nil }
        parts.append(Array(body[start..<(start + length)]))
        // After the data: "\r\n--" + boundary, then the next part's headers.
        position = start + length + 4 + boundary.utf8.count
    }
    return parts
}

// MARK: Servers

/// A `ReleaseServer` running in this process on a free port of 127.0.0.1.
final class RunningServer: @unchecked Sendable {
    let port: Int
    let server: ReleaseServer
    private let task: Task<Void, Never>

    private init(port: Int, server: ReleaseServer, task: Task<Void, Never>) {
        self.port = port
        self.server = server
        self.task = task
    }

    static func start(_ configuration: ServeConfiguration) async throws -> RunningServer {
        var configuration = configuration
        configuration.port = 0
        let server = try ReleaseServer(configuration: configuration)
        let (ports, continuation) = AsyncStream<Int?>.makeStream()
        let task = Task {
            do {
                try await server.run { _, port in continuation.yield(port) }
            } catch {
                continuation.yield(nil)
            }
            continuation.finish()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() ?? nil else {
            throw RawHTTPError(description: "the server did not start")
        }
        return RunningServer(port: port, server: server, task: task)
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func stop() async {
        task.cancel()
        await task.value
    }

    deinit { task.cancel() }
}

/// Starts nginx on a background thread (its start-up waits for the port).
func startNginx(root: String) async throws -> NginxServer {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try NginxServer(root: root) }) }
    }
}

// MARK: Release fixtures

/// A release directory made by `ReleaseBuilder` (what `blockyard release create` writes):
/// versions 1.0.0 and 1.1.0 of a Windows installer, a macOS zip and a Linux AppImage with an
/// embedded blockmap; 1.1.0 shares most content with 1.0.0, as real updates do.
final class ReleaseFixture: @unchecked Sendable {
    let directory: TemporaryDirectory
    let inputs: TemporaryDirectory
    var root: String { directory.url.path }
    let versions = ["1.0.0", "1.1.0"]

    init(stagingPercentage: Int? = nil, releaseNotes: String? = nil, signingKey: MetadataSigningKey? = nil) throws {
        directory = try TemporaryDirectory("serve-root")
        inputs = try TemporaryDirectory("serve-inputs")
        let base = VectorInputs.randomBytes(seed: 601, count: 3_000_000)
        for (index, version) in versions.enumerated() {
            var exe = base
            if index == 1 {
                // Small scattered edits (about a hundred changed chunks) and an insertion:
                // an update that electron-updater fetches with one multi-range request.
                for offset in stride(from: 20_000, to: 3_000_000, by: 24_000) {
                    exe.replaceSubrange(offset..<(offset + 4), with: [1, 2, 3, UInt8(truncatingIfNeeded: offset)])
                }
                exe.insert(contentsOf: VectorInputs.randomBytes(seed: 77, count: 12_345), at: 400_000)
            }
            let zip = VectorInputs.randomBytes(seed: 900 + UInt64(index), count: 150_000)
            var appImage = Array(exe.prefix(250_000))
            let tail = BlockmapCodec.embeddedTail(appImage.withUnsafeBytes { BlockmapBuilder.build($0).blockmap })
            appImage += tail
            let paths = [
                try inputs.write("MyApp-Setup-\(version).exe", exe),
                try inputs.write("MyApp-\(version)-mac.zip", zip),
                try inputs.write("MyApp-\(version).AppImage", appImage),
            ]
            let options = ReleaseCreateOptions(
                version: version, artifacts: paths, outputDirectory: root, releaseName: "MyApp \(version)",
                releaseNotes: releaseNotes.map(ReleaseNotes.text),
                stagingPercentage: index == versions.count - 1 ? stagingPercentage : nil, signingKey: signingKey,
                now: Date(timeIntervalSince1970: 1_767_225_600 + Double(index) * 86_400))
            _ = try ReleaseBuilder.create(options)
        }
    }

    func path(_ relative: String) -> String { root + "/" + relative }

    func bytes(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }

    func manifest(_ version: String) throws -> ReleaseManifest {
        try #require(try ReleaseManifest.load(root: root, version: version))
    }
}

extension Array where Element == UInt8 {
    func slice(_ range: ByteRange) -> [UInt8] { Array(self[range.range]) }
}
