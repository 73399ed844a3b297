import BlockyardRelease
import Foundation

/// `GET /api/releases`, `/api/releases/latest`, `/api/releases/tags/{tag}`,
/// `/api/releases/{id}`, `/api/releases/{id}/assets`, `/api/releases/assets/{id}`: JSON
/// shaped like the GitHub REST releases API (the subset installers and download pages use),
/// so a front end written against `https://api.github.com/repos/OWNER/REPO/releases/latest`
/// works with `BASE/api/releases/latest`.
enum ReleasesAPI {
    /// One release asset, as GitHub's `release-asset` object.
    struct Asset: Encodable {
        let url: String
        let browserDownloadURL: String
        let id: Int
        let name: String
        let label: String
        let state: String
        let contentType: String
        let size: Int
        /// `sha256:<hex>`, as GitHub reports asset digests.
        let digest: String
        /// Full downloads served by this process since it started (GitHub counts forever).
        let downloadCount: Int
        let createdAt: String
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case url, id, name, label, state, size, digest
            case browserDownloadURL = "browser_download_url"
            case contentType = "content_type"
            case downloadCount = "download_count"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }
    }

    /// One release, as GitHub's `release` object.
    struct Release: Encodable {
        let url: String
        let htmlURL: String
        let assetsURL: String
        let id: Int
        let tagName: String
        let name: String
        let body: String
        let draft: Bool
        let prerelease: Bool
        let createdAt: String
        let publishedAt: String
        let assets: [Asset]

        enum CodingKeys: String, CodingKey {
            case url, id, name, body, draft, prerelease, assets
            case htmlURL = "html_url"
            case assetsURL = "assets_url"
            case tagName = "tag_name"
            case createdAt = "created_at"
            case publishedAt = "published_at"
            case tarballURL = "tarball_url"
            case zipballURL = "zipball_url"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(url, forKey: .url)
            try c.encode(htmlURL, forKey: .htmlURL)
            try c.encode(assetsURL, forKey: .assetsURL)
            try c.encode(id, forKey: .id)
            try c.encode(tagName, forKey: .tagName)
            try c.encode(name, forKey: .name)
            try c.encode(body, forKey: .body)
            try c.encode(draft, forKey: .draft)
            try c.encode(prerelease, forKey: .prerelease)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(publishedAt, forKey: .publishedAt)
            try c.encode(assets, forKey: .assets)
            // No source archives: null, as GitHub has for releases without a tag's archive.
            try c.encodeNil(forKey: .tarballURL)
            try c.encodeNil(forKey: .zipballURL)
        }
    }

    struct ErrorBody: Encodable {
        let message: String
        let status: String
    }

    /// Absolute URLs: `base` ends with `/`.
    static func release(_ release: SiteModel.Release, product: String, base: String,
                        downloads: (String, String) -> Int) -> Release {
        let manifest = release.manifest
        let created = SiteDate.github(manifest.createdAt) ?? manifest.createdAt
        let updated = SiteDate.github(manifest.updatedAt) ?? manifest.updatedAt
        var assets: [Asset] = []
        for artifact in manifest.artifacts {
            assets.append(Asset(
                url: "\(base)api/releases/assets/\(release.assetID(artifact.name))",
                browserDownloadURL: base + HTML.artifactPath(version: manifest.version, name: artifact.name),
                id: release.assetID(artifact.name), name: artifact.name, label: "", state: "uploaded",
                contentType: ContentType.forFile(artifact.name), size: artifact.size, digest: "sha256:" + artifact.sha256,
                downloadCount: downloads(manifest.version, artifact.name), createdAt: created, updatedAt: updated))
            if let blockmap = artifact.blockmap {
                assets.append(Asset(
                    url: "\(base)api/releases/assets/\(release.assetID(blockmap.name))",
                    browserDownloadURL: base + HTML.artifactPath(version: manifest.version, name: blockmap.name),
                    id: release.assetID(blockmap.name), name: blockmap.name, label: "", state: "uploaded",
                    contentType: ContentType.octetStream, size: blockmap.size, digest: "sha256:" + blockmap.sha256,
                    downloadCount: 0, createdAt: created, updatedAt: updated))
            }
        }
        return Release(
            url: "\(base)api/releases/\(release.id)", htmlURL: "\(base)releases/#\(HTML.pathSegment(release.tag))",
            assetsURL: "\(base)api/releases/\(release.id)/assets", id: release.id, tagName: release.tag,
            name: manifest.releaseName ?? "\(product) \(manifest.version)", body: SiteModel.notesText(manifest.releaseNotes),
            draft: false, prerelease: release.isPrerelease, createdAt: created, publishedAt: created, assets: assets)
    }

    /// The same value always gives the same bytes (keys sorted): the ETag is a hash of them,
    /// so `If-None-Match` gets 304 while nothing changed.
    static func json<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("null".utf8))
    }

    /// What an API path asks for.
    enum Route: Equatable {
        case list(page: Int, perPage: Int)
        case latest
        case tag(String)
        case release(id: Int)
        case releaseAssets(id: Int)
        case asset(id: Int)
        case notFound
        /// A query parameter that is not a whole number in its range: 400 with this message.
        case badRequest(String)
    }

    /// Largest `per_page` (larger values mean this, as on GitHub).
    static let maxPerPage = 100

    /// Routes `segments` after `api/releases`. `per_page` and `page` must be whole numbers from
    /// 1 (400 otherwise); `per_page` above 100 means 100, and a `page` past the last one (however
    /// large) is an empty page, as on GitHub.
    static func route(_ segments: ArraySlice<String>, query: String?) -> Route {
        let parts = Array(segments)
        switch parts.count {
        case 0:
            let parameters = queryParameters(query)
            var perPage = 30
            var page = 1
            if let text = parameters["per_page"] {
                switch PositiveNumber(text) {
                case .value(let n): perPage = min(maxPerPage, n)
                case .huge: perPage = maxPerPage
                case nil: return .badRequest("per_page must be a whole number from 1 to \(maxPerPage)")
                }
            }
            if let text = parameters["page"] {
                switch PositiveNumber(text) {
                case .value(let n): page = n
                case .huge: page = Int.max
                case nil: return .badRequest("page must be a whole number from 1")
                }
            }
            return .list(page: page, perPage: perPage)
        case 1 where parts[0] == "latest":
            return .latest
        case 1:
            return Int(parts[0]).map { .release(id: $0) } ?? .notFound
        case 2 where parts[0] == "tags":
            return .tag(parts[1])
        case 2 where parts[0] == "assets":
            return Int(parts[1]).map { .asset(id: $0) } ?? .notFound
        case 2 where parts[1] == "assets":
            return Int(parts[0]).map { .releaseAssets(id: $0) } ?? .notFound
        default:
            return .notFound
        }
    }

    /// A query value that must be a whole number from 1: its value, `huge` when it has more
    /// digits than `Int` holds, nil when it is anything else (empty, signed, zero, not digits).
    enum PositiveNumber: Equatable {
        case value(Int)
        case huge

        init?(_ text: String) {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            if let n = Int(text) {
                guard n >= 1 else { return nil }
                self = .value(n)
            } else {
                self = .huge
            }
        }
    }

    /// The releases of page `page` (from 1) of `perPage`, without overflow for any page.
    static func pageSlice<T>(_ all: [T], page: Int, perPage: Int) -> ArraySlice<T> {
        guard page >= 1, perPage >= 1, (page - 1) < (all.count + perPage - 1) / perPage else { return [] }
        let start = (page - 1) * perPage
        return all[start..<min(all.count, start + perPage)]
    }

    /// The query's parameters, values percent-decoded (`+` stays `+`); a parameter whose value
    /// is not valid percent-encoded UTF-8 maps to a value no parameter accepts.
    static func queryParameters(_ query: String?) -> [String: String] {
        var out: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard let key = kv.first else { continue }
            let raw = kv.count > 1 ? Array(kv[1].utf8) : []
            let decoded = (try? RequestPath.percentDecode(raw[...])).flatMap { String(validating: $0, as: UTF8.self) }
            out[String(key)] = decoded ?? "\u{FFFD}"
        }
        return out
    }
}
