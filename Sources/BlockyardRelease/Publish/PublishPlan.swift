import BlockyardCore
import BlockyardIO
import Foundation

/// What a file in a release directory is, which decides when it is uploaded and how it is cached.
public enum PublishFileKind: String, Sendable, Encodable {
    /// Under `releases/{version}/`: artifacts and blockmaps. Immutable: first, cached for a year.
    case artifact
    /// `releases/{version}/release.json` and `SHA256SUMS`: can grow when a platform is added.
    case versionMetadata = "version-metadata"
    /// Any other file. Uploaded with the version metadata, not cached.
    case other
    /// `{channel file}.sig`: uploaded last, right before its channel file.
    case channelSignature = "channel-signature"
    /// `latest.yml` and the other channel files: uploaded last, never cached.
    case channelFile = "channel-file"

    /// Upload phase: 0 immutable files, 1 version metadata, 2 channel files.
    var phase: Int {
        switch self {
        case .artifact: 0
        case .versionMetadata, .other: 1
        case .channelSignature, .channelFile: 2
        }
    }

    public var cacheControl: String {
        self == .artifact ? PublishPlan.immutableCacheControl : PublishPlan.mutableCacheControl
    }
}

/// One local file and the object it becomes.
public struct PublishItem: Sendable, Equatable, Encodable {
    /// Path relative to the release root (`/`-separated).
    public var path: String
    public var key: String
    public var size: Int
    public var kind: PublishFileKind
    public var contentType: String
    public var cacheControl: String
    /// SHA-256 of the local file, hex; stored as `x-amz-meta-sha256` on the object.
    public var sha256: String
}

/// The files of a release directory in upload order: artifacts and blockmaps, then version
/// metadata and other files, then each channel file's signature immediately followed by the
/// channel file. Hidden files (any path component starting with `.`, such as an interrupted
/// atomic write's temporary file) are never published.
public enum PublishPlan {
    public static let immutableCacheControl = "public, max-age=31536000, immutable"
    public static let mutableCacheControl = "no-cache"

    public static func make(directory: String, destination: S3Location) throws(ReleaseError) -> [PublishItem] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReleaseError(.missingInput, "\(directory): not a directory")
        }
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw ReleaseError(.io, "\(directory): cannot list the directory")
        }
        var items: [PublishItem] = []
        while let next = walker.nextObject() as? String {
            let components = next.split(separator: "/").map(String.init)
            if components.contains(where: { $0.hasPrefix(".") }) {
                if components.last?.hasPrefix(".") == true { walker.skipDescendants() }
                continue
            }
            let full = (directory as NSString).appendingPathComponent(next)
            guard let size = FileSize.of(full) else { continue }
            let kind = classify(components)
            items.append(PublishItem(path: components.joined(separator: "/"), key: destination.key(components.joined(separator: "/")),
                                     size: size, kind: kind, contentType: contentType(components.last ?? ""),
                                     cacheControl: kind.cacheControl, sha256: try sha256(of: full)))
        }
        return order(items)
    }

    static func classify(_ components: [String]) -> PublishFileKind {
        let name = components.last ?? ""
        if components.count == 1 {
            if ReleaseLayout.channel(ofChannelFile: name) != nil { return .channelFile }
            if name.hasSuffix(ReleaseLayout.signatureSuffix),
               ReleaseLayout.channel(ofChannelFile: String(name.dropLast(ReleaseLayout.signatureSuffix.count))) != nil {
                return .channelSignature
            }
            return .other
        }
        if components[0] == ReleaseLayout.releasesDirectory && components.count >= 3 {
            if components.count == 3 && (name == ReleaseLayout.manifestName || name == ReleaseLayout.checksumsName) {
                return .versionMetadata
            }
            return .artifact
        }
        return .other
    }

    /// Phases in order; inside the channel phase, each signature right before its file.
    static func order(_ items: [PublishItem]) -> [PublishItem] {
        func sortKey(_ item: PublishItem) -> (Int, String, Int) {
            switch item.kind {
            case .channelSignature: (2, String(item.path.dropLast(ReleaseLayout.signatureSuffix.count)), 0)
            case .channelFile: (2, item.path, 1)
            default: (item.kind.phase, item.path, 0)
            }
        }
        return items.sorted { sortKey($0) < sortKey($1) }
    }

    /// Content types by extension; `.blockmap` is plain `application/octet-stream` (never
    /// `Content-Encoding: gzip`: electron-updater gunzips the body itself).
    public static func contentType(_ name: String) -> String {
        let lower = name.lowercased()
        if name == ReleaseLayout.checksumsName { return "text/plain; charset=utf-8" }
        let table: [(String, String)] = [
            (".yml", "text/yaml; charset=utf-8"), (".yaml", "text/yaml; charset=utf-8"), (".sig", "text/plain; charset=utf-8"),
            (".json", "application/json"), (".txt", "text/plain; charset=utf-8"), (".md", "text/markdown; charset=utf-8"),
            (".exe", "application/vnd.microsoft.portable-executable"), (".msi", "application/x-msi"),
            (".dmg", "application/x-apple-diskimage"), (".zip", "application/zip"),
            (".appimage", "application/vnd.appimage"), (".deb", "application/vnd.debian.binary-package"),
            (".rpm", "application/x-rpm"), (".snap", "application/vnd.snap"), (".gz", "application/gzip"),
        ]
        return table.first { lower.hasSuffix($0.0) }?.1 ?? "application/octet-stream"
    }

    static func sha256(of path: String) throws(ReleaseError) -> String {
        let hasher = SHA2Hasher(.sha256)
        do {
            try FileInput(path: path).forEachBlock { hasher.update($0) }
        } catch let error as FileError {
            throw ReleaseError.input(error)
        } catch {
            throw ReleaseError(.io, "\(path): \(error)")
        }
        return hasher.finalize().hex
    }
}
