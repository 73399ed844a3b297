import Foundation

public struct ChannelEditResult: Sendable, Encodable {
    public var channel: String
    public var channelFiles: [ChannelFileChange]
    public var warnings: [String]
}

/// `release promote` and `release stage`: change what a channel offers without touching any
/// artifact.
public enum ChannelEditor {
    /// Points `channel` at `version` (forwards, or back for a rollback): every channel file of
    /// that channel for which the version has artifacts is regenerated from the version's
    /// `release.json`, with a new `releaseDate` (the issue time; a verifying client accepts a
    /// lower version only when it was issued after the metadata it last accepted) and the
    /// given staging percentage (none: everyone).
    public static func promote(root: String, version: String, channel: String, stagingPercentage: Int? = nil,
                               signingKey: MetadataSigningKey? = nil, now: Date = Date()) throws(ReleaseError) -> ChannelEditResult {
        try ReleaseChannel.validate(channel)
        try StagingPercentage.validate(stagingPercentage)
        guard let parsed = SemanticVersion(version) else {
            throw ReleaseError(.usage, "version '\(version)' is not a semantic version")
        }
        let versionString = parsed.description
        guard let manifest = try ReleaseManifest.load(root: root, version: versionString) else {
            let known = ReleaseLayout.versions(root: root)
            throw ReleaseError(.missingInput, "\((root as NSString).appendingPathComponent(ReleaseLayout.manifestPath(version: versionString))) does not exist: \(versionString) was not released here\(known.isEmpty ? "" : " (versions: \(known.joined(separator: ", ")))")")
        }
        let store = ChannelFileStore(root: root)
        let names = manifest.channelFileSuffixes.map { "\(channel)\($0).yml" }
        try store.checkSignable(names, key: signingKey)
        var previous: [String: ChannelDocument] = [:]
        for name in names { previous[name] = try store.existing(name) }

        let issued = ReleaseTimestamp.format(now)
        var changes: [ChannelFileChange] = []
        for (suffix, name) in zip(manifest.channelFileSuffixes, names) {
            guard let info = manifest.updateInfo(suffix: suffix, releaseDate: issued, stagingPercentage: stagingPercentage) else { continue }
            try store.write(name, text: ChannelFileYAML.encode(info), key: signingKey)
            let fallback = try store.updateStagedFallback(name, offering: info, key: signingKey)
            changes.append(ChannelFileChange(file: name, channel: channel, version: versionString,
                                             previousVersion: previous[name]?.info.version,
                                             stagingPercentage: stagingPercentage,
                                             previousStagingPercentage: previous[name]?.info.stagingPercentage,
                                             signed: signingKey != nil, fallbackVersion: fallback))
        }
        var warnings: [String] = []
        for other in store.names(channel: channel) where !names.contains(other) {
            let current = (try? store.existing(other))??.info.version ?? "?"
            warnings.append("\(other) left at \(current): \(versionString) has no artifacts for it")
        }
        return ChannelEditResult(channel: channel, channelFiles: changes, warnings: warnings)
    }

    /// Sets the rollout percentage of every channel file of `channel`, keeping everything else
    /// in them (including `releaseDate`) as it is. 100 removes `stagingPercentage`: absent
    /// means everyone, while electron-updater's `100` still leaves out the one user id in
    /// 2³² whose last 32 bits are all ones.
    public static func stage(root: String, channel: String, percent: Int,
                             signingKey: MetadataSigningKey? = nil) throws(ReleaseError) -> ChannelEditResult {
        try ReleaseChannel.validate(channel)
        try StagingPercentage.validate(percent)
        let store = ChannelFileStore(root: root)
        let names = store.names(channel: channel)
        guard !names.isEmpty else {
            throw ReleaseError(.missingInput, "\(root) has no channel files for channel \(channel) (\(channel).yml, \(channel)-mac.yml, \(channel)-linux*.yml)")
        }
        try store.checkSignable(names, key: signingKey)
        var documents: [(String, ChannelDocument)] = []
        for name in names {
            if let document = try store.existing(name) { documents.append((name, document)) }
        }
        let value: Int? = percent == 100 ? nil : percent
        var changes: [ChannelFileChange] = []
        var warnings: [String] = []
        for (name, document) in documents {
            warnings += document.warnings.map { "\(name): \($0)" }
            try store.write(name, text: document.settingStagingPercentage(value), key: signingKey)
            var staged = document.info
            staged.stagingPercentage = value
            let fallback = try store.updateStagedFallback(name, offering: staged, key: signingKey)
            changes.append(ChannelFileChange(file: name, channel: channel, version: document.info.version,
                                             previousVersion: document.info.version, stagingPercentage: value,
                                             previousStagingPercentage: document.info.stagingPercentage,
                                             signed: signingKey != nil, fallbackVersion: fallback))
        }
        return ChannelEditResult(channel: channel, channelFiles: changes, warnings: warnings)
    }
}
