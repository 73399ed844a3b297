import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import Foundation

/// What `agent repair` did.
public struct RepairResult: Encodable, Sendable {
    /// `intact` (state.json was readable: nothing changed) or `repaired`.
    public var status: String
    /// Why state.json could not be used (nil when intact).
    public var problem: String?
    /// The version recorded as installed (nil: nothing is at the install path).
    public var installed: String?
    /// Where that version came from: `option` (--installed-version), `previous-state` (the
    /// old state.json's record, whose SHA-512s match), `backup` (a backup with the same
    /// SHA-512s), `feed` (the channel file's entry with the same SHA-512s); nil when nothing
    /// is installed.
    public var versionSource: String?
    public var stagingID: String
    /// Whether the staging id came from the old state.json (false: a new one was drawn, so
    /// staged rollouts are decided anew for this install).
    public var stagingIDRecovered: Bool
    public var failedVersions: [String]
    /// History events taken over from the old state.json.
    public var historyRecovered: Int
    /// Where the old state.json was kept (nil when there was none).
    public var keptAs: String?
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case status, problem, installed, warnings
        case versionSource = "version_source"
        case stagingID = "staging_id"
        case stagingIDRecovered = "staging_id_recovered"
        case failedVersions = "failed_versions"
        case historyRecovered = "history_recovered"
        case keptAs = "kept_as"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(problem, forKey: .problem)
        try c.encode(installed, forKey: .installed)
        try c.encode(versionSource, forKey: .versionSource)
        try c.encode(stagingID, forKey: .stagingID)
        try c.encode(stagingIDRecovered, forKey: .stagingIDRecovered)
        try c.encode(failedVersions, forKey: .failedVersions)
        try c.encode(historyRecovered, forKey: .historyRecovered)
        try c.encode(keptAs, forKey: .keptAs)
        try c.encode(warnings, forKey: .warnings)
    }
}

extension Agent {
    /// Rebuilds a missing, broken or newer-format `state.json` from what is installed: the
    /// install path is hashed and its version taken from `installedVersion`, else from the old
    /// state's record, a backup or the feed's channel file whose SHA-512s match (refused when
    /// none does: nothing is guessed). The staging id, failed versions and history are taken
    /// over from the old file where they can be read; the old file is kept as
    /// `state.json.broken-TIME`. A readable state.json is left alone (`intact`).
    public func repair(installedVersion: String? = nil, now: Date = Date()) async throws(AgentError) -> RepairResult {
        if let installedVersion, SemanticVersion(installedVersion) == nil {
            throw AgentError(.usage, "--installed-version \(installedVersion.debugDescription) is not a semantic version")
        }
        let lock = try AgentLock(path: lockPath, operation: "repair")
        defer { withExtendedLifetime(lock) {} }
        try reloadConfig()
        let problem: String
        do {
            let state = try loadState()
            return RepairResult(status: "intact", problem: nil, installed: state.installed?.version, versionSource: nil,
                                stagingID: state.stagingID, stagingIDRecovered: true, failedVersions: state.failedVersions,
                                historyRecovered: state.history.count, keptAs: nil, warnings: [])
        } catch where error.kind == .invalidData {
            problem = error.message
        }
        let old = StateSalvage(path: statePath)
        var warnings: [String] = []
        var state = AgentState(stagingID: old.stagingID ?? UUID().uuidString.lowercased())
        if old.stagingID == nil {
            warnings.append("the staging id could not be recovered: a new one was drawn, so staged rollouts are decided anew for this install")
        }
        state.failedVersions = old.failedVersions
        state.history = old.history

        var source: String?
        if FileOperations.exists(config.installPath) {
            let files = try Self.installedFiles(at: config.installPath, kind: config.kind)
            let identified = try await identify(files, given: installedVersion, previous: old.installed, state: state, warnings: &warnings)
            state.installed = identified.installed
            source = identified.source
        } else if let installedVersion {
            throw AgentError(.missingInput, "\(config.installPath) does not exist, so version \(installedVersion) cannot be installed there")
        }

        var kept: String?
        if FileOperations.exists(statePath) {
            let base = statePath + ".broken-" + AgentClock.format(now).replacingOccurrences(of: ":", with: "")
            var name = base
            var attempt = 1
            while link(statePath, name) != 0 {
                guard errno == EEXIST, attempt < 100 else {
                    throw AgentError(.cannotCreate, FileError(path: name, errno: errno, doing: "cannot keep the old state here").description)
                }
                attempt += 1
                name = base + "-\(attempt)"
            }
            kept = name
        }
        state.record("repair", version: state.installed?.version,
                     "state.json rebuilt (\(source.map { "version from \($0)" } ?? "nothing installed"); "
                     + "staging id \(old.stagingID == nil ? "new" : "kept"))", at: now)
        try saveState(state)
        FileOperations.fsyncPath(stateDirectory)
        return RepairResult(status: "repaired", problem: problem, installed: state.installed?.version, versionSource: source,
                            stagingID: state.stagingID, stagingIDRecovered: old.stagingID != nil,
                            failedVersions: state.failedVersions, historyRecovered: old.history.count, keptAs: kept,
                            warnings: warnings)
    }

    /// The version of the hashed installed `files`, and where it was found.
    private func identify(_ files: [AgentFile], given: String?, previous: InstalledVersion?, state: AgentState,
                          warnings: inout [String]) async throws(AgentError) -> (installed: InstalledVersion, source: String) {
        let at = AgentClock.format(Date())
        if let given {
            return (InstalledVersion(version: given, channel: config.channel, files: files, installedAt: at), "option")
        }
        if var previous, Self.sameContent(files, previous.files, kind: config.kind) {
            previous.files = files
            return (previous, "previous-state")
        }
        for backup in backups.list() where Self.sameContent(files, backup.installed.files, kind: config.kind) {
            var installed = backup.installed
            installed.files = files
            return (installed, "backup")
        }
        var tried = ["the backups"]
        do {
            let info = try await fetchChannel(state: state).info
            let offered = try self.files(of: info, installedName: files.first?.name).map {
                AgentFile(name: UpdateFileChoice.name(of: $0.url), sha512: $0.sha512, size: $0.size ?? -1)
            }
            if Self.sameContent(files, offered, kind: config.kind) {
                return (InstalledVersion(version: info.version, channel: config.channel, files: files, installedAt: at), "feed")
            }
            tried.append("\(info.version) in the feed's \(config.channel) channel")
        } catch {
            warnings.append("the feed could not be asked: \(error.message)")
            tried.append("the feed (\(error.message))")
        }
        throw AgentError(.missingInput, "cannot tell which version is at \(config.installPath): its SHA-512 matches none of "
                         + "\(tried.joined(separator: ", ")); give it with --installed-version VERSION (nothing was changed)")
    }
}

/// What can still be read from a broken `state.json`, field by field.
struct StateSalvage {
    var stagingID: String?
    var installed: InstalledVersion?
    var failedVersions: [String] = []
    var history: [AgentEvent] = []

    init(path: String) {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        if let id = object["staging_id"] as? String, StagingRule.position(uuid: id) != nil {
            stagingID = id.lowercased()
        }
        installed = Self.decode(InstalledVersion.self, object["installed"])
        failedVersions = ((object["failed_versions"] as? [Any]) ?? []).compactMap { $0 as? String }.filter { SemanticVersion($0) != nil }
        history = ((object["history"] as? [Any]) ?? []).compactMap { Self.decode(AgentEvent.self, $0) }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ value: Any?) -> T? {
        guard let value, JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value) else { return nil }
        return try? JSONDecoder().decode(type, from: data)
    }
}
