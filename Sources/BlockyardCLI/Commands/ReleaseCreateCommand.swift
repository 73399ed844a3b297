import ArgumentParser
import BlockyardCore
import BlockyardIO
import BlockyardRelease
import Foundation

/// `blockyard release create --version V [--channel C] --out DIR ARTIFACT…`.
struct ReleaseCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Add artifacts as a version and write the channel files electron-updater reads.",
        discussion: """
            Copies each artifact to DIR/releases/VERSION/, writes ARTIFACT.blockmap,
            SHA256SUMS and release.json there, then the channel files at DIR's root
            (latest.yml for .exe, latest-mac.yml for .zip/.dmg, latest-linux.yml and
            latest-linux-ARCH.yml for .AppImage/.deb/.rpm) with size, base64 SHA-512,
            releaseDate and URLs relative to the feed URL. --platform and --arch
            override what the file names say.

            DELIVERY FILES
              Beside each artifact go ARTIFACT.byindex and ARTIFACT.bypack, Blockyard's
              delivery format (docs/FORMAT.md): a content-defined Merkle index and the
              artifact's chunks compressed with zstd one by one. The channel files name
              them with extra keys (blockyardIndex, blockyardPack, their sizes and the
              root hash) that electron-updater ignores; `blockyard update` and the agent
              use them to download fewer bytes. --no-delivery leaves them out.

            CHANNELS
              latest also updates beta and alpha, beta also updates alpha (as
              electron-builder's generateUpdatesFilesForAllChannels), except a channel
              already at a newer version. --channel defaults to the version's
              pre-release tag (1.3.0-beta.1 → beta), else latest.

            Released artifacts are immutable: re-adding one with other bytes fails,
            re-adding it unchanged is a no-op, so one version can be built up by
            several runs (one per platform).

            EXAMPLES
              blockyard release create --version 1.2.0 --out site \\
                  dist/MyApp-Setup-1.2.0.exe dist/MyApp-1.2.0-mac.zip
              blockyard release create --version 1.3.0-beta.1 --out site \\
                  --release-notes-file NOTES.md --sign release.key dist/*.AppImage
              blockyard release create --version 1.2.0 --out site --platform win \\
                  --staging-percentage 10 MyApp-portable-1.2.0.zip
            """)

    @Argument(help: ArgumentHelp("The artifacts (installers, zips, AppImages, …).", valueName: "ARTIFACT"))
    var artifacts: [String] = []

    @Option(help: "The version (semantic versioning: 1.2.0, 1.3.0-beta.1).")
    var version: String

    @Option(help: "The update channel: latest, beta, alpha (default: from the version).")
    var channel: String?

    @Option(name: .customLong("out"), help: ArgumentHelp("The release directory.", valueName: "DIR"))
    var outputDirectory: String

    @Option(help: "The platform of every artifact (default: from each file name).")
    var platform: ReleaseOS?

    @Option(help: "The arch of every artifact (default: from each file name).")
    var arch: ReleaseArch?

    @Option(help: "releaseName in the channel files.")
    var releaseName: String?

    @Option(help: "releaseNotes in the channel files.")
    var releaseNotes: String?

    @Option(help: ArgumentHelp("Read releaseNotes from a file.", valueName: "FILE"))
    var releaseNotesFile: String?

    @Option(help: ArgumentHelp("Offer the release to this percentage of users (whole number, 0-100).", valueName: "PERCENT"))
    var stagingPercentage: String?

    @Flag(help: "Write only the given channel's files, not the lower channels'.")
    var noFanOut = false

    @Option(help: ArgumentHelp("Sign each channel file with this Ed25519 key (writes FILE.yml.sig).", valueName: "KEY"))
    var sign: String?

    @Option(help: "Blockmap generation.")
    var compat: BlockmapCompat = .electronBuilder

    @Flag(help: "Do not write the delivery index and pack (.byindex, .bypack) beside each artifact; Blockyard's client then updates from the blockmap, as electron-updater does.")
    var noDelivery = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if artifacts.isEmpty { throw ValidationError("give at least one ARTIFACT") }
        if releaseNotes != nil && releaseNotesFile != nil {
            throw ValidationError("give --release-notes or --release-notes-file, not both")
        }
    }

    func run() throws {
        var notes = releaseNotes.map(ReleaseNotes.text)
        if let releaseNotesFile {
            let bytes: [UInt8]
            do {
                bytes = try FileInput.readAll(path: releaseNotesFile, limit: 1 << 20)
            } catch {
                Console.error(error.description)
                throw ExitStatus.forInput(error)
            }
            notes = .text(String(decoding: bytes, as: UTF8.self))
        }
        let staging = try stagingPercentage.map { text in try ReleaseConsole.run { () throws(ReleaseError) in try StagingPercentage.parse(text) } }
        let options = ReleaseCreateOptions(
            version: version, channel: channel, artifacts: artifacts, platform: platform, arch: arch,
            outputDirectory: outputDirectory, releaseName: releaseName, releaseNotes: notes,
            stagingPercentage: staging, fanOut: !noFanOut, signingKey: try ReleaseConsole.signingKey(sign), compat: compat,
            delivery: !noDelivery)
        // Copy, then one combined pass (blockmap, SHA-512, delivery files), or two passes.
        let passes = !noDelivery && compat != .electronBuilder ? 3 : 2
        let total = artifacts.compactMap(FileSize.of).reduce(0, +) * passes
        let bar = ProgressBar(label: "release \(version)", total: total)
        let result = try ReleaseConsole.run { () throws(ReleaseError) in try ReleaseBuilder.create(options, progress: bar.advance(by:)) }
        bar.finish()
        ReleaseConsole.warnings(result.warnings)
        ReleaseConsole.rangeHeaderHint(RangeHeaderCheck.findings(root: outputDirectory, version: result.version))
        if json {
            Console.out(Console.json(result))
            return
        }
        Console.out("release \(result.version) (channel \(result.channel)) in \(outputDirectory)")
        let width = result.artifacts.map { ReleaseLayout.artifactPath(version: result.version, name: $0.name).count }.max() ?? 0
        for artifact in result.artifacts {
            var line = "  " + ReleaseLayout.artifactPath(version: result.version, name: artifact.name).padding(width)
            line += "  " + HumanSize.format(artifact.size).padding(10) + "  \(artifact.os.rawValue)"
            if let arch = artifact.arch { line += " \(arch.rawValue)" }
            if let delivery = artifact.delivery {
                line += "  pack \(HumanSize.format(delivery.packSize))"
                if artifact.size > 0 { line += String(format: " (%.2f×)", Double(artifact.size) / Double(max(1, delivery.packSize))) }
            }
            if result.unchanged.contains(artifact.name) { line += "  (unchanged)" }
            Console.out(line)
        }
        ReleaseConsole.printChanges(result.channelFiles, skipped: result.skippedChannelFiles)
    }
}
