/// Update counts per UTC day: per version, and per transition (from → to). What the
/// analytics store keeps (nothing about clients), and what reports are made from.
public struct AnalyticsTally: Equatable, Sendable {
    /// Counts of one version on one day.
    public struct VersionCounts: Equatable, Sendable {
        /// Whole-artifact downloads that were not a fallback.
        public var fullDownloads: UInt64 = 0
        /// Differential updates to this version (those that fell back included).
        public var differentialUpdates: UInt64 = 0
        /// Differential updates that fell back to a whole-file download.
        public var fallbacks: UInt64 = 0
        /// Artifact bytes sent for the counted downloads (full, differential, fallback).
        public var bytesServed: UInt64 = 0
        /// What those downloads would have cost as full downloads (the artifact's size each).
        public var bytesFullEquivalent: UInt64 = 0

        public init() {}

        static let fieldCount = 5
        var fields: [UInt64] { [fullDownloads, differentialUpdates, fallbacks, bytesServed, bytesFullEquivalent] }
        init(fields: [UInt64]) {
            fullDownloads = fields[0]
            differentialUpdates = fields[1]
            fallbacks = fields[2]
            bytesServed = fields[3]
            bytesFullEquivalent = fields[4]
        }

        mutating func add(_ other: Self) {
            fullDownloads &+= other.fullDownloads
            differentialUpdates &+= other.differentialUpdates
            fallbacks &+= other.fallbacks
            bytesServed &+= other.bytesServed
            bytesFullEquivalent &+= other.bytesFullEquivalent
        }
    }

    /// Counts of one transition on one day.
    public struct TransitionCounts: Equatable, Sendable {
        public var differential: UInt64 = 0
        public var fallbacks: UInt64 = 0
        public init() {}

        mutating func add(_ other: Self) {
            differential &+= other.differential
            fallbacks &+= other.fallbacks
        }
    }

    public struct VersionKey: Hashable, Sendable {
        public var date: AnalyticsDate
        public var version: String
    }

    public struct TransitionKey: Hashable, Sendable {
        public var date: AnalyticsDate
        public var from: String
        public var to: String
    }

    public var versions: [VersionKey: VersionCounts] = [:]
    public var transitions: [TransitionKey: TransitionCounts] = [:]

    public init() {}

    public var isEmpty: Bool { versions.isEmpty && transitions.isEmpty }

    /// Counts `event` on `date`.
    public mutating func record(_ event: UpdateEvent, on date: AnalyticsDate) {
        switch event {
        case .fullDownload(let version, let size):
            versions[VersionKey(date: date, version: version), default: VersionCounts()].fullDownloads += 1
            versions[VersionKey(date: date, version: version), default: VersionCounts()].bytesFullEquivalent &+= UInt64(max(0, size))
        case .differential(let from, let to, let size):
            versions[VersionKey(date: date, version: to), default: VersionCounts()].differentialUpdates += 1
            versions[VersionKey(date: date, version: to), default: VersionCounts()].bytesFullEquivalent &+= UInt64(max(0, size))
            transitions[TransitionKey(date: date, from: from, to: to), default: TransitionCounts()].differential += 1
        case .fallback(let from, let to):
            versions[VersionKey(date: date, version: to), default: VersionCounts()].fallbacks += 1
            transitions[TransitionKey(date: date, from: from, to: to), default: TransitionCounts()].fallbacks += 1
        }
    }

    /// Counts `count` artifact bytes sent for a counted download of `version`.
    public mutating func addBytes(_ count: Int, version: String, on date: AnalyticsDate) {
        guard count > 0 else { return }
        versions[VersionKey(date: date, version: version), default: VersionCounts()].bytesServed &+= UInt64(count)
    }

    /// Adds every count of `other`.
    public mutating func merge(_ other: AnalyticsTally) {
        for (key, counts) in other.versions { versions[key, default: VersionCounts()].add(counts) }
        for (key, counts) in other.transitions { transitions[key, default: TransitionCounts()].add(counts) }
    }
}
