import BlockyardRelease
import Foundation

/// One file of an installed, downloaded or backed-up version: its name (the artifact's file
/// name; for a bundle, its name inside the bundle directory), SHA-512 (base64) and size.
public struct AgentFile: Codable, Equatable, Sendable {
    public var name: String
    public var sha512: String
    public var size: Int

    public init(name: String, sha512: String, size: Int) {
        self.name = name
        self.sha512 = sha512
        self.size = size
    }
}

/// The installed version.
public struct InstalledVersion: Codable, Equatable, Sendable {
    public var version: String
    /// The electron-builder channel it came from (a later channel change allows a downgrade).
    public var channel: String?
    public var files: [AgentFile]
    public var installedAt: String

    enum CodingKeys: String, CodingKey {
        case version, channel, files
        case installedAt = "installed_at"
    }
}

/// What the last check found.
public struct AvailableUpdate: Codable, Equatable, Sendable {
    public var version: String
    public var channel: String
    public var releaseDate: String?
    public var releaseName: String?
    public var releaseNotes: String?
    public var stagingPercentage: Int?
    public var files: [AgentFile]
    /// `update-available`, `up-to-date`, `skipped`, `not-in-rollout`, `downgrade-refused`,
    /// `failed-before` (see ``UpdateDecision``).
    public var decision: String
    public var reason: String
    public var checkedAt: String

    /// Whether the version is offered for download and install.
    public var isOffered: Bool { decision == UpdateDecision.Outcome.updateAvailable.rawValue }

    enum CodingKeys: String, CodingKey {
        case version, channel, files, decision, reason
        case releaseDate = "release_date"
        case releaseName = "release_name"
        case releaseNotes = "release_notes"
        case stagingPercentage = "staging_percentage"
        case checkedAt = "checked_at"
    }
}

/// A version downloaded and verified, waiting to be installed (`downloads/VERSION/`).
public struct DownloadedUpdate: Codable, Equatable, Sendable {
    public var version: String
    public var channel: String
    public var files: [AgentFile]
    public var downloadedAt: String
    /// Bytes that came over the network (bodies) and bytes reused from installed files.
    public var bytesFetched: Int
    public var bytesReused: Int
    public var method: String

    enum CodingKeys: String, CodingKey {
        case version, channel, files, method
        case downloadedAt = "downloaded_at"
        case bytesFetched = "bytes_fetched"
        case bytesReused = "bytes_reused"
    }
}

/// An install or rollback in progress: written before anything at the install path changes,
/// removed once the result is recorded. After a crash, ``Agent`` finishes or undoes it by
/// looking at which inode is at the install path (see docs/AGENT.md).
public struct PendingOperation: Codable, Equatable, Sendable {
    /// `install` or `rollback`.
    public var operation: String
    public var fromVersion: String?
    public var toVersion: String
    /// What becomes the installed version when the swap happened.
    public var target: InstalledVersion
    /// The new file or directory, staged beside the install path.
    public var stagedPath: String
    /// Its inode: the install path has it once the swap happened.
    public var stagedInode: UInt64?
    /// The backup this operation created (install) or restores (rollback).
    public var backup: String?
    public var startedAt: String

    enum CodingKeys: String, CodingKey {
        case operation, target, backup
        case fromVersion = "from_version"
        case toVersion = "to_version"
        case stagedPath = "staged_path"
        case stagedInode = "staged_inode"
        case startedAt = "started_at"
    }
}

/// The last failure, as status shows it.
public struct AgentFailure: Codable, Equatable, Sendable {
    public var operation: String
    public var message: String
    public var at: String
}

/// One line of the history.
public struct AgentEvent: Codable, Equatable, Sendable {
    public var at: String
    public var action: String
    public var version: String?
    public var detail: String
}

/// `state.json`: everything the agent knows besides its configuration.
public struct AgentState: Codable, Equatable, Sendable {
    /// The format version this agent writes and reads; a newer one is refused.
    public static let currentFormat = 1

    public var format = Self.currentFormat
    /// The per-install staging id (a UUID), created once; decides staged rollouts.
    public var stagingID: String
    public var installed: InstalledVersion?
    public var available: AvailableUpdate?
    public var downloaded: DownloadedUpdate?
    public var pending: PendingOperation?
    public var lastError: AgentFailure?
    /// Versions whose health check failed after install: never installed automatically again.
    public var failedVersions: [String] = []
    public var history: [AgentEvent] = []

    public init(stagingID: String = UUID().uuidString.lowercased()) {
        self.stagingID = stagingID
    }

    enum CodingKeys: String, CodingKey {
        case format, installed, available, downloaded, pending, history
        case stagingID = "staging_id"
        case lastError = "last_error"
        case failedVersions = "failed_versions"
    }

    /// Parses `state.json` at `path`: a file without a format version, with an unknown or newer
    /// one, or that does not decode is refused, naming `repair` (the command that rebuilds it).
    static func decode(_ bytes: [UInt8], path: String, repair: String) throws(AgentError) -> AgentState {
        let object = try? JSONSerialization.jsonObject(with: Data(bytes))
        guard let dictionary = object as? [String: Any] else {
            throw AgentError(.invalidData, "\(path): not a valid agent state (not a JSON object): run `\(repair)` to rebuild it from what is installed")
        }
        guard let number = dictionary["format"] as? NSNumber, !AgentJSON.isBool(number), let found = Int(exactly: number.doubleValue) else {
            throw AgentError(.invalidData, "\(path): not a valid agent state (it has no format version): run `\(repair)` to rebuild it from what is installed")
        }
        if found > currentFormat {
            throw AgentError(.invalidData, "the agent state \(path) has format version \(found), but this blockyard reads only up to "
                             + "version \(currentFormat); upgrade blockyard, or run `\(repair)` to rebuild it from what is installed "
                             + "(the newer file is kept beside it)")
        }
        guard found == currentFormat else {
            throw AgentError(.invalidData, "\(path): unknown format version \(found): run `\(repair)` to rebuild it from what is installed")
        }
        do {
            return try JSONDecoder().decode(AgentState.self, from: Data(bytes))
        } catch {
            throw AgentError(.invalidData, "\(path): not a valid agent state (\(error)): run `\(repair)` to rebuild it from what is installed")
        }
    }

    /// The most events kept in ``history``.
    static let historyLimit = 100

    mutating func record(_ action: String, version: String?, _ detail: String, at now: Date = Date()) {
        history.append(AgentEvent(at: AgentClock.format(now), action: action, version: version, detail: detail))
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }
}

/// Download progress, written by the process downloading (`progress.json`) so that `agent
/// status` in any process, and the REST API, can show it.
public struct DownloadProgress: Codable, Equatable, Sendable {
    public var version: String
    public var phase: String
    public var file: String
    public var bytesDone: Int
    public var bytesTotal: Int
    public var filesDone: Int
    public var filesTotal: Int
    public var pid: Int32
    public var startedAt: String
    public var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case version, phase, file, pid
        case bytesDone = "bytes_done"
        case bytesTotal = "bytes_total"
        case filesDone = "files_done"
        case filesTotal = "files_total"
        case startedAt = "started_at"
        case updatedAt = "updated_at"
    }
}

/// Timestamps as the agent writes them (JavaScript's `toISOString()`).
enum AgentClock {
    static func format(_ date: Date) -> String { ReleaseTimestamp.format(date) }

    static func date(_ text: String) -> Date? {
        ReleaseTimestamp.milliseconds(text).map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }
}
