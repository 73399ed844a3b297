import BlockyardCore
import BlockyardRelease
import Foundation
import Hummingbird
import HTTPTypes

/// `serve --analytics`: the requests that feed the classifier, and `/api/analytics` and
/// `/analytics`.
extension ServerCore {
    /// `blockyard update` names the installed version on every request when it knows it.
    static let installedVersionHeader = HTTPField.Name("x-blockyard-installed-version")!
    /// `blockyard update` marks the range requests of a whole-file download with it.
    static let fullDownloadHeader = HTTPField.Name("x-blockyard-full-download")!

    /// Feeds a GET of a blockmap or artifact of a version in the release directory to the
    /// classifier. Returns where the body's bytes are counted when they belong to a counted
    /// download (nil otherwise, and always without `--analytics`).
    func analyticsObserve(_ resource: ServedResource, request: Request, ranges: [ByteRange]?, isHead: Bool) -> AnalyticsBytes? {
        guard let analytics, !isHead else { return nil }
        let kind: UpdateRequest.Resource
        let version: String, family: String, size: Int
        let snapshot = catalog.snapshot()
        switch resource.kind {
        case .artifact(let v, let requested):
            // Blockyard's client on the delivery path fetches ranges of the artifact's pack
            // (`NAME.bypack`, docs/FORMAT.md) instead of the artifact's: they count as the
            // artifact's, and a whole pack (a first install) as a full download of it.
            let isPack = requested.hasSuffix(ReleaseLayout.deliveryPackSuffix)
            let name = isPack ? String(requested.dropLast(ReleaseLayout.deliveryPackSuffix.count)) : requested
            guard let artifact = snapshot.artifact(version: v, name: name) else { return nil }
            version = v
            family = UpdateRequest.family(name: name, version: v)
            size = isPack ? artifact.size : resource.size
            if let ranges, request.headers[Self.fullDownloadHeader] == nil {
                let tail = !isPack && ranges.count == 1 && artifact.blockMapSize.map {
                    ranges[0].offset == size - $0 - 4 && ranges[0].offset + ranges[0].length == size
                } == true
                kind = .ranges(embeddedTail: tail)
            } else {
                kind = .wholeArtifact
            }
        case .blockmap(let v):
            guard ranges == nil, snapshot.manifests[v] != nil,
                  let path = try? RequestPath(target: request.head.path ?? "/"), let name = path.segments.last else { return nil }
            version = v
            family = UpdateRequest.family(name: name, version: v)
            size = 0
            kind = .blockmap
        default:
            return nil
        }
        let now = analytics.configuration.clock()
        let installed = request.headers[Self.installedVersionHeader].map { snapshot.manifests[$0] != nil ? $0 : "other" }
        let client = analytics.keys.key(stagingID: request.headers[Self.stagingIDHeader], address: AnalyticsPeer.address,
                                        userAgent: request.headers[.userAgent], time: now)
        let counted = analytics.observe(UpdateRequest(client: client, resource: kind, version: version, family: family,
                                                      size: size, installedVersion: installed, time: now))
        guard counted, kind != .blockmap else { return nil }
        return AnalyticsBytes(recorder: analytics, version: version)
    }

    /// `/api/analytics` and `/analytics` (also `/analytics/`); nil for every other path, and
    /// for these without `--analytics`.
    func routeAnalytics(_ path: RequestPath, request: Request, isHead: Bool) async -> Response? {
        guard let analytics else { return nil }
        let isAPI = path.segments == ["api", "analytics"]
        let isPage = path.segments == ["analytics"]
        guard isAPI || isPage else { return nil }
        let query: AnalyticsQuery
        do {
            query = try AnalyticsQuery(query: path.query)
        } catch {
            metrics.rejected("query")
            return errorResponse(.badRequest, error.description, isHead: isHead)
        }
        guard Self.isAuthorized(request, query: query, token: analytics.configuration.token) else {
            var extra = HTTPFields()
            extra[.wwwAuthenticate] = "Bearer realm=\"blockyard analytics\""
            return errorResponse(.unauthorized, "analytics need the token (Authorization: Bearer TOKEN, or ?token=TOKEN)",
                                 isHead: isHead, extra: extra)
        }
        let tally = try? await streamer.pool.runIfActive { () -> AnalyticsTally in
            analytics.flush()
            return try analytics.store.tally(query)
        }
        guard let tally else { return errorResponse(.internalServerError, "the analytics store cannot be read", isHead: isHead) }
        let report = AnalyticsReport(tally)
        var headers = HTTPFields()
        headers[.cacheControl] = CachePolicy.noStore
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if isAPI {
            headers[.contentType] = ContentType.json
            return bufferResponse(.ok, bytes: ReleasesAPI.json(report), headers: headers, isHead: isHead, kind: "api")
        }
        var product = configuration.productName
        if product == nil { product = await siteModel().product }
        let html = AnalyticsDashboard.render(report, product: product ?? "", query: query, prefix: path.trailingSlash ? "../" : "")
        headers[.contentType] = ContentType.html
        headers[.contentSecurityPolicy] = AnalyticsDashboard.contentSecurityPolicy
        return bufferResponse(.ok, bytes: Array(html.utf8), headers: headers, isHead: isHead, kind: "page")
    }

    /// Whether the request carries the token (when one is configured), compared in constant time.
    static func isAuthorized(_ request: Request, query: AnalyticsQuery, token: String?) -> Bool {
        guard let token else { return true }
        var given = query.token
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            given = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        guard let given else { return false }
        let a = Array(given.utf8), b = Array(token.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { difference |= b[i] ^ (i < a.count ? a[i] : 0) }
        return difference == 0
    }
}
