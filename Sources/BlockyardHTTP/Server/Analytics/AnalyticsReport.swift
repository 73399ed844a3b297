import BlockyardRelease

/// The answer of `GET /api/analytics`: totals per version and per transition over the
/// requested days, and per day and version.
public struct AnalyticsReport: Codable, Equatable, Sendable {
    public struct Version: Codable, Equatable, Sendable {
        public var version: String
        public var fullDownloads: UInt64
        public var differentialUpdates: UInt64
        public var fallbacks: UInt64
        public var bytesServed: UInt64
        /// Bytes a full download of each counted download would have cost, minus the bytes
        /// served (negative when fallbacks cost more than the deltas saved).
        public var bytesSaved: Int64

        enum CodingKeys: String, CodingKey {
            case version, fallbacks
            case fullDownloads = "full_downloads", differentialUpdates = "differential_updates"
            case bytesServed = "bytes_served", bytesSaved = "bytes_saved"
        }
    }

    public struct Transition: Codable, Equatable, Sendable {
        public var from: String
        public var to: String
        public var differential: UInt64
        public var fallbacks: UInt64
    }

    public struct Day: Codable, Equatable, Sendable {
        public var date: String
        public var version: String
        /// Differential updates to the version that day.
        public var updates: UInt64
        /// Full downloads of the version that day.
        public var downloads: UInt64
    }

    /// Newest version first.
    public var versions: [Version]
    /// By new version (newest first), then installed version.
    public var transitions: [Transition]
    /// By date, then version (newest first).
    public var daily: [Day]

    public init(versions: [Version], transitions: [Transition], daily: [Day]) {
        self.versions = versions
        self.transitions = transitions
        self.daily = daily
    }

    /// The report of a tally (already limited to the requested days).
    public init(_ tally: AnalyticsTally) {
        var totals: [String: AnalyticsTally.VersionCounts] = [:]
        var days: [AnalyticsTally.VersionKey: AnalyticsTally.VersionCounts] = [:]
        for (key, counts) in tally.versions {
            totals[key.version, default: .init()].add(counts)
            days[key, default: .init()].add(counts)
        }
        versions = totals.map { version, c in
            Version(version: version, fullDownloads: c.fullDownloads, differentialUpdates: c.differentialUpdates,
                    fallbacks: c.fallbacks, bytesServed: c.bytesServed,
                    bytesSaved: Self.difference(c.bytesFullEquivalent, c.bytesServed))
        }.sorted { Self.newer($0.version, $1.version) }
        var pairs: [String: (from: String, to: String, counts: AnalyticsTally.TransitionCounts)] = [:]
        for (key, counts) in tally.transitions {
            let id = key.from + "\u{0}" + key.to
            pairs[id, default: (from: key.from, to: key.to, counts: AnalyticsTally.TransitionCounts())].counts.add(counts)
        }
        transitions = pairs.values.map { Transition(from: $0.from, to: $0.to, differential: $0.counts.differential, fallbacks: $0.counts.fallbacks) }
            .sorted { $0.to != $1.to ? Self.newer($0.to, $1.to) : Self.newer($0.from, $1.from) }
        daily = days.filter { $0.value.differentialUpdates > 0 || $0.value.fullDownloads > 0 }
            .map { Day(date: $0.key.date.description, version: $0.key.version, updates: $0.value.differentialUpdates,
                       downloads: $0.value.fullDownloads) }
            .sorted { $0.date != $1.date ? $0.date < $1.date : Self.newer($0.version, $1.version) }
    }

    /// Differential updates that did not fall back, per differential update (nil: none).
    public var differentialSuccessRate: Double? {
        let updates = versions.reduce(UInt64(0)) { $0 + $1.differentialUpdates }
        let fallbacks = versions.reduce(UInt64(0)) { $0 + $1.fallbacks }
        return updates == 0 ? nil : Double(updates - min(updates, fallbacks)) / Double(updates)
    }

    /// `a − b`, clamped to Int64.
    static func difference(_ a: UInt64, _ b: UInt64) -> Int64 {
        a >= b ? Int64(clamping: a - b) : -Int64(clamping: b - a)
    }

    /// SemVer precedence, newest first; versions that do not parse after, by name.
    static func newer(_ a: String, _ b: String) -> Bool {
        switch (SemanticVersion(a), SemanticVersion(b)) {
        case let (x?, y?): return x != y ? x > y : a < b
        case (_?, nil): return true
        case (nil, _?): return false
        case (nil, nil): return a < b
        }
    }
}
