import BlockyardCore
import BlockyardHTTP
import BlockyardRelease
import Foundation

/// What a check found.
public struct CheckResult: Encodable, Sendable {
    public var available: AvailableUpdate
    public var installed: String?
    public var channelFile: String
    public var warnings: [String]
    public var updateAvailable: Bool { available.isOffered }

    enum CodingKeys: String, CodingKey {
        case available, installed, warnings
        case channelFile = "channel_file"
        case updateAvailable = "update_available"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(available, forKey: .available)
        try c.encode(installed, forKey: .installed)
        try c.encode(channelFile, forKey: .channelFile)
        try c.encode(warnings, forKey: .warnings)
        try c.encode(updateAvailable, forKey: .updateAvailable)
    }
}

/// Release notes between the installed and the available version.
public struct Changelog: Encodable, Sendable {
    public struct Entry: Encodable, Sendable {
        public var version: String
        public var name: String?
        public var date: String?
        public var notes: String
    }

    public var installed: String?
    public var available: String
    /// Where the notes came from: `releases-api` (the server's GitHub-style API, every
    /// version) or `channel-file` (the channel file's releaseNotes).
    public var source: String
    /// Newest first.
    public var entries: [Entry]
}

extension Agent {
    /// Options for the update client, from the configuration.
    func clientOptions(installed: String, out: String, state: AgentState) throws(AgentError) -> UpdateOptions {
        var options = UpdateOptions(feed: config.feed, installed: installed, out: out)
        options.channel = config.channel
        options.target = config.target
        options.stagingID = state.stagingID
        options.installedVersion = state.installed?.version
        options.file = config.kind == .file ? config.file : nil
        if let key = config.publicKey {
            do {
                options.publicKey = try MetadataPublicKey(fileOrBase64: key)
            } catch {
                throw AgentError(.usage, "config: public_key: \(error.message)")
            }
            options.statePath = verifierStatePath
        }
        // A background agent retries on its next check: fail within seconds when the feed is down.
        options.retry = RetryPolicy(retries: 2, initialDelay: 0.25, maximumDelay: 2)
        options.connectTimeout = 3
        return options
    }

    static func agentError(_ error: UpdateError) -> AgentError {
        AgentError(error.kind, error.message)
    }

    /// The files of a channel file as the agent installs them: for a file, the one artifact
    /// for this platform; for a bundle, every file (names must be plain file names).
    func files(of info: UpdateInfo, installedName: String?) throws(AgentError) -> [UpdateFileInfo] {
        switch config.kind {
        case .file:
            do {
                return [try UpdateFileChoice.choose(info.effectiveFiles, target: config.target, installedName: installedName,
                                                    explicit: config.file)]
            } catch {
                throw Self.agentError(error)
            }
        case .bundle:
            let files = info.effectiveFiles
            guard !files.isEmpty else { throw AgentError(.invalidData, "the channel file of \(info.version) lists no files") }
            var seen = Set<String>()
            for file in files {
                let name = UpdateFileChoice.name(of: file.url)
                guard !name.isEmpty, name != ".", name != "..", !name.hasPrefix("."), !name.contains("/"), !name.contains("\\") else {
                    throw AgentError(.invalidData, "\(info.version): \(file.url.debugDescription) is not a usable bundle file name")
                }
                guard seen.insert(name).inserted else {
                    throw AgentError(.invalidData, "\(info.version): two files are named \(name)")
                }
                guard file.size != nil else { throw AgentError(.invalidData, "\(info.version): \(name) has no size") }
            }
            return files
        }
    }

    /// Fetches the channel file and decides (``UpdateDecision``); records the result as
    /// `available` and `last_check`.
    public func check(now: Date = Date()) async throws(AgentError) -> CheckResult {
        try await locked("check") { (state: inout AgentState) async throws(AgentError) -> CheckResult in
            try await self.check(&state, now: now)
        }
    }

    func check(_ state: inout AgentState, now: Date = Date()) async throws(AgentError) -> CheckResult {
        let fetch = try await fetchChannel(state: state)
        let info = fetch.info
        let decision = UpdateDecision.decide(offered: info.version, stagingPercentage: info.stagingPercentage,
                                             installed: state.installed, channel: config.channel,
                                             stagingID: state.stagingID, skipVersions: config.skipVersions,
                                             allowDowngrade: config.allowDowngrade)
        var files: [AgentFile] = []
        if decision.outcome != .invalidVersion {
            for file in try self.files(of: info, installedName: state.installed?.files.first?.name) {
                files.append(AgentFile(name: UpdateFileChoice.name(of: file.url), sha512: file.sha512, size: file.size ?? -1))
            }
        }
        let available = AvailableUpdate(version: info.version, channel: config.channel, releaseDate: info.releaseDate,
                                        releaseName: info.releaseName, releaseNotes: Self.notesText(info.releaseNotes, version: info.version),
                                        stagingPercentage: info.stagingPercentage, files: files,
                                        decision: decision.outcome.rawValue, reason: decision.reason,
                                        checkedAt: AgentClock.format(now))
        state.available = available
        if state.history.last?.action != "check" || state.history.last?.version != info.version
            || state.history.last?.detail != decision.outcome.rawValue {
            state.record("check", version: info.version, decision.outcome.rawValue)
        }
        config.lastCheck = AgentClock.format(now)
        try saveConfig()
        return CheckResult(available: available, installed: state.installed?.version,
                           channelFile: fetch.url.absoluteString, warnings: fetch.warnings)
    }

    /// The channel file, fetched (and verified with the configured public key).
    func fetchChannel(state: AgentState) async throws(AgentError) -> UpdateClient.ChannelFetch {
        let options = try clientOptions(installed: config.installPath, out: config.installPath, state: state)
        do {
            return try await UpdateClient(options: options).checkChannel()
        } catch {
            throw Self.agentError(error)
        }
    }

    static func notesText(_ notes: ReleaseNotes?, version: String) -> String? {
        switch notes {
        case .text(let text)?: return text
        case .perVersion(let list)?:
            return list.first { $0.version == version }?.note ?? list.compactMap(\.note).first
        case nil: return nil
        }
    }

    /// Release notes of the versions after the installed one up to the available one:
    /// from the server's releases API (`FEED/api/releases`, as `blockyard serve` offers it)
    /// when there is one, else from the channel file.
    public func changelog() async throws(AgentError) -> Changelog {
        let state = try loadState()
        let fetch = try await fetchChannel(state: state)
        let info = fetch.info
        let installed = state.installed.flatMap { SemanticVersion($0.version) }
        let available = SemanticVersion(info.version)
        func inRange(_ text: String) -> Bool {
            guard let v = SemanticVersion(text.hasPrefix("v") ? String(text.dropFirst()) : text), let available else { return false }
            if let installed, v <= installed { return false }
            return v <= available
        }
        if let entries = await releasesAPI(options: try clientOptions(installed: "", out: "", state: state)), !entries.isEmpty {
            let selected = entries.filter { inRange($0.version) }
            return Changelog(installed: state.installed?.version, available: info.version, source: "releases-api",
                             entries: selected)
        }
        var entries: [Changelog.Entry] = []
        switch info.releaseNotes {
        case .text(let text)?:
            entries = [Changelog.Entry(version: info.version, name: info.releaseName, date: info.releaseDate, notes: text)]
        case .perVersion(let list)?:
            entries = list.filter { inRange($0.version) }
                .sorted { (SemanticVersion($0.version) ?? available!) > (SemanticVersion($1.version) ?? available!) }
                .map { Changelog.Entry(version: $0.version, name: nil, date: $0.version == info.version ? info.releaseDate : nil,
                                       notes: $0.note ?? "") }
        case nil:
            if inRange(info.version) {
                entries = [Changelog.Entry(version: info.version, name: info.releaseName, date: info.releaseDate, notes: "")]
            }
        }
        return Changelog(installed: state.installed?.version, available: info.version, source: "channel-file", entries: entries)
    }

    /// `FEED/api/releases` parsed as GitHub's releases list; nil when the server has none.
    private func releasesAPI(options: UpdateOptions) async -> [Changelog.Entry]? {
        guard let feed = try? UpdateFeed(options.feed) else { return nil }
        let url = feed.fileURL("api/releases")
        let session = HTTPSession(headers: options.headers, connections: 1, retry: RetryPolicy(retries: 1),
                                  connectTimeout: options.connectTimeout, readTimeout: options.readTimeout)
        let bytes = try? await session.fetch(url, what: "releases API", limit: 16 << 20, missingIsNil: true)
        await session.shutdown()
        guard let bytes = bytes ?? nil,
              let list = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]] else { return nil }
        var entries: [Changelog.Entry] = []
        for release in list {
            guard let tag = release["tag_name"] as? String else { continue }
            if release["draft"] as? Bool == true { continue }
            let version = tag.hasPrefix("v") ? String(tag.dropFirst()) : tag
            entries.append(Changelog.Entry(version: version, name: release["name"] as? String,
                                           date: release["published_at"] as? String, notes: release["body"] as? String ?? ""))
        }
        return entries.sorted { a, b in
            switch (SemanticVersion(a.version), SemanticVersion(b.version)) {
            case let (x?, y?): return x > y
            case (_?, nil): return true
            default: return false
            }
        }
    }
}
