import Foundation

/// What `agent status` and `GET /api/updates/status` report.
public struct AgentStatus: Encodable, Sendable {
    public struct BackupInfo: Encodable, Sendable {
        public var version: String
        public var createdAt: String
        public var path: String

        enum CodingKeys: String, CodingKey {
            case version, path
            case createdAt = "created_at"
        }
    }

    public var config: AgentConfig
    public var state: AgentState
    /// The running (or interrupted) download.
    public var progress: DownloadProgress?
    /// Whether an operation holds the lock now.
    public var busy: Bool
    public var backups: [BackupInfo]
    /// Files of an unfinished download are kept (the next download resumes them).
    public var partialDownload: Bool

    /// Whether a downloaded or available version is newer than the installed one.
    public var updateAvailable: Bool { state.available?.isOffered == true }

    enum CodingKeys: String, CodingKey {
        case config, installed, available, downloaded, pending, progress, busy, backups, history
        case stagingID = "staging_id"
        case lastError = "last_error"
        case failedVersions = "failed_versions"
        case updateAvailable = "update_available"
        case partialDownload = "partial_download"
        case installPath = "install_path"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ConfigJSON(config: config), forKey: .config)
        try c.encode(config.installPath, forKey: .installPath)
        try c.encode(state.installed, forKey: .installed)
        try c.encode(state.available, forKey: .available)
        try c.encode(updateAvailable, forKey: .updateAvailable)
        try c.encode(state.downloaded, forKey: .downloaded)
        try c.encode(progress, forKey: .progress)
        try c.encode(partialDownload, forKey: .partialDownload)
        try c.encode(state.pending, forKey: .pending)
        try c.encode(busy, forKey: .busy)
        try c.encode(backups, forKey: .backups)
        try c.encode(state.lastError, forKey: .lastError)
        try c.encode(state.failedVersions, forKey: .failedVersions)
        try c.encode(state.stagingID, forKey: .stagingID)
        try c.encode(Array(state.history.suffix(20)), forKey: .history)
    }
}

/// ``AgentConfig`` as a JSON object with its own key names (for reports).
public struct ConfigJSON: Encodable, Sendable {
    public var config: AgentConfig

    public init(config: AgentConfig) { self.config = config }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for key in AgentConfig.keys {
            let k = Key(stringValue: key)
            switch config.value(of: key) {
            case let v as Bool: try c.encode(v, forKey: k)
            case let v as Int: try c.encode(v, forKey: k)
            case let v as String: try c.encode(v, forKey: k)
            case let v as [String]: try c.encode(v, forKey: k)
            default: try c.encodeNil(forKey: k)
            }
        }
    }
}

/// JSON text of a report (sorted keys, two-space indent, slashes unescaped).
public enum AgentReportJSON {
    public static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
