import BlockyardRelease
import Testing

@Suite("Versions, channels and channel file names")
struct NamingTests {
    @Test func semverParsing() {
        #expect(SemanticVersion("1.2.3")?.description == "1.2.3")
        #expect(SemanticVersion("1.2.3-beta.1+build.5")?.prerelease == ["beta", "1"])
        #expect(SemanticVersion("1.2.3-beta.1+build.5")?.build == ["build", "5"])
        for bad in ["1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3-beta..1", "1.2.3-01", "1.2.3+", "1.2.3 ", "a.b.c", ""] {
            #expect(SemanticVersion(bad) == nil, "\(bad)")
        }
    }

    @Test func semverPrecedence() {
        // SemVer 2.0.0 §11's example, in ascending order.
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                       "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"]
        let versions = ordered.map { SemanticVersion($0)! }
        for i in versions.indices {
            for j in versions.indices {
                #expect((versions[i] < versions[j]) == (i < j), "\(ordered[i]) vs \(ordered[j])")
            }
        }
        #expect(SemanticVersion("1.0.0+a") == SemanticVersion("1.0.0+b"))
    }

    @Test func channelFileNames() {
        #expect(ReleaseTarget(os: .windows, arch: .arm64).channelFileName(channel: "latest") == "latest.yml")
        #expect(ReleaseTarget(os: .mac, arch: .arm64).channelFileName(channel: "beta") == "beta-mac.yml")
        #expect(ReleaseTarget(os: .linux, arch: .x64).channelFileName(channel: "latest") == "latest-linux.yml")
        #expect(ReleaseTarget(os: .linux).channelFileName(channel: "latest") == "latest-linux.yml")
        #expect(ReleaseTarget(os: .linux, arch: .arm64).channelFileName(channel: "latest") == "latest-linux-arm64.yml")
        #expect(ReleaseTarget(os: .linux, arch: .armv7l).channelFileName(channel: "alpha") == "alpha-linux-arm.yml")
        #expect(ReleaseTarget(os: .linux, arch: .ia32).channelFileName(channel: "latest") == "latest-linux-ia32.yml")
    }

    @Test func detectsTargetsFromFileNames() {
        let cases: [(String, ReleaseOS?, ReleaseArch?)] = [
            ("MyApp Setup 1.2.0.exe", .windows, nil),
            ("MyApp-Setup-1.2.0-arm64.exe", .windows, .arm64),
            ("MyApp-1.2.0-ia32.msi", .windows, .ia32),
            ("MyApp-1.2.0-mac.zip", .mac, nil),
            ("MyApp-1.2.0-arm64-mac.zip", .mac, .arm64),
            ("MyApp-1.2.0-universal.dmg", .mac, .universal),
            ("MyApp-1.2.0.AppImage", .linux, nil),
            ("MyApp-1.2.0-arm64.AppImage", .linux, .arm64),
            ("MyApp-1.2.0-armv7l.AppImage", .linux, .armv7l),
            ("myapp_1.2.0_amd64.deb", .linux, .x64),
            ("myapp-1.2.0.x86_64.rpm", .linux, .x64),
            ("myapp-1.2.0.aarch64.rpm", .linux, .arm64),
            ("myapp_1.2.0_armhf.deb", .linux, .armv7l),
            ("notes.tar.gz", nil, nil),
            ("darm64x.AppImage", .linux, nil),
        ]
        for (name, os, arch) in cases {
            #expect(ReleaseTarget.detectOS(fileName: name) == os, "\(name)")
            #expect(ReleaseTarget.detectArch(fileName: name) == arch, "\(name)")
        }
    }

    @Test func fanOutAndDefaultChannel() throws {
        #expect(ReleaseChannel.fanOut("latest") == ["latest", "beta", "alpha"])
        #expect(ReleaseChannel.fanOut("beta") == ["beta", "alpha"])
        #expect(ReleaseChannel.fanOut("alpha") == ["alpha"])
        #expect(ReleaseChannel.fanOut("nightly") == ["nightly"])
        #expect(ReleaseChannel.defaultChannel(for: SemanticVersion("1.2.0")!) == "latest")
        #expect(ReleaseChannel.defaultChannel(for: SemanticVersion("1.2.0-beta.3")!) == "beta")
        #expect(ReleaseChannel.defaultChannel(for: SemanticVersion("1.2.0-alpha")!) == "alpha")
        #expect(ReleaseChannel.defaultChannel(for: SemanticVersion("1.2.0-0")!) == "latest")
        try ReleaseChannel.validate("latest")
        for bad in ["Latest", "beta-mac", "", "1beta", "a b"] {
            expectReleaseError(.usage) { () throws(ReleaseError) in try ReleaseChannel.validate(bad) }
        }
    }

    @Test func recognisesChannelFiles() {
        #expect(ReleaseLayout.channel(ofChannelFile: "latest.yml") == "latest")
        #expect(ReleaseLayout.channel(ofChannelFile: "beta-mac.yml") == "beta")
        #expect(ReleaseLayout.channel(ofChannelFile: "alpha-linux.yml") == "alpha")
        #expect(ReleaseLayout.channel(ofChannelFile: "latest-linux-arm64.yml") == "latest")
        #expect(ReleaseLayout.channel(ofChannelFile: "latest.yml.sig") == nil)
        #expect(ReleaseLayout.channel(ofChannelFile: "app-update.yaml") == nil)
        #expect(ReleaseLayout.channel(ofChannelFile: "Weird Name.yml") == nil)
    }

    @Test func stagingPercentages() throws {
        #expect(try StagingPercentage.parse("10") == 10)
        #expect(try StagingPercentage.parse("100%") == 100)
        let fraction = expectReleaseError(.usage) { () throws(ReleaseError) in try StagingPercentage.parse("12.5") }
        #expect(fraction?.message.contains("parseInt") == true)
        #expect(fraction?.message.contains("12%") == true)
        expectReleaseError(.usage) { () throws(ReleaseError) in try StagingPercentage.parse("101") }
        expectReleaseError(.usage) { () throws(ReleaseError) in try StagingPercentage.parse("-1") }
        expectReleaseError(.usage) { () throws(ReleaseError) in try StagingPercentage.parse("ten") }
    }
}
