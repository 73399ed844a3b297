import AsyncHTTPClient
import BlockyardCore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// How often and how patiently a request is retried after a transient failure.
public struct RetryPolicy: Sendable, Equatable {
    /// Retries after the first attempt (0: none).
    public var retries: Int
    /// Delay before the first retry; doubled for each further one, with ±25 % jitter.
    public var initialDelay: Double
    /// Longest delay between attempts (also caps a server's `Retry-After`).
    public var maximumDelay: Double

    public init(retries: Int = 5, initialDelay: Double = 0.25, maximumDelay: Double = 8) {
        self.retries = retries
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The delay before retry number `attempt` (1-based).
    public func delay(attempt: Int, retryAfter: Double? = nil) -> Double {
        if let retryAfter { return min(max(0, retryAfter), maximumDelay) }
        let base = min(maximumDelay, initialDelay * pow(2, Double(max(0, attempt - 1))))
        return base * Double.random(in: 0.75...1.25)
    }
}

/// Counters of what went over the wire, shared by every request of one session.
public struct TransferCounters: Codable, Equatable, Sendable {
    /// HTTP requests sent (each retry and each redirect-following request counts once).
    public var requests = 0
    /// Response body bytes received, all requests together (multipart framing included,
    /// bytes of aborted responses up to the abort included).
    public var bodyBytes = 0
    /// Attempts repeated after a transient failure.
    public var retries = 0
    /// Requests abandoned on purpose (a 200 full body no longer needed, a wasteful answer).
    public var aborted = 0

    public init() {}
}

/// A response whose body has not been read yet.
struct OpenResponse: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: HTTPClientResponse.Body
    let url: String

    func header(_ name: String) -> String? { headers.first(name: name) }
}

/// The HTTP side of the update client: one AsyncHTTPClient without transparent
/// decompression, connect and read timeouts, a few connections per host, and the headers
/// every request carries (User-Agent, `Cache-Control: no-cache`, the user's).
///
/// Redirects are followed here, not by AsyncHTTPClient (up to ``maximumRedirects``, no
/// cycles, http(s) only), so that credentials never cross origins: once a redirect changes
/// scheme, host or port, every credential header (``credentialHeaders`` and the session's
/// secret headers) is dropped for the rest of the chain. A refused connection fails the
/// attempt at once (AsyncHTTPClient would otherwise keep reconnecting until the connect
/// timeout); the retry policy decides what happens next.
public final class HTTPSession: Sendable {
    let client: HTTPClient
    let headers: [(String, String)]
    /// Lower-cased names of the headers that must not follow a redirect to another origin.
    let secretHeaders: Set<String>
    public let retry: RetryPolicy
    /// Time to wait for a response head.
    let headTimeout: TimeAmount
    private let counters = Mutex(TransferCounters())

    /// Headers that carry credentials, always dropped when a redirect leaves the origin.
    public static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "private-token"]
    /// Redirects followed per request.
    public static let maximumRedirects = 10

    /// - Parameters:
    ///   - headers: extra headers for every request (e.g. `Authorization`).
    ///   - secretHeaders: names of further headers (besides ``credentialHeaders``) that are
    ///     dropped when a redirect leaves the origin, e.g. `X-Api-Key`.
    ///   - connections: connections per host.
    ///   - connectTimeout: how long one attempt may wait for a connection to be established.
    ///   - readTimeout: longest silence while reading a response before the attempt fails.
    public init(headers: [(String, String)] = [], secretHeaders: [String] = [], connections: Int = 4,
                retry: RetryPolicy = RetryPolicy(), connectTimeout: Double = 10, readTimeout: Double = 30) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(Int64(connectTimeout * 1000)), read: .milliseconds(Int64(readTimeout * 1000))),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(2, connections)),
            decompression: .disabled)
        // A refused connection is an answer: fail the attempt now, retry on our own backoff.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .automatic
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.headers = headers
        self.secretHeaders = Self.credentialHeaders.union(secretHeaders.map { $0.lowercased() })
        self.retry = retry
        headTimeout = .milliseconds(Int64(max(readTimeout, connectTimeout) * 1000) * 2)
    }

    /// Closes every connection. Call once when done.
    public func shutdown() async {
        try? await client.shutdown()
    }

    public var statistics: TransferCounters { counters.withLock { $0 } }

    func count(bodyBytes: Int) { counters.withLock { $0.bodyBytes += bodyBytes } }
    func countRetry() { counters.withLock { $0.retries += 1 } }
    func countAbort() { counters.withLock { $0.aborted += 1 } }

    /// Sends a GET and returns once the response head is in, following redirects. The
    /// caller reads (or drops) the body; dropping it before the end aborts the request and
    /// closes its connection.
    func open(_ url: URL, extraHeaders: [(String, String)] = [], method: HTTPMethod = .GET) async throws -> OpenResponse {
        var sent: [(String, String)] = [("User-Agent", HTTPDefaults.userAgent), ("Accept", "*/*"), ("Cache-Control", "no-cache")]
        for (name, value) in headers + extraHeaders {
            sent.removeAll { $0.0.lowercased() == name.lowercased() }
            sent.append((name, value))
        }
        var current = url
        var method = method
        var visited: Set<String> = [url.absoluteString]
        while true {
            var request = HTTPClientRequest(url: current.absoluteString)
            request.method = method
            for (name, value) in sent { request.headers.add(name: name, value: value) }
            counters.withLock { $0.requests += 1 }
            let response = try await client.execute(request, timeout: headTimeout)
            let status = Int(response.status.code)
            guard [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "Location") else {
                return OpenResponse(status: status, headers: response.headers, body: response.body, url: current.absoluteString)
            }
            guard visited.count <= Self.maximumRedirects else { throw HTTPClientError.redirectLimitReached }
            guard let next = URL(string: UpdateFeed.encodeLoosely(location), relativeTo: current)?.absoluteURL,
                  let scheme = next.scheme?.lowercased(), scheme == "http" || scheme == "https", next.host != nil else {
                throw UpdateError(.io, "\(Self.display(current)): HTTP \(status) redirects to \(location.prefix(200)), not an http(s) URL")
            }
            guard visited.insert(next.absoluteString).inserted else { throw HTTPClientError.redirectCycleDetected }
            await drain(response.body)
            if !Self.sameOrigin(current, next) {
                // Credentials were meant for the origin that was asked, not for where it points.
                sent.removeAll { secretHeaders.contains($0.0.lowercased()) }
            }
            if status == 303 && method != .HEAD { method = .GET }
            current = next
        }
    }

    /// Reads a redirect's (small) body so the connection can be reused; a large one is dropped.
    private func drain(_ body: HTTPClientResponse.Body) async {
        var total = 0
        do {
            for try await buffer in body {
                count(bodyBytes: buffer.readableBytes)
                total += buffer.readableBytes
                if total > 1 << 16 { return }
            }
        } catch {}
    }

    /// Same scheme, host and port (the default port of the scheme when none is given).
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        func origin(_ url: URL) -> (String, String, Int) {
            let scheme = url.scheme?.lowercased() ?? ""
            return (scheme, url.host?.lowercased() ?? "", url.port ?? (scheme == "https" ? 443 : 80))
        }
        return origin(a) == origin(b)
    }

    /// The body of a small resource (channel file, signature, blockmap): GET with retries on
    /// transient failures. Returns nil for 404/410 when `missingIsNil`.
    /// - Parameter limit: largest body accepted.
    public func fetch(_ url: URL, what: String, limit: Int, extraHeaders: [(String, String)] = [],
               missingIsNil: Bool = false) async throws(UpdateError) -> [UInt8]? {
        var attempt = 0
        while true {
            do throws(AttemptError) {
                return try await fetchOnce(url, what: what, limit: limit, extraHeaders: extraHeaders, missingIsNil: missingIsNil)
            } catch {
                switch error {
                case .permanent(let e): throw e
                case .transient(let message, let retryAfter):
                    attempt += 1
                    guard attempt <= retry.retries else {
                        throw UpdateError(.io, "\(what) (\(Self.display(url))): \(message) (gave up after \(attempt) attempt\(attempt == 1 ? "" : "s"))", transient: true)
                    }
                    countRetry()
                    do {
                        try await Task.sleep(for: .seconds(retry.delay(attempt: attempt, retryAfter: retryAfter)))
                    } catch {
                        throw UpdateError(.io, "\(what): cancelled", transient: true)
                    }
                }
            }
        }
    }

    private func fetchOnce(_ url: URL, what: String, limit: Int, extraHeaders: [(String, String)],
                           missingIsNil: Bool) async throws(AttemptError) -> [UInt8]? {
        let response: OpenResponse
        do {
            response = try await open(url, extraHeaders: extraHeaders)
        } catch {
            throw AttemptError.classify(error)
        }
        switch response.status {
        case 200:
            break
        case 404, 410:
            if missingIsNil { return nil }
            throw .permanent(UpdateError(.missingInput, "\(what) (\(Self.display(url))): HTTP \(response.status) not found"))
        default:
            throw AttemptError.status(response.status, retryAfter: response.header("Retry-After"), what: "\(what) (\(Self.display(url)))")
        }
        if let length = response.header("Content-Length").flatMap(Int.init), length > limit {
            throw .permanent(UpdateError(.invalidData, "\(what) (\(Self.display(url))) is \(length) bytes, more than the \(limit) accepted"))
        }
        var bytes: [UInt8] = []
        do {
            for try await buffer in response.body {
                count(bodyBytes: buffer.readableBytes)
                guard bytes.count + buffer.readableBytes <= limit else {
                    throw AttemptError.permanent(UpdateError(.invalidData, "\(what) (\(Self.display(url))) is more than the \(limit) bytes accepted"))
                }
                buffer.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            }
        } catch let error as AttemptError {
            throw error
        } catch {
            throw AttemptError.classify(error)
        }
        if let length = response.header("Content-Length").flatMap(Int.init), length != bytes.count {
            throw .transient("the response ended after \(bytes.count) of \(length) bytes", retryAfter: nil)
        }
        return bytes
    }

    /// Exactly the bytes of `range` (one single-range request, retried on transient
    /// failures), or nil when the server answers 200: it ignores Range.
    func fetchRange(_ url: URL, _ range: ByteRange, totalSize: Int?, what: String) async throws(UpdateError) -> [UInt8]? {
        var attempt = 0
        while true {
            do throws(AttemptError) {
                return try await fetchRangeOnce(url, range, totalSize: totalSize, what: what)
            } catch {
                switch error {
                case .permanent(let e): throw e
                case .transient(let message, let retryAfter):
                    attempt += 1
                    guard attempt <= retry.retries else {
                        throw UpdateError(.io, "\(what) (\(Self.display(url))): \(message) (gave up after \(attempt) attempts)", transient: true)
                    }
                    countRetry()
                    do {
                        try await Task.sleep(for: .seconds(retry.delay(attempt: attempt, retryAfter: retryAfter)))
                    } catch {
                        throw UpdateError(.io, "\(what): cancelled", transient: true)
                    }
                }
            }
        }
    }

    private func fetchRangeOnce(_ url: URL, _ range: ByteRange, totalSize: Int?, what: String) async throws(AttemptError) -> [UInt8]? {
        let response: OpenResponse
        do {
            response = try await open(url, extraHeaders: [("Range", RangeHeader.value(for: [range])), ("Accept-Encoding", "identity")])
        } catch {
            throw AttemptError.classify(error)
        }
        let label = "\(what) (\(Self.display(url)))"
        switch response.status {
        case 206:
            break
        case 200:
            countAbort()
            return nil
        case 404, 410:
            throw .permanent(UpdateError(.missingInput, "\(label): HTTP \(response.status) not found"))
        case 416:
            throw .permanent(UpdateError(.io, "\(label): HTTP 416: the server cannot serve bytes \(range): its file is not the one the metadata describes"))
        default:
            throw AttemptError.status(response.status, retryAfter: response.header("Retry-After"), what: label)
        }
        guard let text = response.header("Content-Range"), let (got, total) = ContentRange.parse(text), got == range.range else {
            throw .permanent(UpdateError(.io, "\(label): the server answered bytes \(response.header("Content-Range") ?? "(no Content-Range)") to a request for bytes \(range)"))
        }
        if let total, let totalSize, total != totalSize {
            throw .permanent(UpdateError(.io, "\(label): the server's file has \(total) bytes, the metadata says \(totalSize)"))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.length)
        do {
            for try await buffer in response.body {
                count(bodyBytes: buffer.readableBytes)
                guard bytes.count + buffer.readableBytes <= range.length else {
                    throw AttemptError.transient("the response has more bytes than its Content-Range says", retryAfter: nil)
                }
                buffer.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            }
        } catch {
            throw AttemptError.classify(error)
        }
        guard bytes.count == range.length else {
            throw .transient("the response ended after \(bytes.count) of \(range.length) bytes", retryAfter: nil)
        }
        return bytes
    }

    /// A URL for messages: without its query (which may hold a token).
    static func display(_ url: URL) -> String {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: true) else { return url.absoluteString }
        let hasQuery = components.percentEncodedQuery != nil
        components.percentEncodedQuery = nil
        components.user = nil
        components.password = nil
        return (components.string ?? url.absoluteString) + (hasQuery ? "?…" : "")
    }
}

/// The outcome of one failed attempt.
enum AttemptError: Error {
    /// Worth retrying: a connection error, a timeout, a truncated body, 408/425/429/5xx.
    case transient(String, retryAfter: Double?)
    /// Retrying cannot help.
    case permanent(UpdateError)

    static let transientStatuses: Set<Int> = [408, 425, 429, 500, 502, 503, 504]

    static func status(_ status: Int, retryAfter: String?, what: String) -> AttemptError {
        if transientStatuses.contains(status) {
            return .transient("HTTP \(status)", retryAfter: retryAfter.flatMap(Double.init))
        }
        return .permanent(UpdateError(.io, "\(what): HTTP \(status)"))
    }

    /// Classifies an error thrown by AsyncHTTPClient or NIO.
    static func classify(_ error: any Error) -> AttemptError {
        if let attempt = error as? AttemptError { return attempt }
        if let update = error as? UpdateError { return .permanent(update) }
        if error is CancellationError { return .permanent(UpdateError(.io, "cancelled", transient: true)) }
        if let client = error as? HTTPClientError {
            let permanent: [HTTPClientError] = [.invalidURL, .emptyHost, .emptyScheme, .redirectLimitReached,
                                                .redirectCycleDetected, .alreadyShutdown, .cancelled]
            if permanent.contains(client) {
                return .permanent(UpdateError(.io, describe(error)))
            }
        }
        // TLS failures (certificate, handshake) do not go away by retrying.
        if String(reflecting: type(of: error)).contains("NIOSSL") {
            return .permanent(UpdateError(.io, "TLS: \(describe(error))"))
        }
        return .transient(describe(error), retryAfter: nil)
    }

    static func describe(_ error: any Error) -> String {
        if let client = error as? HTTPClientError {
            switch client {
            case .readTimeout: return "no data received within the read timeout"
            case .connectTimeout: return "connection timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .deadlineExceeded: return "no response within the timeout"
            default: return "\(client)"
            }
        }
        // A refused or unreachable connection: NIO wraps the socket's IOError (one per address tried).
        if let io = underlyingIOError(error) {
            let text = io.errnoCode == ECONNREFUSED ? "connection refused (nothing listens there)" : String(cString: strerror(io.errnoCode))
            return "\(text) (errno \(io.errnoCode))"
        }
        return "\(error)"
    }

    /// The first `IOError` in an error or in what it wraps (a few levels down).
    static func underlyingIOError(_ value: Any, depth: Int = 0) -> IOError? {
        if let io = value as? IOError { return io }
        guard depth < 4 else { return nil }
        for child in Mirror(reflecting: value).children {
            if let found = underlyingIOError(child.value, depth: depth + 1) { return found }
        }
        return nil
    }
}
