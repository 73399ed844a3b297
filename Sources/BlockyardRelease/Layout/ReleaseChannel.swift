/// Update channels: names, electron-builder's fan-out, and the default channel of a version.
public enum ReleaseChannel {
    public static let latest = "latest"
    public static let beta = "beta"
    public static let alpha = "alpha"

    /// Channel names are lower-case letters, digits and `_`, starting with a letter: a `-`
    /// would make `beta-mac.yml` ambiguous, and the name becomes part of a URL.
    public static func validate(_ name: String) throws(ReleaseError) {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, first >= 97 && first <= 122,
              bytes.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }) else {
            throw ReleaseError(.usage, "invalid channel name '\(name)': use lower-case letters, digits and _ (latest, beta, alpha, …)")
        }
    }

    /// The channels a release on `channel` updates, like electron-builder's
    /// `generateUpdatesFilesForAllChannels`: latest → latest, beta, alpha; beta → beta, alpha;
    /// anything else → itself. The first element is `channel`.
    public static func fanOut(_ channel: String) -> [String] {
        switch channel {
        case latest: return [latest, beta, alpha]
        case beta: return [beta, alpha]
        default: return [channel]
        }
    }

    /// electron-builder's `detectUpdateChannel`: the first pre-release identifier when it is
    /// a word (`1.2.0-beta.3` → beta), otherwise latest.
    public static func defaultChannel(for version: SemanticVersion) -> String {
        if let tag = version.prerelease.first, UInt64(tag) == nil, (try? validate(tag.lowercased())) != nil {
            return tag.lowercased()
        }
        return latest
    }
}
