import BlockyardHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// `blockyard agent serve`: the agent's REST API on 127.0.0.1 for a local web UI, and the
/// periodic checker that honours `auto_check`, `auto_download` and `auto_install`.
///
/// ```
/// GET  /api/updates/status          status (download progress included)
/// POST /api/updates/check           check now
/// POST /api/updates/download        start a download in the background (202; progress in status)
/// POST /api/updates/install         install the downloaded version
/// POST /api/updates/rollback        restore the newest backup
/// POST /api/updates/skip-version    {"version": "1.2.0"}
/// POST /api/updates/configure       {"auto_download": true, …}
/// GET  /api/updates/changelog       release notes after the installed version
/// GET  /openapi.json                 this API's OpenAPI 3.1 document (docs/openapi/agent.json)
/// ```
///
/// Every POST needs `Authorization: Bearer <token>` (the token file's first line), compared
/// in constant time. Request bodies are at most ``bodyLimit`` bytes (413 otherwise, whether
/// the size is announced by `Content-Length` or found while reading a chunked body; the
/// connection is then closed, see ``CloseAfterResponseHandler``); the
/// endpoints that take a body want `Content-Type: application/json` (415 otherwise) and a
/// JSON object (400 otherwise). `configure` changes only ``AgentConfig/remoteKeys`` (403 for
/// any other key, naming them in `"refused"`). Errors are JSON `{"error": …, "kind": …}` with
/// 400 (bad request), 401, 403, 404, 405, 409 (another operation is running), 413, 415, 422
/// (nothing to install, bad data), 502 (the feed failed) or 500.
public final class AgentServer: Sendable {
    public let agent: Agent
    let token: [UInt8]
    let host: String
    let port: Int
    let jobs = BackgroundJobs()

    /// The largest request body accepted (64 KiB: settings and a version fit many times over).
    public static let bodyLimit = 64 * 1024

    /// The POST endpoints whose body is read (a JSON object).
    static let bodyEndpoints: Set<String> = ["skip-version", "configure"]

    public init(agent: Agent, token: String, host: String = "127.0.0.1", port: Int) throws(AgentError) {
        guard token.utf8.count >= 16 else { throw AgentError(.usage, "the API token must be at least 16 characters") }
        self.agent = agent
        self.token = Array(token.utf8)
        self.host = host
        self.port = port
    }

    /// Serves until the task is cancelled or (with `handleSignals`) SIGINT/SIGTERM.
    public func run(handleSignals: Bool, periodic: Bool = true,
                    onListening: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) async throws {
        var logger = Logger(label: "blockyard.agent")
        logger.logLevel = .critical
        let app = Application(
            responder: AgentResponder(server: self),
            server: .http1(configuration: .init(additionalChannelHandlers: [CloseAfterResponseHandler()], idleTimeout: .seconds(75))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "blockyard-agent"),
            onServerRunning: { channel in await onListening(self.host, channel.localAddress?.port ?? 0) },
            logger: logger)
        let checker = periodic ? Task { await self.periodicLoop() } : nil
        defer { checker?.cancel() }
        if handleSignals {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } else {
            try await app.runService(gracefulShutdownSignals: [])
        }
    }

    // MARK: - Periodic checker

    /// Every few seconds: when `auto_check` is on and `check_interval_s` has passed since
    /// `last_check`, check; then download (`auto_download`) and install (`auto_install`) what
    /// is offered. Versions whose health check failed are never installed automatically.
    func periodicLoop() async {
        while !Task.isCancelled {
            await periodicStep(now: Date())
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func periodicStep(now: Date) async {
        guard let agent = try? reloaded() else { return }
        let config = agent.config
        guard config.autoCheck else { return }
        if let last = config.lastCheck.flatMap(AgentClock.date), now.timeIntervalSince(last) < Double(config.checkIntervalSeconds) {
            return
        }
        guard (try? await agent.check(now: now)) != nil, let status = try? agent.status(),
              let available = status.state.available, available.isOffered else { return }
        if config.autoDownload, status.state.downloaded?.version != available.version {
            _ = await jobs.run("download") { _ = try await agent.download() }
        }
        if config.autoInstall, let state = try? agent.status().state, let downloaded = state.downloaded,
           !state.failedVersions.contains(downloaded.version) {
            _ = try? agent.install()
        }
    }

    /// The agent with the configuration as it is on disk now (another process may change it).
    func reloaded() throws(AgentError) -> Agent { try Agent(stateDirectory: agent.stateDirectory) }

    // MARK: - Requests

    func respond(to request: Request) async -> Response {
        let path = request.uri.path
        let method = request.method
        if path == "/openapi.json" { return Self.openAPIResponse(method) }
        guard path.hasPrefix("/api/updates/") else {
            return Self.error(.notFound, "not found", kind: "not-found")
        }
        if let length = request.headers[.contentLength], let size = UInt64(length), size > UInt64(Self.bodyLimit) {
            return Self.tooLarge()
        }
        let endpoint = String(path.dropFirst("/api/updates/".count))
        let reads: Set<String> = ["status", "changelog"]
        let writes: Set<String> = ["check", "download", "install", "rollback", "skip-version", "configure"]
        if reads.contains(endpoint) {
            guard method == .get || method == .head else { return Self.methodNotAllowed("GET") }
        } else if writes.contains(endpoint) {
            guard method == .post else { return Self.methodNotAllowed("POST") }
            guard authorized(request) else {
                var headers = HTTPFields()
                headers[.wwwAuthenticate] = "Bearer realm=\"blockyard-agent\""
                return Self.error(.unauthorized, "a valid Authorization: Bearer token is required", kind: "unauthorized", headers: headers)
            }
        } else {
            return Self.error(.notFound, "no endpoint /api/updates/\(endpoint)", kind: "not-found")
        }
        var request = request
        var bodyBytes: [UInt8] = []
        if method == .post {
            do {
                bodyBytes = Array(try await request.collectBody(upTo: Self.bodyLimit).readableBytesView)
            } catch is NIOTooManyBytesError {
                return Self.tooLarge()
            } catch {
                return Self.error(.badRequest, "cannot read the request body: \(error)", kind: "usage")
            }
            if Self.bodyEndpoints.contains(endpoint), let refusal = Self.contentTypeRefusal(request.headers[.contentType]) {
                return Self.error(.unsupportedMediaType, refusal, kind: "usage")
            }
        }
        do {
            let agent = try reloaded()
            switch endpoint {
            case "status":
                return Self.json(.ok, AgentReportJSON.encode(try agent.status()))
            case "changelog":
                return Self.json(.ok, AgentReportJSON.encode(try await agent.changelog()))
            case "check":
                return Self.json(.ok, AgentReportJSON.encode(try await agent.check()))
            case "download":
                let started = await jobs.start("download") {
                    _ = try await agent.download()
                }
                guard started else { return Self.error(.conflict, "a download is already running", kind: "locked") }
                return Self.json(.accepted, "{\"status\": \"downloading\", \"progress\": \"/api/updates/status\"}")
            case "install":
                guard await !jobs.isRunning("download") else {
                    return Self.error(.conflict, "a download is running: install when it has finished", kind: "locked")
                }
                return Self.json(.ok, AgentReportJSON.encode(try agent.install()))
            case "rollback":
                return Self.json(.ok, AgentReportJSON.encode(try agent.rollback()))
            case "skip-version":
                let body = try Self.jsonObject(bodyBytes)
                guard let version = body["version"] as? String else {
                    return Self.error(.badRequest, "expected {\"version\": \"X.Y.Z\"}", kind: "usage")
                }
                return Self.json(.ok, AgentReportJSON.encode(ConfigJSON(config: try agent.skip(version))))
            case "configure":
                let body = try Self.jsonObject(bodyBytes)
                let refused = AgentConfig.refusedRemotely(body.keys)
                guard refused.isEmpty else {
                    let text = "{\"error\": \(AgentJSON.string(AgentConfig.remoteRefusal(refused))), \"kind\": \"forbidden\", "
                        + "\"refused\": \(AgentJSON.encode(refused))}"
                    return Self.json(.forbidden, text)
                }
                return Self.json(.ok, AgentReportJSON.encode(ConfigJSON(config: try agent.configure(json: body))))
            default:
                return Self.error(.notFound, "not found", kind: "not-found")
            }
        } catch let error as AgentError {
            return Self.error(Self.status(for: error), error.message, kind: error.kind.rawValue)
        } catch let error as BadBody {
            return Self.error(.badRequest, error.message, kind: "usage")
        } catch {
            return Self.error(.internalServerError, "\(error)", kind: "internal")
        }
    }

    func authorized(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst("Bearer ".count).trimmingCharacters(in: .whitespaces).utf8)
        var difference = UInt8(given.count == token.count ? 0 : 1)
        for i in 0..<token.count { difference |= token[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    static func status(for error: AgentError) -> HTTPResponse.Status {
        switch error.kind {
        case .usage: return .badRequest
        case .locked: return .conflict
        case .missingInput, .invalidData, .checkFailed: return .unprocessableContent
        case .io: return .badGateway
        case .cannotCreate: return .internalServerError
        }
    }

    struct BadBody: Error { let message: String }

    /// The body as a JSON object.
    static func jsonObject(_ bytes: [UInt8]) throws(BadBody) -> [String: Any] {
        guard !bytes.isEmpty else { throw BadBody(message: "the body is empty: expected a JSON object") }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw BadBody(message: "the body is not valid JSON: expected a JSON object")
        }
        guard let dictionary = object as? [String: Any] else { throw BadBody(message: "the body must be a JSON object") }
        return dictionary
    }

    /// Why a body of this `Content-Type` is refused (nil: it is `application/json`, with no
    /// charset or UTF-8).
    static func contentTypeRefusal(_ contentType: String?) -> String? {
        let expected = "the body must be JSON sent as Content-Type: application/json"
        guard let contentType else { return "\(expected) (the request has no Content-Type)" }
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard parts.first == "application/json" else { return "\(expected), not \(contentType)" }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if charset != "utf-8" && charset != "utf8" { return "\(expected) in UTF-8, not \(contentType)" }
        }
        return nil
    }

    /// 413, and the connection is closed after it (the rest of the body is never read).
    static func tooLarge() -> Response {
        var headers = HTTPFields()
        headers[.connection] = "close"
        return error(.contentTooLarge, "the request body is larger than \(bodyLimit) bytes", kind: "too-large", headers: headers)
    }

    /// `GET /openapi.json`: ``AgentOpenAPI/document``, byte for byte docs/openapi/agent.json.
    static func openAPIResponse(_ method: HTTPRequest.Method) -> Response {
        guard method == .get || method == .head else { return methodNotAllowed("GET") }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.contentLength] = String(AgentOpenAPI.document.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: AgentOpenAPI.document)))
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = HTTPFields()) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        let bytes = Array((text + "\n").utf8)
        headers[.contentLength] = String(bytes.count)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, kind: String, headers: HTTPFields = HTTPFields()) -> Response {
        let text = "{\"error\": \(AgentJSON.string(message)), \"kind\": \(AgentJSON.string(kind))}"
        return json(status, text, headers: headers)
    }

    static func methodNotAllowed(_ allow: String) -> Response {
        var headers = HTTPFields()
        headers[.allow] = allow
        return error(.methodNotAllowed, "use \(allow)", kind: "usage", headers: headers)
    }
}

struct AgentResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let server: AgentServer

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        await server.respond(to: request)
    }
}

/// Background work of the API server, one job per name at a time; the last error of each is kept
/// (the agent also records it as `last_error`).
actor BackgroundJobs {
    private var running: Set<String> = []

    func isRunning(_ name: String) -> Bool { running.contains(name) }

    /// Starts `body` in the background unless a job of that name runs; false if one does.
    func start(_ name: String, _ body: @escaping @Sendable () async throws -> Void) -> Bool {
        guard !running.contains(name) else { return false }
        running.insert(name)
        Task {
            try? await body()
            self.finished(name)
        }
        return true
    }

    /// Runs `body` now unless a job of that name runs.
    func run(_ name: String, _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
        guard !running.contains(name) else { return false }
        running.insert(name)
        try? await body()
        running.remove(name)
        return true
    }

    private func finished(_ name: String) { running.remove(name) }
}
