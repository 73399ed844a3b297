import Foundation

/// What users outside a staged rollout get instead of the channel file: the channel file of
/// the previous release of that channel, offered to everyone.
///
/// `blockyard serve --staged-rollout` builds it from the release manifests when it answers.
/// A signed channel file needs a fallback that is signed too, and only the publisher holds the
/// key, so `release create`, `release promote` and `release stage` write it beside every
/// signed channel file that has a `stagingPercentage`: `{name}.previous` with
/// `{name}.previous.sig`, signed under the channel file's own name (a client that asked for
/// `latest.yml` verifies what it got as `latest.yml`). They remove both when the channel file
/// is no longer staged or signed, or when there is no earlier release.
public enum StagedFallback {
    /// `{channel file}.previous`, beside the channel file.
    public static let suffix = ".previous"

    public static func fileName(forChannelFile name: String) -> String { name + suffix }

    /// The release a user outside the rollout gets for channel file `fileName` (channel `C`,
    /// suffix `S`) that offers `currentVersion`: the newest of `newestFirst` that is older, has
    /// artifacts for `S` and was released to `C` (its channel fans out to `C`, as
    /// `release create` writes channel files).
    public static func previousRelease(channelFile fileName: String, currentVersion: String,
                                       newestFirst: [ReleaseManifest]) -> (manifest: ReleaseManifest, suffix: String)? {
        guard let channel = ReleaseLayout.channel(ofChannelFile: fileName),
              let current = SemanticVersion(currentVersion) else { return nil }
        let suffix = String(fileName.dropLast(4).dropFirst(channel.count))
        for manifest in newestFirst {
            guard let version = SemanticVersion(manifest.version), version < current else { continue }
            guard ReleaseChannel.fanOut(manifest.channel).contains(channel),
                  manifest.channelFileSuffixes.contains(suffix) else { continue }
            return (manifest, suffix)
        }
        return nil
    }

    /// The channel file text of `manifest` for `suffix`, offered to everyone (no
    /// `stagingPercentage`), dated when that release was last changed.
    public static func channelFile(of manifest: ReleaseManifest, suffix: String) -> String? {
        manifest.updateInfo(suffix: suffix, releaseDate: manifest.updatedAt, stagingPercentage: nil)
            .map(ChannelFileYAML.encode)
    }

    /// Manifests newest version first (semantic order; unparsable versions last).
    public static func newestFirst(_ manifests: some Sequence<ReleaseManifest>) -> [ReleaseManifest] {
        manifests.sorted { a, b in
            switch (SemanticVersion(a.version), SemanticVersion(b.version)) {
            case let (x?, y?): return x != y ? x > y : a.version > b.version
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.version > b.version
            }
        }
    }
}
