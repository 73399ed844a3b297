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
}
