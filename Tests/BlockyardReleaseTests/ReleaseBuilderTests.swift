import BlockyardCore
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

@Suite("release create, promote and stage")
struct ReleaseBuilderTests {
    let dir: TemporaryDirectory
    let site: String
    let t0 = Date(timeIntervalSince1970: 1_767_225_600)   // 2026-01-01T00:00:00Z

    init() throws {
        dir = try TemporaryDirectory("release")
        site = dir.path("site")
    }

    func artifact(_ name: String, seed: UInt64, size: Int = 200_000) throws -> String {
        try dir.write(name, VectorInputs.randomBytes(seed: seed, count: size))
    }

    func channel(_ name: String) throws -> ChannelDocument {
        try ChannelDocument(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "\(site)/\(name)"))))
    }

    func create(_ version: String, _ artifacts: [String], channel: String? = nil, at time: TimeInterval = 0,
                staging: Int? = nil, key: MetadataSigningKey? = nil, fanOut: Bool = true,
                delivery: Bool = true) throws(ReleaseError) -> ReleaseCreateResult {
        try ReleaseBuilder.create(ReleaseCreateOptions(version: version, channel: channel, artifacts: artifacts, outputDirectory: site,
                                                       stagingPercentage: staging, fanOut: fanOut, signingKey: key,
                                                       delivery: delivery, now: t0.addingTimeInterval(time)))
    }

    @Test func layoutChecksumsBlockmapsAndChannelFiles() throws {
        let exe = try artifact("MyApp Setup 1.0.0.exe", seed: 1, size: 3_000_000)
        let zip = try artifact("MyApp-1.0.0-arm64-mac.zip", seed: 2)
        let dmg = try artifact("MyApp-1.0.0-arm64.dmg", seed: 3)
        let appImage = try artifact("MyApp-1.0.0-arm64.AppImage", seed: 4)
        // electron-builder puts the dmg after the zip whatever order the artifacts come in.
        let result = try create("1.0.0", [exe, dmg, zip, appImage])
        #expect(result.channel == "latest")
        #expect(Set(result.channelFiles.map(\.file)) == ["latest.yml", "latest-mac.yml", "latest-linux-arm64.yml",
                                                         "beta.yml", "beta-mac.yml", "beta-linux-arm64.yml",
                                                         "alpha.yml", "alpha-mac.yml", "alpha-linux-arm64.yml"])
        #expect(result.warnings.count == 1)   // the AppImage has no embedded blockmap

        let win = try channel("latest.yml").info
        let digests = try FileHasher.hash(path: exe)
        #expect(win.version == "1.0.0")
        // The delivery files are beside the artifact, and the channel file names them with the
        // root of the index as written.
        let indexBytes = try FileInput.readAll(path: "\(site)/releases/1.0.0/MyApp Setup 1.0.0.exe.byindex")
        let index = try DeliveryIndexCodec.decode(indexBytes)
        let packSize = try #require(try FileManager.default.attributesOfItem(atPath: "\(site)/releases/1.0.0/MyApp Setup 1.0.0.exe.bypack")[.size] as? Int)
        #expect(index.artifactSize == 3_000_000 && index.packSize == UInt64(packSize))
        let delivery = DeliveryReference(index: "releases/1.0.0/MyApp Setup 1.0.0.exe.byindex", indexSize: indexBytes.count,
                                         pack: "releases/1.0.0/MyApp Setup 1.0.0.exe.bypack", packSize: packSize,
                                         root: index.rootHash.hex)
        #expect(win.files == [UpdateFileInfo(url: "releases/1.0.0/MyApp Setup 1.0.0.exe", sha512: digests.sha512.base64, size: 3_000_000,
                                             delivery: delivery)])
        #expect(try String(contentsOfFile: "\(site)/releases/1.0.0/SHA256SUMS", encoding: .utf8)
            .contains("\(SHA2Hasher.hash(.sha256, indexBytes).hex)  MyApp Setup 1.0.0.exe.byindex\n"))
        #expect(win.path == "releases/1.0.0/MyApp Setup 1.0.0.exe")
        #expect(win.sha512 == digests.sha512.base64)
        #expect(win.releaseDate == "2026-01-01T00:00:00.000Z")
        let mac = try channel("latest-mac.yml").info
        #expect(mac.files.map(\.url) == ["releases/1.0.0/MyApp-1.0.0-arm64-mac.zip", "releases/1.0.0/MyApp-1.0.0-arm64.dmg"])
        #expect(mac.path == mac.files[0].url)
        #expect(try channel("beta-mac.yml").info == mac)

        // The copies are the artifacts; the blockmaps decode to what the generator computes.
        let copy = "\(site)/releases/1.0.0/MyApp Setup 1.0.0.exe"
        #expect(try FileHasher.hash(path: copy) == digests)
        let blockmap = try BlockmapCodec.decodeGzip(FileInput.readAll(path: copy + ".blockmap"))
        #expect(blockmap == (try BlockmapGenerator.generate(path: exe).blockmap))

        // SHA256SUMS passes `sha256sum -c` in the version directory.
        let (status, output) = try runTool("/usr/bin/sha256sum", ["-c", "SHA256SUMS"], in: URL(fileURLWithPath: "\(site)/releases/1.0.0"))
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: ": OK").count - 1 == 12)   // artifacts, blockmaps, indexes

        let manifest = try #require(try ReleaseManifest.load(root: site, version: "1.0.0"))
        #expect(manifest.artifacts.map(\.name) == ["MyApp Setup 1.0.0.exe", "MyApp-1.0.0-arm64.dmg", "MyApp-1.0.0-arm64-mac.zip", "MyApp-1.0.0-arm64.AppImage"])
        #expect(manifest.artifacts[3].target == ReleaseTarget(os: .linux, arch: .arm64))
        #expect(manifest.artifacts[0].sha256 == digests.sha256.hex)
    }

    @Test func embeddedAppImageBlockmapGivesBlockMapSize() throws {
        let path = try artifact("MyApp-1.0.0.AppImage", seed: 5, size: 300_000)
        let (embedded, tail) = try BlockmapGenerator.generateEmbedded(path: path)
        try BlockmapGenerator.appendAtomically(path: path, tail: tail, expectedSize: 300_000)
        let result = try create("1.0.0", [path])
        #expect(result.warnings.isEmpty)
        let file = try #require(try channel("latest-linux.yml").info.files.first)
        #expect(file.blockMapSize == embedded.blockMapSize)
        #expect(file.size == embedded.size)
        #expect(file.sha512 == embedded.sha512.base64)
    }

    @Test func fanOutSkipsNewerChannelsAndNeverMovesItsOwnBack() throws {
        _ = try create("2.0.0-beta.1", [try artifact("MyApp-2.0.0-beta.1.exe", seed: 6)], at: 10)
        #expect(try channel("beta.yml").info.version == "2.0.0-beta.1")
        #expect(try channel("alpha.yml").info.version == "2.0.0-beta.1")
        #expect(!FileManager.default.fileExists(atPath: "\(site)/latest.yml"))

        let stable = try create("1.5.0", [try artifact("MyApp-1.5.0.exe", seed: 7)], at: 20)
        #expect(stable.channelFiles.map(\.file) == ["latest.yml"])
        #expect(Set(stable.skippedChannelFiles.map(\.file)) == ["beta.yml", "alpha.yml"])
        #expect(try channel("beta.yml").info.version == "2.0.0-beta.1")

        let back = expectReleaseError(.usage) { () throws(ReleaseError) in
            try create("1.4.0", [try! artifact("MyApp-1.4.0.exe", seed: 8)], at: 30)
        }
        #expect(back?.message.contains("promote") == true)
        #expect(try channel("latest.yml").info.version == "1.5.0")
        // Nothing of 1.4.0 was written.
        #expect(!FileManager.default.fileExists(atPath: "\(site)/releases/1.4.0"))

        let noFan = try create("1.6.0", [try artifact("MyApp-1.6.0.exe", seed: 9)], at: 40, fanOut: false)
        #expect(noFan.channelFiles.map(\.file) == ["latest.yml"])
        #expect(noFan.skippedChannelFiles.isEmpty)
    }

    @Test func noDeliveryWritesNoDeliveryFiles() throws {
        let exe = try artifact("MyApp-1.0.0.exe", seed: 12)
        let result = try create("1.0.0", [exe], delivery: false)
        #expect(result.artifacts[0].delivery == nil)
        #expect(try channel("latest.yml").info.files[0].delivery == nil)
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(site)/releases/1.0.0").sorted()
        #expect(names == ["MyApp-1.0.0.exe", "MyApp-1.0.0.exe.blockmap", "SHA256SUMS", "release.json"])
        // A later run with delivery files on adds them to the unchanged artifact.
        let again = try create("1.0.0", [exe], at: 1)
        #expect(again.unchanged.isEmpty && again.artifacts[0].delivery != nil)
        #expect(try channel("latest.yml").info.files[0].delivery?.index == "releases/1.0.0/MyApp-1.0.0.exe.byindex")
        #expect(try create("1.0.0", [exe], at: 2).unchanged == ["MyApp-1.0.0.exe"])
    }

    @Test func aFailedRunLeavesNoStagedDeliveryFiles() throws {
        let zip = try artifact("MyApp-1.0.0-mac.zip", seed: 14)
        _ = try create("1.0.0", [zip])
        let before = try FileManager.default.contentsOfDirectory(atPath: "\(site)/releases/1.0.0").sorted()
        // The second artifact changed under a released name: refused after the first one was
        // staged with its delivery files.
        let good = try artifact("MyApp-1.0.0.exe", seed: 13)
        try dir.write("MyApp-1.0.0-mac.zip", VectorInputs.randomBytes(seed: 15, count: 100_000))
        #expect(throws: ReleaseError.self) { try create("1.0.0", [good, zip], at: 1) }
        let after = try FileManager.default.contentsOfDirectory(atPath: "\(site)/releases/1.0.0").sorted()
        #expect(after == before, "left behind: \(after)")
    }

    @Test func artifactsAreImmutableButReAddingIsANoOp() throws {
        let exe = try artifact("MyApp-1.0.0.exe", seed: 10)
        _ = try create("1.0.0", [exe])
        _ = try ChannelEditor.stage(root: site, channel: "latest", percent: 40)
        let again = try create("1.0.0", [exe], at: 5)
        #expect(again.unchanged == ["MyApp-1.0.0.exe"])
        #expect(try channel("latest.yml").info.stagingPercentage == 40)   // the rollout stage is kept
        #expect(try channel("beta.yml").info.stagingPercentage == nil)
        // Another platform added to the same version in a later run.
        let zip = try artifact("MyApp-1.0.0-mac.zip", seed: 11)
        let mac = try create("1.0.0", [zip], at: 6)
        #expect(mac.channelFiles.map(\.file).sorted() == ["alpha-mac.yml", "beta-mac.yml", "latest-mac.yml"])
        let manifest = try #require(try ReleaseManifest.load(root: site, version: "1.0.0"))
        #expect(manifest.artifacts.map(\.name) == ["MyApp-1.0.0.exe", "MyApp-1.0.0-mac.zip"])
        #expect(manifest.createdAt == "2026-01-01T00:00:00.000Z")
        #expect(manifest.updatedAt == "2026-01-01T00:00:06.000Z")
        #expect(String(decoding: try FileInput.readAll(path: "\(site)/releases/1.0.0/SHA256SUMS"), as: UTF8.self).split(separator: "\n").count == 6)

        // Different bytes under a released name: refused, and the published copy is untouched.
        let published = try FileHasher.hash(path: "\(site)/releases/1.0.0/MyApp-1.0.0.exe")
        try dir.write("MyApp-1.0.0.exe", VectorInputs.randomBytes(seed: 99, count: 200_000))
        expectReleaseError(.cannotCreate) { () throws(ReleaseError) in try create("1.0.0", [exe], at: 7) }
        #expect(try FileHasher.hash(path: "\(site)/releases/1.0.0/MyApp-1.0.0.exe") == published)
    }

    @Test func rejectsBadInputBeforeWriting() throws {
        let exe = try artifact("MyApp.exe", seed: 12)
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("v1.0.0", [exe]) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("1.0", [exe]) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("1.0.0", [exe], channel: "Beta") }
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("1.0.0", [exe], staging: 101) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("1.0.0", [try! artifact("notes.tar.gz", seed: 1)]) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("1.0.0", [try! artifact("a#b.exe", seed: 1)]) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try create("1.0.0", [exe, exe]) }
        expectReleaseError(.missingInput) { () throws(ReleaseError) in try create("1.0.0", [dir.path("missing.exe")]) }
        expectReleaseError(.missingInput) { () throws(ReleaseError) in try create("1.0.0", [dir.url.path]) }
        #expect(!FileManager.default.fileExists(atPath: site))
    }

    @Test func promoteRollsBackFromTheManifest() throws {
        let key = MetadataSigningKey.generate()
        _ = try create("1.0.0", [try artifact("MyApp-1.0.0.exe", seed: 13), try artifact("MyApp-1.0.0-mac.zip", seed: 14)], key: key)
        let original = try channel("latest.yml").info
        _ = try create("1.1.0", [try artifact("MyApp-1.1.0.exe", seed: 15)], at: 100, staging: 20, key: key)
        #expect(try channel("latest.yml").info.stagingPercentage == 20)

        let later = t0.addingTimeInterval(200)
        let result = try ChannelEditor.promote(root: site, version: "1.0.0", channel: "latest", signingKey: key, now: later)
        #expect(result.channelFiles.map(\.file) == ["latest.yml", "latest-mac.yml"])
        #expect(result.channelFiles[0].previousVersion == "1.1.0")
        #expect(result.channelFiles[0].previousStagingPercentage == 20)
        var rolledBack = try channel("latest.yml").info
        #expect(rolledBack.releaseDate == "2026-01-01T00:03:20.000Z")
        rolledBack.releaseDate = original.releaseDate
        #expect(rolledBack == original)
        #expect(try channel("beta.yml").info.version == "1.1.0")

        // A client that saw 1.1.0 accepts the signed rollback, but not a replay of the 1.0.0 file.
        var state = MetadataVerifierState()
        state.channelFiles["latest.yml"] = SeenMetadata(version: "1.1.0", releaseDate: "2026-01-01T00:01:40.000Z")
        let verifier = MetadataVerifier(publicKey: key.publicKey)
        let bytes = try FileInput.readAll(path: "\(site)/latest.yml")
        let sig = String(decoding: try FileInput.readAll(path: "\(site)/latest.yml.sig"), as: UTF8.self)
        #expect(try verifier.verify(name: "latest.yml", content: bytes, signature: sig, state: &state).version == "1.0.0")

        // Unsigned rewrites of signed files are refused; unknown versions are reported.
        expectReleaseError(.usage) { () throws(ReleaseError) in try ChannelEditor.promote(root: site, version: "1.1.0", channel: "latest") }
        let missing = expectReleaseError(.missingInput) { () throws(ReleaseError) in
            try ChannelEditor.promote(root: site, version: "3.0.0", channel: "latest", signingKey: key)
        }
        #expect(missing?.message.contains("1.0.0, 1.1.0") == true)
    }

    @Test func promoteWarnsAboutPlatformsTheVersionLacks() throws {
        _ = try create("1.0.0", [try artifact("MyApp-1.0.0.exe", seed: 16), try artifact("MyApp-1.0.0.AppImage", seed: 17)])
        _ = try create("1.1.0", [try artifact("MyApp-1.1.0.exe", seed: 18)], at: 10)
        _ = try create("1.2.0-beta.1", [try artifact("MyApp-1.2.0-beta.1.exe", seed: 19)], at: 20)
        let result = try ChannelEditor.promote(root: site, version: "1.2.0-beta.1", channel: "latest", now: t0.addingTimeInterval(30))
        #expect(result.channelFiles.map(\.file) == ["latest.yml"])
        #expect(result.warnings == ["latest-linux.yml left at 1.0.0: 1.2.0-beta.1 has no artifacts for it"])
        #expect(try channel("latest.yml").info.version == "1.2.0-beta.1")
    }

    @Test func stageChangesOnlyThePercentage() throws {
        _ = try create("1.0.0", [try artifact("MyApp-1.0.0.exe", seed: 20), try artifact("MyApp-1.0.0-mac.zip", seed: 21)])
        let before = try channel("latest-mac.yml").info
        let result = try ChannelEditor.stage(root: site, channel: "latest", percent: 10)
        #expect(result.channelFiles.map(\.file) == ["latest-mac.yml", "latest.yml"])
        var after = try channel("latest-mac.yml").info
        #expect(after.stagingPercentage == 10)
        after.stagingPercentage = nil
        #expect(after == before)
        #expect(try channel("beta.yml").info.stagingPercentage == nil)
        _ = try ChannelEditor.stage(root: site, channel: "latest", percent: 100)
        #expect(try channel("latest.yml").info.stagingPercentage == nil)
        #expect(!String(decoding: try FileInput.readAll(path: "\(site)/latest.yml"), as: UTF8.self).contains("stagingPercentage"))
        expectReleaseError(.missingInput) { () throws(ReleaseError) in try ChannelEditor.stage(root: site, channel: "nightly", percent: 5) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try ChannelEditor.stage(root: site, channel: "latest", percent: 150) }

        // A hand-edited fractional value is reported (electron-updater truncates it).
        let text = String(decoding: try FileInput.readAll(path: "\(site)/latest.yml"), as: UTF8.self)
        try AtomicFileWriter.write(Array(text.replacingOccurrences(of: "releaseDate:", with: "stagingPercentage: 0.5\nreleaseDate:").utf8), to: "\(site)/latest.yml")
        let restaged = try ChannelEditor.stage(root: site, channel: "latest", percent: 30)
        #expect(restaged.warnings.contains { $0.contains("latest.yml") && $0.contains("truncates it to 0") })
        #expect(try channel("latest.yml").info.stagingPercentage == 30)
    }
}
