import BlockyardRelease

/// Something the server can answer a GET with: bytes, their size, validators and caching.
struct ServedResource: Sendable {
    enum Kind: Sendable, Equatable {
        /// `releases/{version}/{artifact}`: immutable.
        case artifact(version: String, name: String)
        /// `releases/{version}/{artifact}.blockmap`: immutable, gzip bytes.
        case blockmap(version: String)
        /// A channel file (`latest.yml`, `beta-mac.yml`, …) or its `.sig`.
        case channel
        /// `release.json`, `SHA256SUMS`: rewritten when a version gains artifacts.
        case metadata
        /// Anything else under the root.
        case other
        /// The download page.
        case page
        /// The releases API.
        case api

        var metricsLabel: String {
            switch self {
            case .artifact: return "artifact"
            case .blockmap: return "blockmap"
            case .channel: return "channel"
            case .metadata: return "metadata"
            case .other: return "other"
            case .page: return "page"
            case .api: return "api"
            }
        }
    }

    var source: any ByteSource
    var size: Int
    var contentType: String
    /// Strong entity tag, quoted.
    var etag: String?
    /// Seconds since 1970.
    var lastModified: Int64?
    var cacheControl: String
    var kind: Kind
    var vary: String?
}

/// Cache-Control values.
enum CachePolicy {
    /// Versioned artifacts and their blockmaps never change under the same URL.
    static let immutable = "public, max-age=31536000, immutable"
    /// Channel files and other mutable metadata: always revalidate.
    static let revalidate = "no-cache"
    /// Metrics and error answers.
    static let noStore = "no-store"
}

/// What a path under the release root is, from its shape alone (the release layout of
/// docs/RELEASES.md): this decides caching, metrics and where else to look for it.
enum PathClass: Equatable {
    case artifact(version: String, name: String)
    case blockmap(version: String, name: String)
    case channel(name: String)
    case metadata
    case other

    init(_ segments: [String]) {
        if segments.count == 3 && segments[0] == ReleaseLayout.releasesDirectory {
            let name = segments[2]
            if name == ReleaseLayout.manifestName || name == ReleaseLayout.checksumsName {
                self = .metadata
            } else if name.hasSuffix(ReleaseLayout.blockmapSuffix) {
                self = .blockmap(version: segments[1], name: name)
            } else {
                self = .artifact(version: segments[1], name: name)
            }
        } else if segments.count == 1 {
            let name = segments[0]
            let base = name.hasSuffix(ReleaseLayout.signatureSuffix) ? String(name.dropLast(ReleaseLayout.signatureSuffix.count)) : name
            self = ReleaseLayout.channel(ofChannelFile: base) != nil ? .channel(name: base) : .other
        } else {
            self = .other
        }
    }

    var resourceKind: ServedResource.Kind {
        switch self {
        case .artifact(let version, let name): return .artifact(version: version, name: name)
        case .blockmap(let version, _): return .blockmap(version: version)
        case .channel: return .channel
        case .metadata: return .metadata
        case .other: return .other
        }
    }

    var cacheControl: String {
        switch self {
        case .artifact, .blockmap: return CachePolicy.immutable
        default: return CachePolicy.revalidate
        }
    }
}

/// Content types by file name. Binary artifacts and blockmaps are `application/octet-stream`
/// (a blockmap is gzip bytes served as they are, never with `Content-Encoding`).
enum ContentType {
    static let octetStream = "application/octet-stream"
    static let yaml = "text/yaml; charset=utf-8"
    static let text = "text/plain; charset=utf-8"
    static let json = "application/json; charset=utf-8"
    static let html = "text/html; charset=utf-8"
    static let prometheus = "text/plain; version=0.0.4; charset=utf-8"

    static func forFile(_ name: String) -> String {
        let lower = name.lowercased()
        if lower.hasSuffix(".yml") || lower.hasSuffix(".yaml") { return yaml }
        if lower.hasSuffix(".json") { return json }
        if lower.hasSuffix(".sig") || lower.hasSuffix(".txt") || lower == "sha256sums" || lower.hasSuffix(".md") { return text }
        if lower.hasSuffix(".html") || lower.hasSuffix(".htm") { return html }
        return octetStream
    }
}
