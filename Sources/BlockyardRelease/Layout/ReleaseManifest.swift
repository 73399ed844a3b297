import BlockyardIO
import Foundation

/// One published artifact as the release manifest records it.
public struct ReleaseArtifact: Equatable, Sendable, Codable {
    /// File name under `releases/{version}/`.
    public var name: String
    public var os: ReleaseOS
    public var arch: ReleaseArch?
    public var size: Int
    /// SHA-512, base64 (the form electron-updater checks).
    public var sha512: String
    /// SHA-256, hex (the form `SHA256SUMS` lists).
    public var sha256: String
    /// Length of the raw-DEFLATE blockmap embedded at the end of the artifact (AppImage), if any.
    public var blockMapSize: Int?
    /// The `.blockmap` written beside the artifact.
    public var blockmap: ReleaseFile?
    /// NSIS per-machine installers: electron-updater runs them elevated.
    public var isAdminRightsRequired: Bool?
    /// The delivery index and pack written beside the artifact (absent for releases created
    /// with `--no-delivery` or before delivery files existed).
    public var delivery: ReleaseDelivery?

    public init(name: String, os: ReleaseOS, arch: ReleaseArch?, size: Int, sha512: String, sha256: String,
                blockMapSize: Int? = nil, blockmap: ReleaseFile? = nil, isAdminRightsRequired: Bool? = nil,
                delivery: ReleaseDelivery? = nil) {
        self.name = name
        self.os = os
        self.arch = arch
        self.size = size
        self.sha512 = sha512
        self.sha256 = sha256
        self.blockMapSize = blockMapSize
        self.blockmap = blockmap
        self.isAdminRightsRequired = isAdminRightsRequired
        self.delivery = delivery
    }

    public var target: ReleaseTarget { ReleaseTarget(os: os, arch: arch) }
}

/// A file beside an artifact (its blockmap): name, size and SHA-256 (hex).
public struct ReleaseFile: Equatable, Sendable, Codable {
    public var name: String
    public var size: Int
    public var sha256: String

    public init(name: String, size: Int, sha256: String) {
        self.name = name
        self.size = size
        self.sha256 = sha256
    }
}

/// An artifact's delivery files (docs/FORMAT.md): the index (with its SHA-256, listed in
/// `SHA256SUMS`), the pack, and the root hash that authenticates both through the channel file.
/// The pack's own SHA-256 is not computed (it would cost publishing a pass over the pack);
/// every chunk in it is checked against the index instead.
public struct ReleaseDelivery: Equatable, Sendable, Codable {
    public var index: ReleaseFile
    public var pack: String
    public var packSize: Int
    /// Root hash of the index, hex.
    public var root: String

    public init(index: ReleaseFile, pack: String, packSize: Int, root: String) {
        self.index = index
        self.pack = pack
        self.packSize = packSize
        self.root = root
    }
}

/// `releases/{version}/release.json`: everything needed to regenerate this version's channel
/// files later (`release promote`, rollback) without re-reading the artifacts.
///
///     {
///       "format": 1,
///       "version": "1.2.0",
///       "channel": "latest",                       the channel it was created for
///       "createdAt": "2026-01-01T00:00:00.000Z",   first `release create` of this version
///       "updatedAt": "2026-01-01T00:05:00.000Z",   last change (an added artifact)
///       "releaseName": "…", "releaseNotes": "…" | [{"version","note"}],
///       "artifacts": [{"name","os","arch","size","sha512","sha256",
///                      "blockMapSize"?, "blockmap": {"name","size","sha256"},
///                      "delivery"?: {"index": {"name","size","sha256"}, "pack","packSize","root"}}]
///     }
///
/// Artifacts keep the order in which they were added; the channel files list them grouped by
/// channel file, the updater's preferred format first.
public struct ReleaseManifest: Equatable, Sendable, Codable {
    public static let currentFormat = 1

    public var format: Int
    public var version: String
    public var channel: String
    public var createdAt: String
    public var updatedAt: String
    public var releaseName: String?
    public var releaseNotes: ReleaseNotes?
    public var artifacts: [ReleaseArtifact]

    public init(version: String, channel: String, createdAt: String, releaseName: String? = nil,
                releaseNotes: ReleaseNotes? = nil, artifacts: [ReleaseArtifact] = []) {
        format = Self.currentFormat
        self.version = version
        self.channel = channel
        self.createdAt = createdAt
        updatedAt = createdAt
        self.releaseName = releaseName
        self.releaseNotes = releaseNotes
        self.artifacts = artifacts
    }

    /// The channel-file suffixes (`""`, `-mac`, `-linux-arm64`, …) this release has artifacts for.
    public var channelFileSuffixes: [String] {
        var seen: [String] = []
        for artifact in artifacts where !seen.contains(artifact.target.channelFileSuffix) {
            seen.append(artifact.target.channelFileSuffix)
        }
        return seen
    }

    /// The channel file content for one suffix group: every artifact of that group, the
    /// updater's preferred format first (a stable sort, so otherwise in the order added), with
    /// URLs `releases/{version}/{name}` and the legacy `path`/`sha512` of the first file.
    public func updateInfo(suffix: String, releaseDate: String, stagingPercentage: Int?) -> UpdateInfo? {
        let group = artifacts.enumerated()
            .filter { $0.element.target.channelFileSuffix == suffix }
            .sorted { (ReleaseTarget.updaterPriority(fileName: $0.element.name), $0.offset) < (ReleaseTarget.updaterPriority(fileName: $1.element.name), $1.offset) }
            .map(\.element)
        guard let first = group.first else { return nil }
        let files = group.map { artifact in
            let delivery = artifact.delivery.map {
                DeliveryReference(index: ReleaseLayout.artifactPath(version: version, name: $0.index.name), indexSize: $0.index.size,
                                  pack: ReleaseLayout.artifactPath(version: version, name: $0.pack), packSize: $0.packSize,
                                  root: $0.root)
            }
            return UpdateFileInfo(url: ReleaseLayout.artifactPath(version: version, name: artifact.name), sha512: artifact.sha512,
                                  size: artifact.size, blockMapSize: artifact.blockMapSize,
                                  isAdminRightsRequired: artifact.isAdminRightsRequired, delivery: delivery)
        }
        return UpdateInfo(version: version, files: files, path: files[0].url, sha512: first.sha512,
                          releaseName: releaseName, releaseNotes: releaseNotes,
                          stagingPercentage: stagingPercentage, releaseDate: releaseDate)
    }

    /// The `SHA256SUMS` text: one `HEX  NAME` line per artifact and blockmap, sorted by name,
    /// as `sha256sum` writes it (run `sha256sum -c SHA256SUMS` inside `releases/{version}/`).
    /// Names never need GNU escaping: ``ReleaseLayout/validateArtifactName(_:)`` rejects `\`
    /// and control characters.
    public var checksums: String {
        var lines: [(String, String)] = []
        for artifact in artifacts {
            lines.append((artifact.name, artifact.sha256))
            if let blockmap = artifact.blockmap { lines.append((blockmap.name, blockmap.sha256)) }
            if let index = artifact.delivery?.index { lines.append((index.name, index.sha256)) }
        }
        return lines.sorted { $0.0 < $1.0 }.map { "\($0.1)  \($0.0)\n" }.joined()
    }

    // MARK: Reading and writing

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [10]
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(ReleaseError) -> ReleaseManifest {
        let manifest: ReleaseManifest
        do {
            manifest = try JSONDecoder().decode(ReleaseManifest.self, from: Data(bytes))
        } catch {
            throw ReleaseError(.invalidData, "\(path): not a release manifest: \(error)")
        }
        guard manifest.format == currentFormat else {
            throw ReleaseError(.invalidData, "\(path): release manifest format \(manifest.format) is not supported (expected \(currentFormat))")
        }
        return manifest
    }

    /// Reads `releases/{version}/release.json` under `root`; nil when there is none.
    public static func load(root: String, version: String) throws(ReleaseError) -> ReleaseManifest? {
        let path = (root as NSString).appendingPathComponent(ReleaseLayout.manifestPath(version: version))
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try FileInput.readAll(path: path, limit: 64 << 20)
        } catch {
            throw ReleaseError.input(error)
        }
        let manifest = try decode(bytes, path: path)
        guard manifest.version == version else {
            throw ReleaseError(.invalidData, "\(path): the manifest is for version \(manifest.version), not \(version)")
        }
        return manifest
    }
}
