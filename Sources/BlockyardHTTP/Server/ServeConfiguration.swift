import BlockyardCore

/// How `blockyard serve` runs.
public struct ServeConfiguration: Sendable {
    /// The release directory (the layout `blockyard release create` writes).
    public var root: String
    /// A chunk store to serve artifacts from when their files are not under `root`.
    public var storePath: String?
    /// The address to bind (default: loopback only).
    public var host: String
    /// The port; 0 picks a free one (``ReleaseServer/run(onListening:)`` reports it).
    public var port: Int
    /// Serve the previous release's channel file to users outside a channel file's
    /// `stagingPercentage` (from `x-user-staging-id`).
    public var stagedRollout: Bool
    /// The product name on the download page (default: taken from the artifact names).
    public var productName: String?
    /// The absolute URL the server is reached at (`https://updates.example.com/app/`), for
    /// the links of the releases API; default: from the request's Host header.
    public var publicBaseURL: String?
    /// Largest request header block accepted, in bytes (electron-updater's multi-range
    /// requests need more than 9 KiB; at least 64 KiB is accepted).
    public var maxHeaderBytes: Int
    /// Most ranges one request may ask for, and most bytes all of them together.
    public var rangeLimits: RangeLimits
    /// Bytes read from disk or the store per step while streaming a body.
    public var blockSize: Int
    /// Seconds before an idle keep-alive connection is closed (also the longest a client may
    /// take to send a request head after connecting or after the previous response).
    public var idleTimeoutSeconds: Int
    /// Seconds a response may wait for a client that stopped reading (its connection's write
    /// buffer full) before the connection is closed.
    public var sendTimeoutSeconds: Int
    /// Most connections open at once; more are answered 503 and closed.
    public var maxConnections: Int
    /// `--analytics DIR`: update analytics (off when nil).
    public var analytics: AnalyticsConfiguration?

    public init(root: String, storePath: String? = nil, host: String = "127.0.0.1", port: Int = 8080,
                stagedRollout: Bool = false, productName: String? = nil, publicBaseURL: String? = nil,
                maxHeaderBytes: Int = 128 * 1024, rangeLimits: RangeLimits = RangeLimits(),
                blockSize: Int = 1 << 20, idleTimeoutSeconds: Int = 75, sendTimeoutSeconds: Int = 60,
                maxConnections: Int = 4096) {
        self.root = root
        self.storePath = storePath
        self.host = host
        self.port = port
        self.stagedRollout = stagedRollout
        self.productName = productName
        self.publicBaseURL = publicBaseURL
        self.maxHeaderBytes = maxHeaderBytes
        self.rangeLimits = rangeLimits
        self.blockSize = blockSize
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.sendTimeoutSeconds = sendTimeoutSeconds
        self.maxConnections = maxConnections
    }
}

/// Why the server could not start.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// A bad option value (exit 64).
        case usage
        /// The root directory or the store is missing or unreadable (exit 66).
        case missingInput
        /// The store is not a valid store (exit 65).
        case invalidData
        /// The address could not be bound (exit 74).
        case io
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
