import BlockyardIO
import Foundation

/// A change to one channel file, as commands report it.
public struct ChannelFileChange: Equatable, Sendable, Encodable {
    public var file: String
    public var channel: String
    public var version: String
    /// The version the file pointed at before, if it existed.
    public var previousVersion: String?
    public var stagingPercentage: Int?
    public var previousStagingPercentage: Int?
    /// Whether a `.sig` was written beside it.
    public var signed: Bool
    /// The version users outside the rollout get from the signed fallback written beside it
    /// (``StagedFallback``), if one was.
    public var fallbackVersion: String?
}

/// A channel file a command chose not to touch, and why.
public struct ChannelFileSkip: Equatable, Sendable, Encodable {
    public var file: String
    public var channel: String
    public var currentVersion: String
    public var reason: String
}

/// The channel files at the root of a release directory: reading them, and writing them (with
/// their signatures and staged-rollout fallbacks) atomically. One per command.
final class ChannelFileStore {
    let root: String
    /// The release manifests under `releases/`, newest first, read once when a fallback needs them.
    private var releases: [ReleaseManifest]?

    init(root: String) { self.root = root }

    private func releasesNewestFirst() throws(ReleaseError) -> [ReleaseManifest] {
        if let releases { return releases }
        var manifests: [ReleaseManifest] = []
        for version in ReleaseLayout.versions(root: root) {
            if let manifest = try ReleaseManifest.load(root: root, version: version) { manifests.append(manifest) }
        }
        let sorted = StagedFallback.newestFirst(manifests)
        releases = sorted
        return sorted
    }

    func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    /// The parsed channel file `name`, or nil when there is none.
    func existing(_ name: String) throws(ReleaseError) -> ChannelDocument? {
        let file = path(name)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try FileInput.readAll(path: file, limit: 64 << 20)
        } catch {
            throw ReleaseError.input(error)
        }
        do {
            return try ChannelDocument(bytes: bytes)
        } catch {
            throw ReleaseError(.invalidData, "\(file): \(error.message)")
        }
    }

    /// Channel files at the root that belong to `channel`, sorted.
    func names(channel: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { ReleaseLayout.channel(ofChannelFile: $0) == channel }.sorted()
    }

    /// Fails before anything is written if a file about to be rewritten is signed and no key
    /// was given: rewriting it would leave a signature that no longer matches.
    func checkSignable(_ names: [String], key: MetadataSigningKey?) throws(ReleaseError) {
        guard key == nil else { return }
        for name in names where FileManager.default.fileExists(atPath: path(name + ReleaseLayout.signatureSuffix)) {
            throw ReleaseError(.usage, "\(name) is signed (\(name)\(ReleaseLayout.signatureSuffix)): pass --sign KEY to re-sign it, or delete the .sig file to stop signing this channel")
        }
    }

    /// Writes or removes the signed fallback of channel file `name` (``StagedFallback``), which
    /// now offers `info`: written when it is signed (`key`) and staged below 100 % and an
    /// earlier release of its channel exists; removed otherwise. Returns the version the
    /// fallback offers, if one was written.
    @discardableResult
    func updateStagedFallback(_ name: String, offering info: UpdateInfo, key: MetadataSigningKey?) throws(ReleaseError) -> String? {
        let fallback = StagedFallback.fileName(forChannelFile: name)
        if let key, info.stagingPercentage != nil {
            if let previous = StagedFallback.previousRelease(channelFile: name, currentVersion: info.version,
                                                             newestFirst: try releasesNewestFirst()),
               let text = StagedFallback.channelFile(of: previous.manifest, suffix: previous.suffix) {
                let content = Array(text.utf8)
                do {
                    // Signed under the channel file's name: that is what a client asked for.
                    let signature = ChannelFileSignature.sign(name: name, content: content, key: key)
                    try AtomicFileWriter.write(Array(signature.utf8), to: path(fallback + ReleaseLayout.signatureSuffix))
                    try AtomicFileWriter.write(content, to: path(fallback))
                } catch {
                    throw ReleaseError.output(error)
                }
                return previous.manifest.version
            }
        }
        for stale in [fallback, fallback + ReleaseLayout.signatureSuffix] where FileManager.default.fileExists(atPath: path(stale)) {
            guard unlink(path(stale)) == 0 || errno == ENOENT else {
                throw ReleaseError(.io, "\(path(stale)): cannot remove the outdated staged-rollout fallback: \(String(cString: strerror(errno)))")
            }
        }
        return nil
    }

    /// Writes `text` as channel file `name` and, with a key, its signature. Each file is
    /// replaced atomically; the signature is written first, so a reader that sees the new
    /// channel file also sees its signature.
    func write(_ name: String, text: String, key: MetadataSigningKey?) throws(ReleaseError) {
        let content = Array(text.utf8)
        do {
            if let key {
                let signature = ChannelFileSignature.sign(name: name, content: content, key: key)
                try AtomicFileWriter.write(Array(signature.utf8), to: path(name + ReleaseLayout.signatureSuffix))
            }
            try AtomicFileWriter.write(content, to: path(name))
        } catch {
            throw ReleaseError.output(error)
        }
    }
}
