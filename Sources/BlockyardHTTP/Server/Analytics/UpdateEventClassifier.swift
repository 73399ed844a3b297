/// Derives update events from the requests of each client — no telemetry in the client —
/// with bounded memory (pure: no I/O, no clock; every request carries its time).
///
/// Per client it remembers, for ``window`` seconds after their last request, the blockmaps it
/// fetched and its downloads in progress (one per artifact family and version):
///
/// * A blockmap GET is remembered; nothing is counted yet.
/// * Ranges of an artifact after a GET of its blockmap, or with `X-Blockyard-Installed-Version`,
///   or the embedded-blockmap tail range start a **differential update** from the installed
///   version: the header's, else the other version of the same family whose blockmap the
///   client fetched (electron-updater fetches the old blockmap by the installed version's
///   URL), else `unknown`. Further ranges belong to it.
/// * A whole-artifact GET during a differential update is its **fallback** (once); after a
///   blockmap GET but before any range, a differential update and its fallback at once (the
///   differential download failed before its first range, e.g. the old blockmap is missing);
///   otherwise a **full download**. Repeats within the window (retries, resumed ranges, the
///   pieces of `blockyard update`'s full download) belong to the same download.
/// * Ranges that fit none of these (a download manager resuming) are not counted.
public struct UpdateEventClassifier: Sendable {
    /// Seconds a client's state lives after its last request (also the fallback window).
    public let window: Double
    /// Most clients remembered at once; the least recently seen are forgotten first.
    public let maxClients: Int

    enum Mode: Sendable { case differential, full }

    struct BlockmapFetch: Sendable {
        var version: String
        var family: String
        var time: Double
    }

    struct Download: Sendable {
        var version: String
        var family: String
        var from: String
        var mode: Mode
        var fellBack: Bool
        var lastActivity: Double
    }

    struct Client: Sendable {
        var blockmaps: [BlockmapFetch] = []
        var downloads: [Download] = []
        var lastSeen: Double = 0
    }

    private(set) var clients: [ClientKey: Client] = [:]

    /// Per client, at most this many blockmaps and downloads are remembered.
    static let perClientLimit = 8

    public init(window: Double = 1800, maxClients: Int = 100_000) {
        self.window = window
        self.maxClients = max(1, maxClients)
    }

    /// Clients remembered now.
    public var clientCount: Int { clients.count }

    /// Takes one request: the events it completes, and whether its bytes belong to a counted
    /// download (full, differential or fallback) of `request.version`.
    public mutating func observe(_ request: UpdateRequest) -> (events: [UpdateEvent], counted: Bool) {
        let t = request.time
        var client = clients[request.client] ?? Client()
        client.blockmaps.removeAll { t - $0.time > window }
        client.downloads.removeAll { t - $0.lastActivity > window }
        client.lastSeen = t
        defer {
            clients[request.client] = client
            if clients.count > maxClients { evict(now: t) }
        }

        let family = request.family, version = request.version
        let ongoing = client.downloads.firstIndex { $0.family == family && $0.version == version }
        let fetchedBlockmap = client.blockmaps.contains { $0.family == family && $0.version == version }
        func from() -> String {
            if let installed = request.installedVersion { return installed }
            return client.blockmaps.last { $0.family == family && $0.version != version }?.version ?? "unknown"
        }
        func start(_ download: Download) {
            client.downloads.append(download)
            if client.downloads.count > Self.perClientLimit { client.downloads.removeFirst() }
        }

        switch request.resource {
        case .blockmap:
            client.blockmaps.removeAll { $0.family == family && $0.version == version }
            client.blockmaps.append(BlockmapFetch(version: version, family: family, time: t))
            if client.blockmaps.count > Self.perClientLimit { client.blockmaps.removeFirst() }
            return ([], false)

        case .ranges(let embeddedTail):
            if let ongoing {
                client.downloads[ongoing].lastActivity = t
                return ([], true)
            }
            guard fetchedBlockmap || embeddedTail || request.installedVersion != nil else { return ([], false) }
            let source = from()
            start(Download(version: version, family: family, from: source, mode: .differential, fellBack: false, lastActivity: t))
            return ([.differential(from: source, to: version, size: request.size)], true)

        case .wholeArtifact:
            if let ongoing {
                client.downloads[ongoing].lastActivity = t
                let download = client.downloads[ongoing]
                guard download.mode == .differential && !download.fellBack else { return ([], true) }
                client.downloads[ongoing].fellBack = true
                return ([.fallback(from: download.from, to: version)], true)
            }
            if fetchedBlockmap {
                let source = from()
                start(Download(version: version, family: family, from: source, mode: .differential, fellBack: true, lastActivity: t))
                return ([.differential(from: source, to: version, size: request.size), .fallback(from: source, to: version)], true)
            }
            start(Download(version: version, family: family, from: "", mode: .full, fellBack: false, lastActivity: t))
            return ([.fullDownload(version: version, size: request.size)], true)
        }
    }

    /// Forgets every client older than the window, then about the least recently seen tenth
    /// of the limit: the cut-off time is taken from a sample of at most 1024 clients, so a
    /// flood of new clients costs one linear pass per tenth of the limit, not a sort.
    private mutating func evict(now: Double) {
        clients = clients.filter { now - $0.value.lastSeen <= window }
        let target = maxClients - maxClients / 10
        guard clients.count > target else { return }
        let times = clients.values.map(\.lastSeen)
        let step = max(1, times.count / 1024)
        let sample = stride(from: 0, to: times.count, by: step).map { times[$0] }.sorted()
        let fraction = Double(clients.count - target) / Double(clients.count)
        let cutoff = sample[min(sample.count - 1, Int(Double(sample.count) * fraction))]
        clients = clients.filter { $0.value.lastSeen > cutoff }
        if clients.count > maxClients {
            // A sample that missed: exact, by age.
            let oldest = clients.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(clients.count - target)
            for (key, _) in oldest { clients.removeValue(forKey: key) }
        }
    }
}
