import BlockyardCore
import BlockyardIO
import BlockyardRelease
import Foundation

/// The updater agent: keeps one installed file or bundle directory current from a feed, with
/// verified downloads, backups, atomic installs and rollback. All of its knowledge lives in
/// the state directory, so every command (and `agent serve`) is a fresh reader of it:
///
/// ```
/// STATE/config.json     what to update and how (``AgentConfig``)
/// STATE/state.json      installed / available / downloaded versions, journal, history (``AgentState``)
/// STATE/progress.json   the running download's progress
/// STATE/lock            held by the operation that changes state (flock)
/// STATE/downloads/V/    a downloaded version's files (and partial downloads, resumable)
/// STATE/backups/N-V/    backups: backup.json + payload (file or directory)
/// ```
///
/// Every state change is written atomically; installs and rollbacks are journaled
/// (``PendingOperation``) so that a crash at any point leaves the old or the new version
/// installed, complete, and the next operation finishes or undoes the interrupted one.
public final class Agent: @unchecked Sendable {
    public let stateDirectory: String
    public internal(set) var config: AgentConfig

    var configPath: String { stateDirectory + "/config.json" }
    var statePath: String { stateDirectory + "/state.json" }
    var progressPath: String { stateDirectory + "/progress.json" }
    var lockPath: String { stateDirectory + "/lock" }
    var downloadsDirectory: String { stateDirectory + "/downloads" }
    var verifierStatePath: String { stateDirectory + "/metadata-state.json" }
    var backups: BackupShelf { BackupShelf(directory: stateDirectory + "/backups") }

    /// Opens an initialised state directory (its `config.json` must exist and be valid).
    public init(stateDirectory: String) throws(AgentError) {
        let stateDirectory = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        self.stateDirectory = stateDirectory
        config = try Self.readConfig(stateDirectory: stateDirectory)
    }

    static func readConfig(stateDirectory: String) throws(AgentError) -> AgentConfig {
        let path = stateDirectory + "/config.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw AgentError(.missingInput, "\(path) does not exist: run `blockyard agent init --state \(stateDirectory) --feed URL --install-path PATH` first")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentError(.io, "\(path): cannot read it")
        }
        return try AgentConfig.decode(Array(data), path: path)
    }

    /// Reads `config.json` again: another process may have changed it since this agent was
    /// opened (called with the lock held, so that a change is never based on a stale copy).
    func reloadConfig() throws(AgentError) {
        config = try Self.readConfig(stateDirectory: stateDirectory)
    }

    /// Creates a state directory: `config.json`, and `state.json` with a new staging id and the
    /// installed version, if one is given (its files are hashed and recorded).
    @discardableResult
    public static func initialize(stateDirectory: String, config: AgentConfig, installedVersion: String?,
                                  channel: String? = nil, stagingID: String? = nil, now: Date = Date()) throws(AgentError) -> Agent {
        let configPath = stateDirectory + "/config.json"
        if FileManager.default.fileExists(atPath: configPath) {
            throw AgentError(.cannotCreate, "\(configPath) already exists: use `agent configure` to change it")
        }
        try InstallLocation.check(config.installPath, kind: config.kind, stateDirectory: stateDirectory)
        var state = AgentState()
        if let stagingID {
            guard StagingRule.position(uuid: stagingID) != nil else {
                throw AgentError(.usage, "--staging-id \(stagingID.debugDescription) is not a UUID")
            }
            state.stagingID = stagingID.lowercased()
        }
        let exists = FileOperations.exists(config.installPath)
        if let installedVersion {
            guard SemanticVersion(installedVersion) != nil else {
                throw AgentError(.usage, "--installed-version \(installedVersion.debugDescription) is not a semantic version")
            }
            guard exists else {
                throw AgentError(.missingInput, "\(config.installPath) does not exist, so version \(installedVersion) cannot be installed there")
            }
            let files = try installedFiles(at: config.installPath, kind: config.kind)
            state.installed = InstalledVersion(version: installedVersion, channel: channel ?? config.channel, files: files,
                                               installedAt: AgentClock.format(now))
            state.record("adopt", version: installedVersion, "\(config.installPath) recorded as installed")
        } else if exists {
            throw AgentError(.usage, "\(config.installPath) exists: give its version with --installed-version (or remove it to install from the feed)")
        }
        // Everything is checked: only now is anything created.
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.cannotCreate, "\(stateDirectory): cannot create the state directory")
        }
        let encoder = AgentState.encoder
        try FileOperations.writeAtomically(Array((try? encoder.encode(state)) ?? Data()), to: stateDirectory + "/state.json")
        try FileOperations.writeAtomically(config.encoded(), to: configPath)
        return try Agent(stateDirectory: stateDirectory)
    }

    /// The files of an installed file or bundle directory, hashed.
    static func installedFiles(at path: String, kind: AgentConfig.Kind) throws(AgentError) -> [AgentFile] {
        switch kind {
        case .file:
            guard FileOperations.isRegularFile(path) else {
                throw AgentError(.usage, "\(path) is not a regular file (kind is file)")
            }
            let digests = try hash(path)
            return [AgentFile(name: FileOperations.name(path), sha512: digests.sha512.base64, size: digests.size)]
        case .bundle:
            guard FileOperations.isDirectory(path) else {
                throw AgentError(.usage, "\(path) is not a directory (kind is bundle)")
            }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            var files: [AgentFile] = []
            for name in names where FileOperations.isRegularFile(path + "/" + name) {
                let digests = try hash(path + "/" + name)
                files.append(AgentFile(name: name, sha512: digests.sha512.base64, size: digests.size))
            }
            return files
        }
    }

    static func hash(_ path: String) throws(AgentError) -> FileDigests {
        do {
            return try FileHasher.hash(path: path)
        } catch {
            throw AgentError(error.kind == .notFound ? .missingInput : .io, error.description)
        }
    }

    // MARK: - State

    /// Reads `state.json`. A missing, unreadable or newer-format file is refused (never taken
    /// for a fresh install): `agent repair` rebuilds it from what is installed.
    func loadState() throws(AgentError) -> AgentState {
        guard let data = FileManager.default.contents(atPath: statePath) else {
            if !FileManager.default.fileExists(atPath: statePath) {
                throw AgentError(.invalidData, "\(statePath) is missing, so what is installed at \(config.installPath), the staging id "
                                 + "and the history are unknown: run `blockyard agent repair --state \(stateDirectory)` to rebuild it "
                                 + "from what is installed")
            }
            throw AgentError(.io, "\(statePath): cannot read it")
        }
        return try AgentState.decode(Array(data), path: statePath, repair: "blockyard agent repair --state \(stateDirectory)")
    }

    func saveState(_ state: AgentState) throws(AgentError) {
        let data: Data
        do {
            data = try AgentState.encoder.encode(state)
        } catch {
            throw AgentError(.io, "cannot encode the state: \(error)")
        }
        try FileOperations.writeAtomically(Array(data), to: statePath)
    }

    func saveConfig() throws(AgentError) {
        try FileOperations.writeAtomically(config.encoded(), to: configPath)
    }

    /// Runs a state-changing operation under the lock, after finishing any interrupted
    /// install or rollback. A failure is recorded as `last_error`; success clears it.
    func locked<T>(_ operation: String, _ body: (inout AgentState) async throws(AgentError) -> T) async throws(AgentError) -> T {
        let lock = try AgentLock(path: lockPath, operation: operation)
        defer { withExtendedLifetime(lock) {} }
        var state = try lockedState()
        do {
            let result = try await body(&state)
            try record(&state, operation, failure: nil)
            return result
        } catch {
            try? record(&state, operation, failure: error)
            throw error
        }
    }

    /// Synchronous variant of ``locked(_:_:)``; `wait`: seconds to wait for another operation
    /// to finish (for quick settings changes).
    func lockedSync<T>(_ operation: String, wait: Double = 0, _ body: (inout AgentState) throws(AgentError) -> T) throws(AgentError) -> T {
        let lock = try AgentLock(path: lockPath, operation: operation, wait: wait)
        defer { withExtendedLifetime(lock) {} }
        var state = try lockedState()
        do {
            let result = try body(&state)
            try record(&state, operation, failure: nil)
            return result
        } catch {
            try? record(&state, operation, failure: error)
            throw error
        }
    }

    /// The state, with an interrupted operation finished (the lock is held).
    private func lockedState() throws(AgentError) -> AgentState {
        try reloadConfig()
        var state = try loadState()
        try recover(&state)
        return state
    }

    /// Saves the state after an operation, with its failure as `last_error` (or none).
    private func record(_ state: inout AgentState, _ operation: String, failure: AgentError?) throws(AgentError) {
        state.lastError = failure.map { AgentFailure(operation: operation, message: $0.message, at: AgentClock.format(Date())) }
        try saveState(state)
    }

    // MARK: - Status, skip, configure

    /// How long `skip` and `configure` wait for another operation to finish before failing
    /// with exit 75 / 409 (two settings changes at once both succeed).
    static let settingsWait = 2.0

    /// Everything the agent knows, without changing anything (an interrupted operation is
    /// finished first if no other process is working on the state).
    public func status() throws(AgentError) -> AgentStatus {
        var state = try loadState()
        if state.pending != nil, let lock = try? AgentLock(path: lockPath, operation: "recover") {
            try recover(&state)
            try saveState(state)
            withExtendedLifetime(lock) {}
        }
        let progress = readProgress()
        let busy = AgentLock.isHeld(path: lockPath)
        var download = progress
        if let p = progress, !busy || kill(p.pid, 0) != 0 { download?.phase = "interrupted" }
        let partial = state.downloaded == nil && FileManager.default.fileExists(atPath: downloadsDirectory)
            && !((try? FileManager.default.contentsOfDirectory(atPath: downloadsDirectory)) ?? []).isEmpty
        return AgentStatus(config: config, state: state, progress: download, busy: busy,
                           backups: backups.list().map { AgentStatus.BackupInfo(version: $0.version, createdAt: $0.createdAt, path: $0.path) },
                           partialDownload: partial)
    }

    /// Adds `version` to `skip_versions` (a check then never offers it).
    public func skip(_ version: String) throws(AgentError) -> AgentConfig {
        guard SemanticVersion(version) != nil else {
            throw AgentError(.usage, "skip: \(version.debugDescription) is not a semantic version")
        }
        return try lockedSync("skip", wait: Self.settingsWait) { (state: inout AgentState) throws(AgentError) -> AgentConfig in
            if !config.skipVersions.contains(version) { config.skipVersions.append(version) }
            try saveConfig()
            if let available = state.available, SemanticVersion(available.version) == SemanticVersion(version), available.isOffered {
                state.available?.decision = UpdateDecision.Outcome.skipped.rawValue
                state.available?.reason = "\(version) is in skip_versions"
            }
            state.record("skip", version: version, "added to skip_versions")
            return config
        }
    }

    /// Applies `KEY=VALUE` assignments (all or none) and saves `config.json`: `agent configure`
    /// on this machine, which may change every key. A new `install_path` or `kind` is checked
    /// as `agent init` checks it (``InstallLocation``); while a version is installed, a new
    /// `install_path` must hold that version (the installed file or bundle was moved there).
    public func configure(_ assignments: [String]) throws(AgentError) -> AgentConfig {
        try applyConfiguration { (updated: inout AgentConfig) throws(AgentError) in
            for assignment in assignments { try updated.configure(assignment) }
        }
    }

    /// Sets keys from a JSON object: the REST API's `configure`, which may change only
    /// ``AgentConfig/remoteKeys``; a body naming any other known key is refused as a whole.
    public func configure(json: [String: Any]) throws(AgentError) -> AgentConfig {
        let refused = AgentConfig.refusedRemotely(json.keys)
        guard refused.isEmpty else { throw AgentError(.usage, AgentConfig.remoteRefusal(refused)) }
        return try applyConfiguration { (updated: inout AgentConfig) throws(AgentError) in
            for key in json.keys.sorted() { try updated.set(key, to: json[key]!) }
        }
    }

    private func applyConfiguration(_ change: (inout AgentConfig) throws(AgentError) -> Void) throws(AgentError) -> AgentConfig {
        try lockedSync("configure", wait: Self.settingsWait) { (state: inout AgentState) throws(AgentError) -> AgentConfig in
            var updated = config
            try change(&updated)
            if updated.kind != config.kind && state.installed != nil {
                throw AgentError(.usage, "configure: kind cannot change while a version is installed")
            }
            if updated.installPath != config.installPath || updated.kind != config.kind {
                try InstallLocation.check(updated.installPath, kind: updated.kind, stateDirectory: stateDirectory)
            }
            if updated.installPath != config.installPath {
                try relocate(&state, from: config.installPath, to: updated.installPath, kind: updated.kind)
            }
            let changed = AgentConfig.keys.filter { AgentJSON.encode(updated.value(of: $0)) != AgentJSON.encode(config.value(of: $0)) }
            config = updated
            try saveConfig()
            if changed.contains("update_channel") || changed.contains("platform") || changed.contains("file") {
                state.available = nil // decided for another channel or file
            }
            if !changed.isEmpty { state.record("configure", version: nil, changed.joined(separator: ", ")) }
            return config
        }
    }

    /// Checks a new install path against what is installed: it must hold the installed version
    /// (moved there), or, with nothing installed, not exist (as `agent init` without
    /// `--installed-version`).
    private func relocate(_ state: inout AgentState, from old: String, to new: String, kind: AgentConfig.Kind) throws(AgentError) {
        guard let installed = state.installed else {
            if FileOperations.exists(new) {
                throw InstallLocation.refused("\(new) exists, but no version is installed: remove it to install there from the feed "
                                              + "(an existing file or bundle is adopted by `agent init --installed-version`)")
            }
            return
        }
        guard FileOperations.exists(new) else {
            throw InstallLocation.refused("\(new) does not exist, but \(installed.version) is installed at \(old): move it there first")
        }
        let files = try Self.installedFiles(at: new, kind: kind)
        guard Self.sameContent(files, installed.files, kind: kind) else {
            throw InstallLocation.refused("\(new) does not hold the installed version \(installed.version) (its SHA-512 differs from "
                                          + "what was installed at \(old))")
        }
        state.installed?.files = files
    }

    /// Whether hashed files are the recorded ones: for a file, the same content (the name may
    /// differ); for a bundle, the same names and contents.
    static func sameContent(_ files: [AgentFile], _ recorded: [AgentFile], kind: AgentConfig.Kind) -> Bool {
        switch kind {
        case .file:
            return files.count == 1 && recorded.count == 1 && files[0].sha512 == recorded[0].sha512 && files[0].size == recorded[0].size
        case .bundle:
            return files.sorted { $0.name < $1.name } == recorded.sorted { $0.name < $1.name }
        }
    }

    // MARK: - Progress

    func readProgress() -> DownloadProgress? {
        guard let data = FileManager.default.contents(atPath: progressPath) else { return nil }
        return try? JSONDecoder().decode(DownloadProgress.self, from: data)
    }
}

extension AgentState {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
