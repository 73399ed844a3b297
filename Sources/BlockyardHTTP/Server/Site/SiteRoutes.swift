import BlockyardCore
import BlockyardRelease
import Foundation
import Hummingbird
import HTTPTypes

/// The download page and the releases API inside `blockyard serve`.
extension ServerCore {
    /// `/`, `/releases`, `/releases/`, `/index.html` → the page; `/api/releases…` → JSON;
    /// `/openapi.json` → the API's OpenAPI document (docs/openapi/releases.json). Nil for
    /// everything else (files).
    func routeSite(_ path: RequestPath, request: Request, isHead: Bool) async -> Response? {
        let segments = path.segments
        if segments == ["openapi.json"] { return openAPIResponse(request: request, isHead: isHead) }
        let isPage = segments.isEmpty || segments == ["index.html"] || segments == [ReleaseLayout.releasesDirectory]
        let isAPI = segments.count >= 2 && segments[0] == "api" && segments[1] == "releases"
        guard isPage || isAPI else { return nil }
        let model = await siteModel()
        if isPage {
            let visitor = VisitorPlatform(userAgent: request.headers[.userAgent])
            // Links are relative, so the page works behind any path prefix.
            let depth = path.trailingSlash ? segments.count : max(0, segments.count - 1)
            let html = DownloadPage.render(model, visitor: visitor, prefix: String(repeating: "../", count: depth))
            var resource = ServedResource(source: MemoryByteSource(bytes: Array(html.utf8)), size: html.utf8.count,
                                          contentType: ContentType.html, etag: nil, lastModified: nil,
                                          cacheControl: CachePolicy.revalidate, kind: .page, vary: "User-Agent")
            resource.etag = Self.quote(SHA2Hasher.hash(.sha256, Array(html.utf8)).hex)
            var response = answer(resource, request: request, isHead: isHead)
            response.headers[.contentSecurityPolicy] = DownloadPage.contentSecurityPolicy
            response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
            return response
        }
        let base = baseURL(request)
        let route = ReleasesAPI.route(segments.dropFirst(2), query: path.query)
        let downloads: (String, String) -> Int = { [downloadCounts] version, name in downloadCounts.count(version: version, name: name) }
        var body: [UInt8]
        var status = HTTPResponse.Status.ok
        var link: String?
        switch route {
        case .list(let page, let perPage):
            let all = model.releases
            let slice = ReleasesAPI.pageSlice(all, page: page, perPage: perPage)
            body = ReleasesAPI.json(slice.map { ReleasesAPI.release($0, product: model.product, base: base, downloads: downloads) })
            let pages = max(1, (all.count + perPage - 1) / perPage)
            var links: [String] = []
            if page < pages { links.append("<\(base)api/releases?per_page=\(perPage)&page=\(page + 1)>; rel=\"next\"") }
            if page > 1 { links.append("<\(base)api/releases?per_page=\(perPage)&page=\(min(page - 1, pages))>; rel=\"prev\"") }
            if pages > 1 {
                links.append("<\(base)api/releases?per_page=\(perPage)&page=1>; rel=\"first\"")
                links.append("<\(base)api/releases?per_page=\(perPage)&page=\(pages)>; rel=\"last\"")
            }
            link = links.isEmpty ? nil : links.joined(separator: ", ")
        case .latest, .tag, .release:
            let release: SiteModel.Release?
            switch route {
            case .latest: release = model.latest
            case .tag(let tag): release = model.release(tag: tag)
            case .release(let id): release = model.releases.first { $0.id == id }
            default: release = nil
            }
            if let release {
                body = ReleasesAPI.json(ReleasesAPI.release(release, product: model.product, base: base, downloads: downloads))
            } else {
                status = .notFound
                body = ReleasesAPI.json(ReleasesAPI.ErrorBody(message: "Not Found", status: "404"))
            }
        case .releaseAssets(let id):
            if let release = model.releases.first(where: { $0.id == id }) {
                body = ReleasesAPI.json(ReleasesAPI.release(release, product: model.product, base: base, downloads: downloads).assets)
            } else {
                status = .notFound
                body = ReleasesAPI.json(ReleasesAPI.ErrorBody(message: "Not Found", status: "404"))
            }
        case .asset(let id):
            let asset = model.releases.lazy.flatMap { ReleasesAPI.release($0, product: model.product, base: base, downloads: downloads).assets }
                .first { $0.id == id }
            if let asset {
                body = ReleasesAPI.json(asset)
            } else {
                status = .notFound
                body = ReleasesAPI.json(ReleasesAPI.ErrorBody(message: "Not Found", status: "404"))
            }
        case .badRequest(let message):
            status = .badRequest
            body = ReleasesAPI.json(ReleasesAPI.ErrorBody(message: message, status: "400"))
        case .notFound:
            status = .notFound
            body = ReleasesAPI.json(ReleasesAPI.ErrorBody(message: "Not Found", status: "404"))
        }
        var headers = HTTPFields()
        headers[.contentType] = ContentType.json
        headers[.xContentTypeOptions] = "nosniff"
        if status != .ok {
            headers[.cacheControl] = CachePolicy.noStore
            return bufferResponse(status, bytes: body, headers: headers, isHead: isHead, kind: "api")
        }
        let resource = ServedResource(source: MemoryByteSource(bytes: body), size: body.count, contentType: ContentType.json,
                                      etag: Self.quote(SHA2Hasher.hash(.sha256, body).hex), lastModified: nil,
                                      cacheControl: CachePolicy.revalidate, kind: .api, vary: nil)
        var response = answer(resource, request: request, isHead: isHead)
        if let link { response.headers[HTTPField.Name("Link")!] = link }
        return response
    }

    /// The ETag of ``ReleasesOpenAPI/document`` (computed once).
    static let openAPIETag = quote(SHA2Hasher.hash(.sha256, ReleasesOpenAPI.document).hex)

    /// The releases API's OpenAPI document, with an ETag like the API's answers.
    func openAPIResponse(request: Request, isHead: Bool) -> Response {
        let bytes = ReleasesOpenAPI.document
        let resource = ServedResource(source: MemoryByteSource(bytes: bytes), size: bytes.count, contentType: ContentType.json,
                                      etag: Self.openAPIETag, lastModified: nil,
                                      cacheControl: CachePolicy.revalidate, kind: .api, vary: nil)
        return answer(resource, request: request, isHead: isHead)
    }

    /// The page's and API's view of the releases: the catalog and the channel files now.
    func siteModel() async -> SiteModel {
        let snapshot = catalog.snapshot()
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { ReleaseLayout.channel(ofChannelFile: $0) != nil }
        var channelFiles: [(name: String, info: UpdateInfo)] = []
        for name in names {
            if let document = await channelDocument(name) { channelFiles.append((name, document.info)) }
        }
        return SiteModel(snapshot: snapshot, channelFiles: channelFiles, productName: configuration.productName)
    }

    /// `https://host/prefix/`: the configured public URL, else `http://` + the request's Host
    /// (when it is a plain host[:port]), else the address the server listens on.
    func baseURL(_ request: Request) -> String {
        if var base = configuration.publicBaseURL {
            if !base.hasSuffix("/") { base += "/" }
            return base
        }
        if let host = request.head.authority, !host.isEmpty, host.utf8.count <= 255,
           host.utf8.allSatisfy({ $0 < 128 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
                                               || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")) }) {
            return "http://\(host)/"
        }
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "http://\(host):\(configuration.port)/"
    }
}

/// Full downloads per artifact since the server started (the API's `download_count`).
final class DownloadCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func record(version: String, name: String) {
        lock.withLock { counts[version + "/" + name, default: 0] += 1 }
    }

    func count(version: String, name: String) -> Int {
        lock.withLock { counts[version + "/" + name] ?? 0 }
    }
}
