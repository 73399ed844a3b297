import BlockyardCore
import BlockyardRelease
import BlockyardStore
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

/// `blockyard serve`: a release directory (and optionally a chunk store) over HTTP, answering
/// exactly as electron-updater needs (see docs/HTTP-SERVER.md).
public final class ReleaseServer: Sendable {
    public let configuration: ServeConfiguration
    let core: ServerCore

    /// Checks the root (and opens the store) without binding anything yet.
    public init(configuration: ServeConfiguration) throws(ServeError) {
        guard (1...65535).contains(configuration.port) || configuration.port == 0 else {
            throw ServeError(.usage, "--port \(configuration.port) is not a port number (1-65535, or 0 for any free port)")
        }
        guard configuration.maxHeaderBytes >= 16 * 1024 else {
            throw ServeError(.usage, "the header limit must be at least 16 KiB (electron-updater sends multi-range headers over 9 KiB)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: configuration.root, isDirectory: &isDirectory), isDirectory.boolValue,
              let realRoot = Self.realPath(configuration.root) else {
            throw ServeError(.missingInput, "\(configuration.root): no such directory (the release directory to serve)")
        }
        guard access(realRoot, R_OK | X_OK) == 0 else {
            throw ServeError(.missingInput, "\(configuration.root): cannot read the directory")
        }
        var store: StoreBackend?
        if let storePath = configuration.storePath {
            do {
                store = try StoreBackend(path: storePath)
            } catch {
                switch error {
                case .missing, .file: throw ServeError(.missingInput, error.description)
                default: throw ServeError(.invalidData, error.description)
                }
            }
        }
        var analyticsStore: AnalyticsStore?
        if let analytics = configuration.analytics {
            guard analytics.token != nil || AnalyticsConfiguration.isLoopback(configuration.host) else {
                throw ServeError(.usage, "--analytics on \(configuration.host), which is not a loopback address, needs --analytics-token-file")
            }
            try AnalyticsStore.checkNotServed(analytics.directory, root: realRoot)
            analyticsStore = try AnalyticsStore(directory: analytics.directory)
        }
        self.configuration = configuration
        core = ServerCore(configuration: configuration, root: realRoot, store: store, analyticsStore: analyticsStore)
    }

    /// Release manifests that could not be read (reported at start-up).
    public var problems: [String] { core.catalog.snapshot().problems }

    /// Versions found under `releases/`, newest first.
    public var versions: [String] { core.catalog.snapshot().newestFirst.map(\.version) }

    /// Signed channel files with a `stagingPercentage` but without the signed fallback
    /// (``StagedFallback``) that server-side staging needs: they are served as they are to
    /// every user (the server cannot sign another release's channel file). The publisher
    /// writes the fallback when it signs a staged channel file.
    public var stagedSignedChannelFilesWithoutFallback: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: core.root)) ?? []
        return names.filter { name in
            guard ReleaseLayout.channel(ofChannelFile: name) != nil, names.contains(name + ReleaseLayout.signatureSuffix) else { return false }
            let fallback = StagedFallback.fileName(forChannelFile: name)
            guard !(names.contains(fallback) && names.contains(fallback + ReleaseLayout.signatureSuffix)) else { return false }
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: core.root + "/" + name))).map { [UInt8]($0) }
            return bytes.flatMap { try? ChannelDocument(bytes: $0) }?.info.stagingPercentage != nil
        }.sorted()
    }

    /// Number of stored files indexed by content (with a store).
    public var storeMemberCount: Int? { core.store?.memberCount }

    /// Runs the server until the calling task is cancelled or, with `handleSignals`, until
    /// SIGINT or SIGTERM (connections then finish their responses). `onListening` gets the
    /// bound host and port once connections are accepted.
    public func run(handleSignals: Bool = false, onListening: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) async throws {
        // Counts not yet written reach the analytics store when the server stops.
        defer { core.analytics?.close() }
        var logger = Logger(label: "blockyard.serve")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let http1 = HTTP1Channel.Configuration(
            idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: configuration.maxHeaderBytes,
                                             maxHeaderListSize: configuration.maxHeaderBytes,
                                             maxHeaderFieldCount: 200))
        let connections = core.connections
        let app = Application(
            responder: ServeResponder(core: core),
            server: HTTPServerBuilder { responder in
                ServeChildChannel(http1: HTTP1Channel(responder: responder, configuration: http1), connections: connections)
            },
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                    serverName: ServerCore.serverName, backlog: 1024),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                await onListening(self.configuration.host, port)
            },
            logger: logger)
        do {
            if handleSignals {
                try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
            } else {
                try await app.runService(gracefulShutdownSignals: [])
            }
        } catch let error as IOError {
            throw ServeError(.io, "cannot listen on \(configuration.host):\(configuration.port): \(String(cString: strerror(error.errnoCode)))")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = Foundation.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Hummingbird's entry point: every request goes to ``ServerCore``, with the state of the
/// connection it came on.
struct ServeResponder: HTTPResponder {
    typealias Context = ServeRequestContext
    let core: ServerCore

    func respond(to request: Request, context: ServeRequestContext) async throws -> Response {
        let connection = core.connections.connection(for: context.channel)
        guard core.analytics != nil else { return await core.respond(to: request, connection: connection) }
        return await AnalyticsPeer.$address.withValue(context.channel.remoteAddress?.ipAddress) {
            await core.respond(to: request, connection: connection)
        }
    }
}

/// A request's context: Hummingbird's basics and the channel the request came on.
struct ServeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The request handling of `blockyard serve`.
final class ServerCore: Sendable {
    let configuration: ServeConfiguration
    /// The real path of the root directory (symbolic links resolved).
    let root: String
    let catalog: ReleaseCatalog
    let store: StoreBackend?
    let metrics = ServerMetrics()
    let streamer: BodyStreamer
    /// The open connections (limit, bytes written, writability).
    let connections: ServeConnections
    /// The `Server` header value Hummingbird adds to every response.
    static let serverName = "blockyard"
    private let digests = FileIdentityCache<String>(limit: 4096)
    /// Hashing whole files for ETags can take seconds: one thread of its own, so it never
    /// holds up the pool that reads response bodies.
    private let digestPool: NIOThreadPool
    private let digestTasks = DigestTasks()
    private let channelDocuments = FileIdentityCache<ChannelDocument?>(limit: 256)
    let downloadCounts = DownloadCounts()
    private let rebuiltBlockmaps = BoundedCache<[UInt8]>(limit: 16)
    static let stagingIDHeader = HTTPField.Name("x-user-staging-id")!
    /// `--analytics`: classifies update requests and keeps the counts (docs/HTTP-SERVER.md).
    let analytics: AnalyticsRecorder?

    init(configuration: ServeConfiguration, root: String, store: StoreBackend?, analyticsStore: AnalyticsStore? = nil) {
        self.configuration = configuration
        self.root = root
        self.store = store
        if let analyticsStore, let settings = configuration.analytics {
            analytics = AnalyticsRecorder(configuration: settings, store: analyticsStore,
                                          metrics: AnalyticsMetrics(registry: metrics.registry))
        } else {
            analytics = nil
        }
        catalog = ReleaseCatalog(root: root)
        streamer = BodyStreamer(pool: .singleton, blockSize: configuration.blockSize)
        connections = ServeConnections(limit: configuration.maxConnections,
                                       sendTimeout: .seconds(Int64(configuration.sendTimeoutSeconds)))
        digestPool = NIOThreadPool(numberOfThreads: 1)
        digestPool.start()
        catalog.refresh(maxAge: 0)
    }

    deinit {
        digestPool.shutdownGracefully { _ in }
    }

    // MARK: Requests

    /// - Parameter connection: the connection the request came on (nil in tests that call
    ///   this directly): multipart bodies place their part headers relative to its byte
    ///   stream, and bodies are read only as fast as it takes them.
    func respond(to request: Request, connection: ServeConnection? = nil) async -> Response {
        let method = request.method
        let response: Response
        if method == .get || method == .head {
            response = await route(request, isHead: method == .head, connection: connection)
        } else {
            metrics.rejected("method")
            var headers = HTTPFields()
            headers[.allow] = "GET, HEAD"
            response = errorResponse(.methodNotAllowed, "only GET and HEAD are served", isHead: false, extra: headers)
        }
        metrics.request(method: method == .get ? "GET" : method == .head ? "HEAD" : "other", status: Int(response.status.code))
        return response
    }

    private func route(_ request: Request, isHead: Bool, connection: ServeConnection?) async -> Response {
        let path: RequestPath
        do {
            path = try RequestPath(target: request.head.path ?? "/")
        } catch {
            metrics.rejected("path")
            if case .tooLong = error { return errorResponse(.uriTooLong, error.description, isHead: isHead) }
            return errorResponse(.badRequest, error.description, isHead: isHead)
        }
        if path.isHidden { return errorResponse(.notFound, "not found", isHead: isHead) }
        if path.segments == ["metrics"] { return metricsResponse(isHead: isHead) }
        if let response = await routeAnalytics(path, request: request, isHead: isHead) { return response }
        if let response = await routeSite(path, request: request, isHead: isHead) { return response }
        return await serveFile(path, request: request, isHead: isHead, connection: connection)
    }

    private func metricsResponse(isHead: Bool) -> Response {
        let bytes = metrics.render()
        var headers = HTTPFields()
        headers[.contentType] = ContentType.prometheus
        headers[.cacheControl] = CachePolicy.noStore
        return bufferResponse(.ok, bytes: bytes, headers: headers, isHead: isHead, kind: "metrics")
    }

    // MARK: Files

    private enum Lookup {
        case found(FileByteSource, stat)
        case missing
    }

    private func serveFile(_ path: RequestPath, request: Request, isHead: Bool, connection: ServeConnection?) async -> Response {
        let pathClass = PathClass(path.segments)
        var resource: ServedResource?
        switch open(path.relativePath) {
        case .found(let file, let st):
            resource = await diskResource(file, st, pathClass: pathClass, name: path.segments.last ?? "")
        case .missing:
            resource = await storeResource(pathClass)
        }
        guard var resource else { return errorResponse(.notFound, "not found", isHead: isHead) }
        if configuration.stagedRollout, case .channel(let name) = pathClass {
            // The channel file and its signature: a user outside the rollout must get a matching
            // pair, so both are decided by the channel file's stagingPercentage.
            let isSignature = path.segments.last == name + ReleaseLayout.signatureSuffix
            if path.segments.last == name || isSignature {
                resource.vary = ServerCore.stagingIDHeader.rawName
                if let id = request.headers[ServerCore.stagingIDHeader] {
                    resource = await staged(resource, channelFile: name, signature: isSignature, userID: id)
                }
            }
        }
        return answer(resource, request: request, isHead: isHead, connection: connection)
    }

    /// Opens `relative` under the root: a regular file whose real path (symbolic links
    /// resolved) is inside the root. Everything else is missing.
    private func open(_ relative: String) -> Lookup {
        guard !relative.isEmpty, let real = ReleaseServer.realPath(root + "/" + relative),
              real.hasPrefix(root + "/") else { return .missing }
        let fd = Foundation.open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return .missing }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return .missing
        }
        return .found(FileByteSource(path: real, descriptor: fd), st)
    }

    private func diskResource(_ file: FileByteSource, _ st: stat, pathClass: PathClass, name: String) async -> ServedResource {
        let size = Int(st.st_size)
        var etag: String?
        switch pathClass {
        case .artifact(let version, let artifactName):
            if let artifact = catalog.snapshot(containing: version).artifact(version: version, name: artifactName), artifact.size == size {
                etag = Self.quote(artifact.sha256)
            }
        case .blockmap(let version, let blockmapName):
            if let blockmap = catalog.snapshot(containing: version).artifact(version: version, blockmapName: blockmapName)?.blockmap,
               blockmap.size == size {
                etag = Self.quote(blockmap.sha256)
            }
        default:
            break
        }
        if etag == nil { etag = await contentETag(file, st) }
        return ServedResource(source: file, size: size, contentType: ContentType.forFile(name), etag: etag,
                              lastModified: Int64(st.st_mtim.tv_sec), cacheControl: pathClass.cacheControl,
                              kind: pathClass.resourceKind)
    }

    /// Files up to this size not described by a release manifest are hashed before their
    /// first answer; larger ones in the background (answered without an ETag meanwhile).
    static let inlineDigestLimit = 16 << 20

    /// `"<sha256 hex>"` of a file's bytes, computed once per file identity (concurrent first
    /// requests share one computation). Nil when the file cannot be read, or while a large
    /// file is still being hashed.
    private func contentETag(_ file: FileByteSource, _ st: stat) async -> String? {
        let identity = FileIdentity(st)
        if let cached = digests.value(for: identity) { return Self.quote(cached) }
        let task = digestTasks.task(for: identity) { [digestPool, digests] in
            let hex = try? await digestPool.runIfActive {
                try ContentDigest.sha256Hex(descriptor: file.descriptor, size: identity.size, path: file.path)
            }
            if let hex { digests.store(hex, for: identity) }
            return hex
        }
        guard identity.size <= Self.inlineDigestLimit else { return nil }
        return await task.value.map(Self.quote)
    }

    /// An artifact or blockmap of a release manifest that is not on disk, from the store.
    private func storeResource(_ pathClass: PathClass) async -> ServedResource? {
        guard let store else { return nil }
        switch pathClass {
        case .artifact(let version, let name):
            guard let artifact = catalog.snapshot(containing: version).artifact(version: version, name: name),
                  let loaded = await loadStoreMember(artifact, store: store) else { return nil }
            return ServedResource(source: store.source(loaded), size: loaded.member.size,
                                  contentType: ContentType.forFile(name), etag: Self.quote(loaded.member.sha256.hex),
                                  lastModified: loaded.member.createdAt / 1000, cacheControl: CachePolicy.immutable,
                                  kind: .artifact(version: version, name: name))
        case .blockmap(let version, let name):
            guard let artifact = catalog.snapshot(containing: version).artifact(version: version, blockmapName: name),
                  let expected = artifact.blockmap else { return nil }
            let bytes: [UInt8]
            if let cached = rebuiltBlockmaps.value(for: expected.sha256) {
                bytes = cached
            } else {
                guard let loaded = await loadStoreMember(artifact, store: store) else { return nil }
                // The blockmap straight from the chunk list, in either generator's form; served
                // only if it is byte for byte the one the release recorded.
                let rebuilt = try? await streamer.pool.runIfActive { () -> [UInt8]? in
                    for compat in [BlockmapCompat.electronBuilder, .appBuilder] {
                        let gzip = BlockmapCodec.encodeGzip(loaded.manifestMember.blockmap(compat: compat).blockmap)
                        if gzip.count == expected.size && SHA2Hasher.hash(.sha256, gzip).hex == expected.sha256 { return gzip }
                    }
                    return nil
                }
                guard let rebuilt = rebuilt ?? nil else { return nil }
                rebuiltBlockmaps.store(rebuilt, for: expected.sha256)
                bytes = rebuilt
            }
            return ServedResource(source: MemoryByteSource(bytes: bytes), size: bytes.count,
                                  contentType: ContentType.octetStream, etag: Self.quote(expected.sha256),
                                  lastModified: nil, cacheControl: CachePolicy.immutable, kind: .blockmap(version: version))
        default:
            return nil
        }
    }

    private func loadStoreMember(_ artifact: ReleaseArtifact, store: StoreBackend) async -> StoreBackend.LoadedMember? {
        guard let sha512 = Base64.decode(artifact.sha512), sha512.count == 64 else { return nil }
        return try? await streamer.pool.runIfActive {
            guard let member = store.member(sha512: sha512, size: artifact.size) else { return nil }
            return try store.load(member)
        }
    }

    /// Server-side staging: a user outside the channel file's `stagingPercentage` gets the
    /// previous release's channel file (see ``StagedRollout``). For a signed channel file that
    /// is the fallback its publisher signed (`{name}.previous`, and `{name}.previous.sig` for
    /// the signature request; ``StagedFallback``); without one, the current file.
    private func staged(_ resource: ServedResource, channelFile name: String, signature: Bool, userID: String) async -> ServedResource {
        let document: ChannelDocument?
        if !signature, let file = resource.source as? FileByteSource {
            document = await channelDocument(file, size: resource.size)
        } else {
            document = await channelDocument(name)
        }
        guard let document, let percentage = document.info.stagingPercentage else { return resource }
        // Counted once per update check: on the channel file, not on its signature.
        let count: (String) -> Void = { decision in if !signature { self.metrics.staging(decision) } }
        let signed = FileManager.default.fileExists(atPath: "\(root)/\(name)\(ReleaseLayout.signatureSuffix)")
        switch StagedRollout.isIncluded(userID: userID, percentage: percentage) {
        case nil:
            count("invalid_id")
            return resource
        case true?:
            count("in")
            return resource
        case false? where signed:
            let fallback = StagedFallback.fileName(forChannelFile: name) + (signature ? ReleaseLayout.signatureSuffix : "")
            guard case .found(let file, let st) = open(fallback) else {
                count("signed_no_fallback")
                return resource
            }
            count("out")
            var replacement = await diskResource(file, st, pathClass: .channel(name: name), name: signature ? name + ReleaseLayout.signatureSuffix : name)
            replacement.vary = resource.vary
            return replacement
        case false?:
            guard !signature,
                  let previous = StagedFallback.previousRelease(channelFile: name, currentVersion: document.info.version,
                                                                newestFirst: catalog.snapshot().newestFirst),
                  let text = StagedFallback.channelFile(of: previous.manifest, suffix: previous.suffix) else {
                count("out_no_previous")
                return resource
            }
            count("out")
            let bytes = Array(text.utf8)
            var replacement = resource
            replacement.source = MemoryByteSource(bytes: bytes)
            replacement.size = bytes.count
            replacement.etag = Self.quote(SHA2Hasher.hash(.sha256, bytes).hex)
            replacement.lastModified = nil
            return replacement
        }
    }

    /// The parsed channel file `name` at the root (nil when absent or invalid), cached per
    /// file identity.
    func channelDocument(_ name: String) async -> ChannelDocument? {
        guard case .found(let file, let st) = open(name) else { return nil }
        return await channelDocument(file, size: Int(st.st_size))
    }

    private func channelDocument(_ file: FileByteSource, size: Int) async -> ChannelDocument? {
        var st = stat()
        guard fstat(file.descriptor, &st) == 0 else { return nil }
        let identity = FileIdentity(st)
        if let cached = channelDocuments.value(for: identity) { return cached }
        let document = try? await streamer.pool.runIfActive { () -> ChannelDocument? in
            guard size <= 16 << 20 else { return nil }
            var bytes = [UInt8](repeating: 0, count: size)
            try bytes.withUnsafeMutableBytes { try file.read(offset: 0, into: $0) }
            return try? ChannelDocument(bytes: bytes)
        }
        channelDocuments.store(document ?? nil, for: identity)
        return document ?? nil
    }

    // MARK: Answers

    /// The answer for a resource: conditionals, then the whole body, one range, or
    /// multipart/byteranges.
    func answer(_ resource: ServedResource, request: Request, isHead: Bool, connection: ServeConnection? = nil) -> Response {
        var conditional = ConditionalHeaders()
        conditional.range = request.headers[values: .range]
        conditional.ifRange = request.headers[.ifRange]
        conditional.ifMatch = request.headers[.ifMatch]
        conditional.ifNoneMatch = request.headers[.ifNoneMatch]
        conditional.ifModifiedSince = request.headers[.ifModifiedSince]
        conditional.ifUnmodifiedSince = request.headers[.ifUnmodifiedSince]
        let decision = ConditionalRange.decide(headers: conditional, size: resource.size, etag: resource.etag,
                                               lastModified: resource.lastModified, limits: configuration.rangeLimits)
        var headers = HTTPFields()
        headers[.acceptRanges] = "bytes"
        if let etag = resource.etag { headers[.eTag] = etag }
        if let lastModified = resource.lastModified { headers[.lastModified] = HTTPDate.format(lastModified) }
        headers[.cacheControl] = resource.cacheControl
        if let vary = resource.vary { headers[.vary] = vary }
        headers[.xContentTypeOptions] = "nosniff"

        switch decision {
        case .preconditionFailed:
            return errorResponse(.preconditionFailed, "precondition failed", isHead: isHead)
        case .notModified:
            // RFC 9110 §8.6: a Content-Length in a 304 must be that of the 200 (never 0).
            headers[.contentLength] = String(resource.size)
            return Response(status: .notModified, headers: headers)
        case .badRequest(let reason):
            metrics.rejected("range")
            return errorResponse(.badRequest, reason, isHead: isHead)
        case .unsatisfiable(let reason):
            if reason != nil { metrics.rejected("range") }
            var extra = HTTPFields()
            extra[.contentRange] = "bytes */\(resource.size)"
            extra[.acceptRanges] = "bytes"
            return errorResponse(.rangeNotSatisfiable, reason ?? "no requested range overlaps the \(resource.size) bytes",
                                 isHead: isHead, extra: extra)
        case .full:
            headers[.contentType] = resource.contentType
            if !isHead, case .artifact(let version, let name) = resource.kind {
                metrics.download(version: versionLabel(version), kind: "full")
                if catalog.snapshot().artifact(version: version, name: name) != nil { downloadCounts.record(version: version, name: name) }
            }
            if !isHead, case .blockmap(let version) = resource.kind { metrics.download(version: versionLabel(version), kind: "blockmap") }
            let counted = analyticsObserve(resource, request: request, ranges: nil, isHead: isHead)
            return streamed(.ok, plan: .whole(size: resource.size), resource: resource, headers: headers, isHead: isHead,
                            connection: connection, analytics: counted)
        case .partial(let ranges):
            metrics.ranges(ranges.count)
            let counted = analyticsObserve(resource, request: request, ranges: ranges, isHead: isHead)
            if ranges.count == 1 {
                headers[.contentType] = resource.contentType
                headers[.contentRange] = ranges[0].contentRange(totalSize: resource.size)
                return streamed(.partialContent, plan: .range(ranges[0]), resource: resource, headers: headers, isHead: isHead,
                                connection: connection, analytics: counted)
            }
            var encoder = MultipartByterangesEncoder(boundary: MultipartByterangesEncoder.boundary(seed: UInt64.random(in: 0...UInt64.max)),
                                                     partContentType: resource.contentType, totalSize: resource.size, ranges: ranges)
            headers[.contentType] = encoder.contentType
            if !isHead, let connection { Self.alignHeaderEnds(&encoder, status: .partialContent, headers: headers, connection: connection) }
            return streamed(.partialContent, plan: .multipart(encoder), resource: resource, headers: headers, isHead: isHead,
                            connection: connection, analytics: counted)
        }
    }

    /// Pads the part headers of a multipart body so that none ends across a 1 KiB-aligned
    /// step counted from where a client's reads may start (electron-updater's parser loses
    /// such a part, docs/HTTP-SERVER.md): the body's start, the response head's start, and
    /// the connection's first byte (bytes already written on it plus this head). The head's
    /// Content-Length depends on the padding: repeated until the head's length is stable (a
    /// digit more in Content-Length is rare).
    static func alignHeaderEnds(_ encoder: inout MultipartByterangesEncoder, status: HTTPResponse.Status, headers: HTTPFields,
                                connection: ServeConnection) {
        let before = connection.bytesWritten
        var fields = headers
        var headLength = -1
        for _ in 0..<4 {
            fields[.contentLength] = String(encoder.contentLength)
            let length = ResponseHeadLength.of(status: status, fields: fields, serverName: serverName)
            if length == headLength { return }
            headLength = length
            encoder.alignHeaderEnds(readOrigins: [0, -headLength, -(before + headLength)])
        }
    }

    private func streamed(_ status: HTTPResponse.Status, plan: BodyPlan, resource: ServedResource, headers: HTTPFields,
                          isHead: Bool, connection: ServeConnection?, analytics: AnalyticsBytes? = nil) -> Response {
        var headers = headers
        headers[.contentLength] = String(plan.length)
        if isHead { return Response(status: status, headers: headers) }
        let streamer = self.streamer
        let metrics = self.metrics
        let kind = resource.kind
        let source = resource.source
        let version: String? = if case .artifact(let v, _) = kind { versionLabel(v) } else { nil }
        let body = ResponseBody(contentLength: plan.length) { writer in
            defer { analytics?.finish() }
            try await streamer.stream(plan, from: source, to: &writer, connection: connection) { count in
                metrics.bodyBytes(count, kind: kind.metricsLabel)
                if let version { metrics.versionBytes(count, version: version) }
                analytics?.add(count)
            }
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// A version label for metrics: a version of the release directory, else `other` (so
    /// requests for made-up versions cannot create series).
    private func versionLabel(_ version: String) -> String {
        catalog.snapshot().manifests[version] != nil ? version : "other"
    }

    /// A complete body held in memory.
    func bufferResponse(_ status: HTTPResponse.Status, bytes: [UInt8], headers: HTTPFields, isHead: Bool, kind: String) -> Response {
        var headers = headers
        headers[.contentLength] = String(bytes.count)
        if isHead { return Response(status: status, headers: headers) }
        metrics.bodyBytes(bytes.count, kind: kind)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A short plain-text error. The message never echoes request data.
    func errorResponse(_ status: HTTPResponse.Status, _ message: String, isHead: Bool, extra: HTTPFields = HTTPFields()) -> Response {
        var headers = extra
        headers[.contentType] = ContentType.text
        headers[.cacheControl] = CachePolicy.noStore
        headers[.xContentTypeOptions] = "nosniff"
        let text = "\(status.code) \(status.reasonPhrase): \(message)\n"
        return bufferResponse(status, bytes: Array(text.utf8), headers: headers, isHead: isHead, kind: "error")
    }

    static func quote(_ tag: String) -> String { "\"\(tag)\"" }
}

/// One in-flight digest computation per file identity.
private final class DigestTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [FileIdentity: Task<String?, Never>] = [:]

    func task(for identity: FileIdentity, _ make: @escaping @Sendable () async -> String?) -> Task<String?, Never> {
        lock.withLock {
            if let existing = tasks[identity] { return existing }
            let task = Task<String?, Never> { [weak self] in
                let value = await make()
                self?.finish(identity)
                return value
            }
            tasks[identity] = task
            return task
        }
    }

    private func finish(_ identity: FileIdentity) {
        _ = lock.withLock { tasks.removeValue(forKey: identity) }
    }
}
