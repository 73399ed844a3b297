import BlockyardRelease

/// Whether the version a channel file offers should be downloaded and installed: the update
/// client's rules (electron-updater's `isUpdateAvailable`) plus the agent's skip list.
///
/// In order: a version that is not SemVer is refused; the same version is up to date; a
/// skipped version is skipped; a staged release (`stagingPercentage`) is offered only inside
/// the rollout (``StagingRule`` with the install's persistent staging id); an older version
/// only when downgrades are allowed or the channel changed since the installed version came
/// (electron-updater allows a downgrade whenever the channel is set).
public enum UpdateDecision {
    public enum Outcome: String, Sendable, Codable {
        case updateAvailable = "update-available"
        case upToDate = "up-to-date"
        case skipped
        case notInRollout = "not-in-rollout"
        case downgradeRefused = "downgrade-refused"
        case invalidVersion = "invalid-version"
    }

    public struct Result: Equatable, Sendable {
        public var outcome: Outcome
        public var reason: String
    }

    public static func decide(offered: String, stagingPercentage: Int?, installed: InstalledVersion?,
                              channel: String, stagingID: String, skipVersions: [String],
                              allowDowngrade: Bool) -> Result {
        guard let new = SemanticVersion(offered) else {
            return Result(outcome: .invalidVersion, reason: "the channel file's version \(offered.debugDescription) is not a semantic version")
        }
        let current = installed.flatMap { SemanticVersion($0.version) }
        if let current, current == new {
            return Result(outcome: .upToDate, reason: "\(offered) is installed")
        }
        if skipVersions.contains(where: { SemanticVersion($0) == new }) {
            return Result(outcome: .skipped, reason: "\(offered) is in skip_versions")
        }
        if let percentage = stagingPercentage {
            let position = StagingRule.position(stagingID: stagingID)
            if !StagingRule.isIncluded(position: position, percentage: percentage) {
                return Result(outcome: .notInRollout,
                              reason: "\(offered) is rolled out to \(percentage)% of installs; this one (staging id \(stagingID)) is not among them yet")
            }
        }
        if let current, new < current {
            let channelChanged = installed?.channel.map { $0 != channel } ?? false
            if !allowDowngrade && !channelChanged {
                return Result(outcome: .downgradeRefused,
                              reason: "\(offered) is older than the installed \(current) (set allow_downgrade=true, or change channel)")
            }
            return Result(outcome: .updateAvailable, reason: "\(offered) replaces \(current) (downgrade: \(channelChanged ? "the channel changed" : "allowed"))")
        }
        let from = current.map { " (installed: \($0))" } ?? " (nothing installed)"
        return Result(outcome: .updateAvailable, reason: "\(offered) is available\(from)")
    }
}
