import BlockyardRelease

/// Server-side staged rollouts (`blockyard serve --staged-rollout`).
///
/// electron-updater sends its staging id as `x-user-staging-id` on every channel-file request
/// and decides with `isStagingMatch`: the user is in the rollout iff
/// `uint32BE(uuid bytes 12…15) / 0xffffffff < stagingPercentage / 100`, i.e. the last 8 hex
/// digits of the UUID. The server applies the same rule to the channel file it is about to
/// serve; a user outside the percentage gets the channel file of the previous release of that
/// channel instead (all users are in that one), so the control group keeps receiving the last
/// fully rolled-out version (the stock client would offer them nothing at all).
public enum StagedRollout {
    /// The user's position in 0…0xffffffff (`StagingRule.position(uuid:)`); nil when the id
    /// is not a canonical UUID.
    public static func bucket(userID: String) -> UInt32? {
        StagingRule.position(uuid: userID)
    }

    /// electron-updater's `isStagingMatch` (`StagingRule`). Nil when the id is not a UUID (the
    /// server then serves the current file and leaves the decision to the client).
    public static func isIncluded(userID: String, percentage: Int) -> Bool? {
        bucket(userID: userID).map { StagingRule.isIncluded(position: $0, percentage: percentage) }
    }

    /// The release a user outside the rollout gets for channel file `fileName` (channel `C`,
    /// suffix `S`) that offers `currentVersion`: the newest release older than it that has
    /// artifacts for `S` and was released to `C` (its channel fans out to `C`, as
    /// `release create` writes channel files).
    static func previousRelease(channelFile fileName: String, currentVersion: String,
                                in snapshot: ReleaseCatalog.Snapshot) -> (manifest: ReleaseManifest, suffix: String)? {
        guard let channel = ReleaseLayout.channel(ofChannelFile: fileName),
              let current = SemanticVersion(currentVersion) else { return nil }
        let suffix = String(fileName.dropLast(4).dropFirst(channel.count))
        for manifest in snapshot.newestFirst {
            guard let version = SemanticVersion(manifest.version), version < current else { continue }
            guard ReleaseChannel.fanOut(manifest.channel).contains(channel),
                  manifest.channelFileSuffixes.contains(suffix) else { continue }
            return (manifest, suffix)
        }
        return nil
    }

    /// The channel file text of `manifest` for `suffix`, offered to everyone (no
    /// `stagingPercentage`), dated when that release was last changed.
    static func channelFile(of manifest: ReleaseManifest, suffix: String) -> String? {
        manifest.updateInfo(suffix: suffix, releaseDate: manifest.updatedAt, stagingPercentage: nil)
            .map(ChannelFileYAML.encode)
    }
}
