import Foundation

/// `serve --analytics DIR`: update analytics derived from the requests (docs/HTTP-SERVER.md,
/// "Update analytics").
public struct AnalyticsConfiguration: Sendable {
    /// The directory of the analytics store (created when missing).
    public var directory: String
    /// The token `/analytics` and `/api/analytics` require (`Authorization: Bearer …` or
    /// `?token=`); nil: none, allowed only when the server listens on loopback.
    public var token: String?
    /// Seconds a client's requests are linked after its last one (the fallback window).
    public var window: Double
    /// Most clients remembered at once.
    public var maxClients: Int
    /// Seconds between batched writes to the store.
    public var flushInterval: Double
    /// Days of counts kept (older days are deleted at start and once a day); 0 keeps all.
    public var retentionDays: Int
    /// The clock (seconds since 1970); tests set it.
    public var clock: @Sendable () -> Double

    public init(directory: String, token: String? = nil, window: Double = 1800, maxClients: Int = 100_000,
                flushInterval: Double = 5, retentionDays: Int = 400,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.directory = directory
        self.token = token
        self.window = window
        self.maxClients = maxClients
        self.flushInterval = flushInterval
        self.retentionDays = retentionDays
        self.clock = clock
    }

    /// Reads a token file: its first line, trimmed; at least 16 characters.
    public static func readToken(file: String) throws(ServeError) -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ServeError(.missingInput, "\(file): cannot read the analytics token file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let token = (text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
        guard token.count >= 16, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ServeError(.usage, "\(file): the analytics token must be at least 16 printable ASCII characters without spaces")
        }
        return token
    }

    /// Whether `host` (what the server binds) is a loopback address.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
