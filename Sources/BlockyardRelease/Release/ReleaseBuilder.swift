import BlockyardCore
import BlockyardIO
import Foundation

/// What `blockyard release create` does.
public struct ReleaseCreateOptions: Sendable {
    public var version: String
    /// The channel; nil picks it from the version (`1.2.0-beta.1` → beta, else latest).
    public var channel: String?
    /// Artifact paths.
    public var artifacts: [String]
    /// Overrides the OS detected from each artifact's extension.
    public var platform: ReleaseOS?
    /// Overrides the arch detected from each artifact's name.
    public var arch: ReleaseArch?
    /// The release root (channel files at the top, `releases/{version}/` below).
    public var outputDirectory: String
    public var releaseName: String?
    public var releaseNotes: ReleaseNotes?
    /// 0…100; nil offers the release to everyone.
    public var stagingPercentage: Int?
    /// Also update the lower channels (latest → beta, alpha; beta → alpha).
    public var fanOut: Bool
    public var signingKey: MetadataSigningKey?
    public var compat: BlockmapCompat
    /// Write the delivery index and pack beside each artifact (docs/FORMAT.md) and name them
    /// in the channel files; off with `--no-delivery`.
    public var delivery: Bool
    /// The issue time written as `releaseDate`.
    public var now: Date

    public init(version: String, channel: String? = nil, artifacts: [String], platform: ReleaseOS? = nil,
                arch: ReleaseArch? = nil, outputDirectory: String, releaseName: String? = nil,
                releaseNotes: ReleaseNotes? = nil, stagingPercentage: Int? = nil, fanOut: Bool = true,
                signingKey: MetadataSigningKey? = nil, compat: BlockmapCompat = .electronBuilder, delivery: Bool = true,
                now: Date = Date()) {
        self.version = version
        self.channel = channel
        self.artifacts = artifacts
        self.platform = platform
        self.arch = arch
        self.outputDirectory = outputDirectory
        self.releaseName = releaseName
        self.releaseNotes = releaseNotes
        self.stagingPercentage = stagingPercentage
        self.fanOut = fanOut
        self.signingKey = signingKey
        self.compat = compat
        self.delivery = delivery
        self.now = now
    }
}

public struct ReleaseCreateResult: Sendable, Encodable {
    public var version: String
    public var channel: String
    /// This run's artifacts, as recorded in the manifest.
    public var artifacts: [ReleaseArtifact]
    /// Artifacts that were already part of this version with identical bytes.
    public var unchanged: [String]
    public var channelFiles: [ChannelFileChange]
    public var skippedChannelFiles: [ChannelFileSkip]
    public var warnings: [String]
}

/// `release create`: copies artifacts into `releases/{version}/`, writes their blockmaps,
/// `SHA256SUMS` and `release.json`, then the channel files (and signatures).
///
/// Order and safety:
/// - Everything that can fail on bad input (version, channel, names, platforms, staging,
///   signatures, channel ordering) is checked before anything is written.
/// - Artifacts are immutable: adding a file that is already part of the version with other
///   bytes fails; adding it again with the same bytes is a no-op, so a version can be built
///   up by several runs (one per platform).
/// - Copies go to temporary files and are renamed into place only when every artifact has
///   been copied and hashed; channel files are written last.
/// - A release never moves its own channel to a lower version (that is `promote`'s job);
///   fan-out skips a lower channel that already points at a newer version, where
///   electron-builder would overwrite it (and downgrade beta users, for whom electron-updater
///   sets `allowDowngrade`).
public enum ReleaseBuilder {
    public static func create(_ options: ReleaseCreateOptions,
                              progress: ((Int) -> Void)? = nil) throws(ReleaseError) -> ReleaseCreateResult {
        guard let version = SemanticVersion(options.version) else {
            let hint = options.version.hasPrefix("v") ? " (drop the leading v)" : ""
            throw ReleaseError(.usage, "version '\(options.version)' is not a semantic version like 1.2.0 or 1.3.0-beta.1\(hint)")
        }
        let versionString = version.description
        let channel = options.channel ?? ReleaseChannel.defaultChannel(for: version)
        try ReleaseChannel.validate(channel)
        try StagingPercentage.validate(options.stagingPercentage)
        guard !options.artifacts.isEmpty else { throw ReleaseError(.usage, "give at least one artifact") }

        // Inputs.
        var inputs: [(path: String, name: String, target: ReleaseTarget)] = []
        for path in options.artifacts {
            let name = (path as NSString).lastPathComponent
            try ReleaseLayout.validateArtifactName(name)
            if inputs.contains(where: { $0.name == name }) {
                throw ReleaseError(.usage, "two artifacts are named \(name)")
            }
            let size: Int?
            do {
                size = try FileInput(path: path).regularFileSize
            } catch {
                throw ReleaseError.input(error)
            }
            guard size != nil else { throw ReleaseError(.missingInput, "\(path): not a regular file") }
            guard let os = options.platform ?? ReleaseTarget.detectOS(fileName: name) else {
                throw ReleaseError(.usage, "cannot tell which platform \(name) is for from its extension; pass --platform win|mac|linux")
            }
            let target = ReleaseTarget(os: os, arch: options.arch ?? ReleaseTarget.detectArch(fileName: name))
            inputs.append((path, name, target))
        }

        let root = options.outputDirectory
        let versionDirectory = (root as NSString).appendingPathComponent(ReleaseLayout.versionDirectory(versionString))
        let existingManifest = try ReleaseManifest.load(root: root, version: versionString)
        let issued = ReleaseTimestamp.format(options.now)

        // Channel files: which to write, which to skip, which would go backwards.
        let store = ChannelFileStore(root: root)
        let channels = options.fanOut ? ReleaseChannel.fanOut(channel) : [channel]
        var suffixes: [String] = []
        for input in inputs where !suffixes.contains(input.target.channelFileSuffix) {
            suffixes.append(input.target.channelFileSuffix)
        }
        var planned: [(name: String, channel: String, suffix: String, previous: ChannelDocument?)] = []
        var skipped: [ChannelFileSkip] = []
        for c in channels {
            for suffix in suffixes {
                let name = "\(c)\(suffix).yml"
                let existing = try store.existing(name)
                if let existing, let current = SemanticVersion(existing.info.version), version < current {
                    if c == channel {
                        throw ReleaseError(.usage, "\(name) points at \(current), newer than \(versionString): a release never moves its channel back; use `blockyard release promote --version \(versionString) --channel \(c)` to roll back")
                    }
                    skipped.append(ChannelFileSkip(file: name, channel: c, currentVersion: existing.info.version,
                                                   reason: "already at a newer version"))
                    continue
                }
                planned.append((name, c, suffix, existing))
            }
        }
        try store.checkSignable(planned.map(\.name), key: options.signingKey)

        do {
            try FileManager.default.createDirectory(atPath: versionDirectory, withIntermediateDirectories: true)
        } catch {
            throw ReleaseError(.cannotCreate, "\(versionDirectory): cannot create the directory: \(error.localizedDescription)")
        }

        // Copy and hash every artifact into temporary files; commit only when all are done.
        var warnings: [String] = []
        var staged: [StagedArtifact] = []
        var unchanged: [String] = []
        var artifacts: [ReleaseArtifact] = []
        for input in inputs {
            let destination = (versionDirectory as NSString).appendingPathComponent(input.name)
            if let previous = existingManifest?.artifacts.first(where: { $0.name == input.name }) {
                let digests: FileDigests
                do {
                    digests = try FileHasher.hash(path: input.path, progress: progress)
                } catch {
                    throw ReleaseError.input(error)
                }
                guard digests.sha512.base64 == previous.sha512, digests.size == previous.size else {
                    throw ReleaseError(.cannotCreate, "\(ReleaseLayout.artifactPath(version: versionString, name: input.name)) is already part of \(versionString) with different content: published artifacts are immutable, release a new version")
                }
                // Unchanged, unless delivery files are wanted and missing (added on a re-run).
                if FileSize.of(destination) == previous.size,
                   !options.delivery || StagedArtifact.deliveryFilesPresent(previous, in: versionDirectory) {
                    unchanged.append(input.name)
                    artifacts.append(previous)
                    continue
                }
            }
            let artifact = try StagedArtifact.copy(input.path, to: destination, name: input.name, target: input.target,
                                                   compat: options.compat, delivery: options.delivery, progress: progress)
            if let warning = artifact.warning { warnings.append(warning) }
            staged.append(artifact)
            artifacts.append(artifact.artifact)
        }
        for artifact in staged { try artifact.commit() }

        // The manifest and the checksum list.
        var manifest = existingManifest ?? ReleaseManifest(version: versionString, channel: channel, createdAt: issued)
        for artifact in artifacts {
            if let index = manifest.artifacts.firstIndex(where: { $0.name == artifact.name }) {
                manifest.artifacts[index] = artifact
            } else {
                manifest.artifacts.append(artifact)
            }
        }
        if let name = options.releaseName { manifest.releaseName = name }
        if let notes = options.releaseNotes { manifest.releaseNotes = notes }
        manifest.updatedAt = issued
        do {
            try AtomicFileWriter.write(Array(manifest.checksums.utf8), to: (versionDirectory as NSString).appendingPathComponent(ReleaseLayout.checksumsName))
            try AtomicFileWriter.write(manifest.encoded(), to: (versionDirectory as NSString).appendingPathComponent(ReleaseLayout.manifestName))
        } catch {
            throw ReleaseError.output(error)
        }

        // Channel files last.
        var changes: [ChannelFileChange] = []
        for plan in planned {
            // Re-running a release (another platform, or the same artifacts) keeps its rollout
            // stage unless a new one is given.
            let sameVersion = plan.previous.flatMap { SemanticVersion($0.info.version) } == version
            let staging = options.stagingPercentage ?? (sameVersion ? plan.previous?.info.stagingPercentage : nil)
            guard let info = manifest.updateInfo(suffix: plan.suffix, releaseDate: issued, stagingPercentage: staging) else { continue }
            try store.write(plan.name, text: ChannelFileYAML.encode(info), key: options.signingKey)
            let fallback = try store.updateStagedFallback(plan.name, offering: info, key: options.signingKey)
            changes.append(ChannelFileChange(file: plan.name, channel: plan.channel, version: versionString,
                                             previousVersion: plan.previous?.info.version,
                                             stagingPercentage: staging,
                                             previousStagingPercentage: plan.previous?.info.stagingPercentage,
                                             signed: options.signingKey != nil, fallbackVersion: fallback))
        }
        return ReleaseCreateResult(version: versionString, channel: channel, artifacts: artifacts, unchanged: unchanged,
                                   channelFiles: changes, skippedChannelFiles: skipped, warnings: warnings)
    }
}

/// 0…100 whole numbers, the only values electron-updater reads as written.
public enum StagingPercentage {
    public static func validate(_ percent: Int?) throws(ReleaseError) {
        if let percent, !(0...100).contains(percent) {
            throw ReleaseError(.usage, "staging percentage \(percent) is outside 0…100")
        }
    }

    /// Parses a command-line percentage: whole numbers only, because electron-updater reads
    /// `stagingPercentage` with `parseInt` and would truncate `12.5` to 12 (and `0.5` to 0).
    public static func parse(_ text: String) throws(ReleaseError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "%", with: "")
        if let value = Int(trimmed) {
            try validate(value)
            return value
        }
        if let value = Double(trimmed), value.isFinite {
            throw ReleaseError(.usage, "staging percentage must be a whole number: electron-updater reads stagingPercentage with parseInt, so \(trimmed) would mean \(Int(value.rounded(.towardZero)))%")
        }
        throw ReleaseError(.usage, "staging percentage '\(text)' is not a number from 0 to 100")
    }
}

/// Size of a regular file (nil when absent or not a regular file).
enum FileSize {
    static func of(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(st.st_size)
    }
}

/// An artifact copied to a temporary file beside its destination and described (size,
/// SHA-512, SHA-256, blockmap), waiting to be renamed into place.
final class StagedArtifact {
    let artifact: ReleaseArtifact
    let warning: String?
    private let writer: AtomicFileWriter?
    private let blockmapBytes: [UInt8]
    private let blockmapPath: String
    /// Delivery files written under hidden names, renamed into place by ``commit()`` (the pack
    /// first): (staged, final) pairs.
    private let deliveryFiles: [(staged: String, final: String)]
    private var committed = false

    private init(artifact: ReleaseArtifact, warning: String?, writer: AtomicFileWriter?, blockmapBytes: [UInt8], blockmapPath: String,
                 deliveryFiles: [(staged: String, final: String)]) {
        self.artifact = artifact
        self.warning = warning
        self.writer = writer
        self.blockmapBytes = blockmapBytes
        self.blockmapPath = blockmapPath
        self.deliveryFiles = deliveryFiles
    }

    deinit {
        // A run that failed after this artifact was staged leaves nothing behind.
        if !committed { for file in deliveryFiles { unlink(file.staged) } }
    }

    /// Whether the delivery files an earlier run recorded for `artifact` are still in place.
    static func deliveryFilesPresent(_ artifact: ReleaseArtifact, in directory: String) -> Bool {
        guard let delivery = artifact.delivery else { return false }
        return FileSize.of((directory as NSString).appendingPathComponent(delivery.index.name)) == delivery.index.size
            && FileSize.of((directory as NSString).appendingPathComponent(delivery.pack)) == delivery.packSize
    }

    /// Copies `source` (computing SHA-256 on the way), then blockmaps the copy (which gives
    /// size and SHA-512 of the bytes that will be published). When `source` already is the
    /// destination, nothing is copied.
    static func copy(_ source: String, to destination: String, name: String, target: ReleaseTarget,
                     compat: BlockmapCompat, delivery: Bool, progress: ((Int) -> Void)?) throws(ReleaseError) -> StagedArtifact {
        let sameFile = realpath(source) == realpath(destination)
        var writer: AtomicFileWriter?
        let hashedPath: String
        let sha256: Digest
        do {
            let input = try FileInput(path: source)
            let hasher = SHA2Hasher(.sha256)
            if sameFile {
                try input.forEachBlock { block in
                    hasher.update(block)
                    progress?(block.count)
                }
                hashedPath = source
            } else {
                let out = try AtomicFileWriter(destination: destination)
                writer = out
                try input.forEachBlock { block in
                    hasher.update(block)
                    try out.write(block)
                    progress?(block.count)
                }
                hashedPath = out.temporaryPath
            }
            sha256 = hasher.finalize()
        } catch let error as FileError {
            writer?.abandon()
            throw error.kind == .notFound || error.path == source ? ReleaseError.input(error) : ReleaseError.output(error)
        } catch {
            writer?.abandon()
            throw ReleaseError(.io, "\(source): \(error)")
        }
        let directory = (destination as NSString).deletingLastPathComponent
        let blockmapName = name + ReleaseLayout.blockmapSuffix
        var result: BlockmapResult?
        var releaseDelivery: ReleaseDelivery?
        var deliveryFiles: [(staged: String, final: String)] = []
        if delivery {
            let indexName = name + ReleaseLayout.deliveryIndexSuffix
            let packName = name + ReleaseLayout.deliveryPackSuffix
            // Hidden while staged: never served or published before the rename.
            let stagedIndex = directory + "/." + indexName + ".staged"
            let stagedPack = directory + "/." + packName + ".staged"
            deliveryFiles = [(stagedPack, directory + "/" + packName), (stagedIndex, directory + "/" + indexName)]
            do {
                // electron-builder's chunks are the index's: one pass gives blockmap, SHA-512,
                // index and pack.
                let combined = compat == .electronBuilder
                let output = try DeliveryFileBuilder.build(inputPath: hashedPath, indexPath: stagedIndex, packPath: stagedPack,
                                                           blockmap: combined, progress: progress)
                result = output.blockmap
                let indexBytes = try FileInput.readAll(path: stagedIndex, limit: output.indexSize)
                releaseDelivery = ReleaseDelivery(
                    index: ReleaseFile(name: indexName, size: output.indexSize, sha256: SHA2Hasher.hash(.sha256, indexBytes).hex),
                    pack: packName, packSize: Int(output.index.packSize), root: output.index.rootHash.hex)
            } catch {
                for file in deliveryFiles { unlink(file.staged) }
                writer?.abandon()
                throw ReleaseError(.io, "\(source): cannot write the delivery index and pack: \(error)")
            }
        }
        if result == nil {
            do {
                result = try BlockmapGenerator.generate(path: hashedPath, compat: compat, progress: progress)
            } catch {
                for file in deliveryFiles { unlink(file.staged) }
                writer?.abandon()
                throw ReleaseError(.io, "\(source): cannot compute the blockmap: \(error)")
            }
        }
        guard let result else { preconditionFailure("the blockmap was computed above") }
        var warning: String?
        let embedded = name.lowercased().hasSuffix(".appimage") ? embeddedBlockMapSize(path: hashedPath, size: result.size) : nil
        if name.lowercased().hasSuffix(".appimage") && embedded == nil {
            warning = "\(name) has no embedded blockmap: electron-updater updates AppImages differentially only from one (add it first with `blockyard blockmap --input \(name) --compression deflate`)"
        }
        let gzip = BlockmapCodec.encodeGzip(result.blockmap)
        let artifact = ReleaseArtifact(
            name: name, os: target.os, arch: target.arch, size: result.size, sha512: result.sha512.base64,
            sha256: sha256.hex, blockMapSize: embedded,
            blockmap: ReleaseFile(name: blockmapName, size: gzip.count, sha256: SHA2Hasher.hash(.sha256, gzip).hex),
            delivery: releaseDelivery)
        return StagedArtifact(artifact: artifact, warning: warning, writer: writer, blockmapBytes: gzip,
                              blockmapPath: directory + "/" + blockmapName, deliveryFiles: deliveryFiles)
    }

    func commit() throws(ReleaseError) {
        do {
            try writer?.commit()
            try AtomicFileWriter.write(blockmapBytes, to: blockmapPath)
        } catch {
            throw ReleaseError.output(error)
        }
        for file in deliveryFiles where rename(file.staged, file.final) != 0 {
            let reason = String(cString: strerror(errno))
            throw ReleaseError(.cannotCreate, "\(file.final): cannot rename the delivery file into place: \(reason)")
        }
        committed = true
    }

    /// The length of a valid blockmap embedded at the end of the file (electron-builder's
    /// AppImage form: raw DEFLATE of the JSON, then its length as 4 big-endian bytes), whose
    /// chunks cover exactly the bytes before it; nil when there is none.
    static func embeddedBlockMapSize(path: String, size: Int) -> Int? {
        guard size > 4, let input = try? FileInput(path: path), let trailer = try? input.pread(offset: size - 4, count: 4),
              let length = try? BlockmapCodec.embeddedLength(trailer: trailer, fileSize: size),
              let deflated = try? input.pread(offset: size - 4 - length, count: length),
              let blockmap = try? BlockmapCodec.decodeEmbedded(deflated),
              blockmap.totalSize == size - 4 - length else { return nil }
        return length
    }
}

private func realpath(_ path: String) -> String? {
    guard let resolved = Foundation.realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
