/// A short-lived, anonymous key for one client: 16 bytes of a salted SHA-256 (see
/// ``ClientKeyDeriver``). Only ever held in memory.
public struct ClientKey: Hashable, Sendable {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

/// What one answered request tells about an update: the only input of
/// ``UpdateEventClassifier``. Built by the server for GETs of blockmaps and artifacts of
/// versions in the release directory (never for HEAD, errors or unknown versions).
public struct UpdateRequest: Sendable {
    public enum Resource: Equatable, Sendable {
        /// A `.blockmap` answered 200: electron-updater fetches the new one, then the old one
        /// (whose URL names the installed version); `blockyard update` the new one.
        case blockmap
        /// The whole artifact: a GET without Range answered 200, or `blockyard update`'s
        /// ranges of a full download (`X-Blockyard-Full-Download`).
        case wholeArtifact
        /// Ranges of the artifact (206). `embeddedTail`: exactly the range an updater reads an
        /// embedded blockmap from (`size − blockMapSize − 4` to the end).
        case ranges(embeddedTail: Bool)
    }

    public var client: ClientKey
    public var resource: Resource
    /// The version the blockmap or artifact belongs to.
    public var version: String
    /// The artifact's name with its version replaced by a placeholder: the old and new
    /// blockmaps and artifacts of one product line share it.
    public var family: String
    /// The artifact's size in bytes (what a full download costs).
    public var size: Int
    /// `X-Blockyard-Installed-Version`: a version of the release directory, `other` for one
    /// that is not, nil without the header.
    public var installedVersion: String?
    /// Seconds since 1970 (UTC).
    public var time: Double

    public init(client: ClientKey, resource: Resource, version: String, family: String, size: Int,
                installedVersion: String? = nil, time: Double) {
        self.client = client
        self.resource = resource
        self.version = version
        self.family = family
        self.size = size
        self.installedVersion = installedVersion
        self.time = time
    }

    /// `name` (an artifact or `NAME.blockmap`) with every occurrence of `version` replaced, the
    /// `.blockmap` suffix dropped: electron-updater derives the old blockmap's URL by exactly
    /// this replacement.
    public static func family(name: String, version: String) -> String {
        var base = name
        if base.hasSuffix(".blockmap") { base.removeLast(".blockmap".count) }
        return version.isEmpty ? base : base.replacingOccurrences(of: version, with: "\u{1}")
    }
}

/// One update event, as the classifier derives it from a client's requests.
public enum UpdateEvent: Equatable, Sendable {
    /// A whole-artifact download that is not a fallback (a new install, an updater without
    /// differential download, a browser).
    case fullDownload(version: String, size: Int)
    /// A differential update of an artifact of `size` bytes from `from` (`unknown` when the
    /// requests do not say) to `to`.
    case differential(from: String, to: String, size: Int)
    /// The differential update `from → to` was given up for a whole-file download.
    case fallback(from: String, to: String)
}
