import Foundation

/// Where a release directory keeps things (the same layout is mirrored under the S3 prefix):
///
///     latest.yml  latest-mac.yml  latest-linux.yml  beta.yml …    channel files (feed root)
///     latest.yml.sig …                                           signatures (with --sign)
///     latest.yml.previous(.sig) …                                signed fallback of a staged channel file
///     releases/{version}/{artifact}                              artifacts, immutable
///     releases/{version}/{artifact}.blockmap                     gzip'd blockmaps, immutable
///     releases/{version}/SHA256SUMS                              `sha256sum -c` list
///     releases/{version}/release.json                            the release manifest
///
/// Channel files refer to artifacts by the relative URL `releases/{version}/{artifact}`, which
/// electron-updater resolves against the feed URL. Because the version is in the directory
/// name, the old blockmap URL electron-updater derives (every occurrence of the new version
/// replaced by the installed one) exists even for artifact names without a version.
public enum ReleaseLayout {
    public static let releasesDirectory = "releases"
    public static let manifestName = "release.json"
    public static let checksumsName = "SHA256SUMS"
    public static let signatureSuffix = ".sig"
    public static let blockmapSuffix = ".blockmap"
    /// The delivery index and pack beside an artifact (docs/FORMAT.md).
    public static let deliveryIndexSuffix = ".byindex"
    public static let deliveryPackSuffix = ".bypack"

    /// `releases/{version}`, relative to the release root.
    public static func versionDirectory(_ version: String) -> String { "\(releasesDirectory)/\(version)" }

    /// The relative URL (and path) of an artifact: `releases/{version}/{name}`.
    public static func artifactPath(version: String, name: String) -> String { "\(versionDirectory(version))/\(name)" }

    public static func manifestPath(version: String) -> String { "\(versionDirectory(version))/\(manifestName)" }

    public static func checksumsPath(version: String) -> String { "\(versionDirectory(version))/\(checksumsName)" }

    /// `releases/{version}/` entries of a root directory, as (version string, path).
    public static func versions(root: String) -> [String] {
        let dir = (root as NSString).appendingPathComponent(releasesDirectory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: "\(dir)/\($0)/\(manifestName)") }.sorted()
    }

    /// Whether `name` (a file at the release root) is a channel file: `{channel}{suffix}.yml`.
    /// Returns the channel.
    public static func channel(ofChannelFile name: String) -> String? {
        guard name.hasSuffix(".yml") else { return nil }
        let stem = String(name.dropLast(4))
        var channel = stem
        for suffix in ["-mac", "-linux"] where stem.hasSuffix(suffix) { channel = String(stem.dropLast(suffix.count)) }
        if let range = stem.range(of: "-linux-") { channel = String(stem[..<range.lowerBound]) }
        guard (try? ReleaseChannel.validate(channel)) != nil else { return nil }
        return channel
    }

    /// Artifact names become URL path segments and S3 keys: reject what would break either.
    public static func validateArtifactName(_ name: String) throws(ReleaseError) {
        let forbidden: Set<Character> = ["/", "\\", "#", "?", "%", "\""]
        guard !name.isEmpty, !name.hasPrefix("."), name != ReleaseLayout.manifestName, name != ReleaseLayout.checksumsName,
              !name.hasSuffix(blockmapSuffix), !name.hasSuffix(deliveryIndexSuffix), !name.hasSuffix(deliveryPackSuffix),
              !name.contains(where: { forbidden.contains($0) || $0.asciiValue.map { $0 < 32 || $0 == 127 } == true }) else {
            throw ReleaseError(.usage, "artifact name '\(name)' cannot be published: it must not start with '.', end in .blockmap, .byindex or .bypack, be release.json or SHA256SUMS, or contain / \\ # ? % \" or control characters")
        }
    }
}
