@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

@Suite("serve: staged rollout and metrics")
struct ServerStagedRolloutTests {
    /// Last 8 hex digits 0x00000001: inside any rollout above 0 %.
    static let insider = "5b3f0e2a-1c4d-5e6f-8a9b-0c1d00000001"
    /// Last 8 hex digits 0xf0000000 (94 %): outside a 50 % rollout.
    static let outsider = "5b3f0e2a-1c4d-5e6f-8a9b-0c1df0000000"

    @Test("Users outside stagingPercentage get the previous release's channel file")
    func serverSideStaging() async throws {
        let fixture = try ReleaseFixture(stagingPercentage: 50)
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root, stagedRollout: true))
        for name in ["latest.yml", "latest-mac.yml", "latest-linux.yml", "beta.yml"] {
            let current = try fixture.bytes(name)
            let inside = try await fetch(server.port, "GET", "/\(name)?noCache=1", headers: ElectronUpdaterRequest.channelFile(stagingID: Self.insider))
            #expect(inside.status == 200)
            #expect(inside.body == current)
            #expect(inside.header("Vary") == "x-user-staging-id")
            #expect(inside.header("Cache-Control") == "no-cache")

            let outside = try await fetch(server.port, "GET", "/\(name)?noCache=1", headers: ElectronUpdaterRequest.channelFile(stagingID: Self.outsider))
            #expect(outside.status == 200)
            let previous = try ChannelDocument(bytes: outside.body).info
            #expect(previous.version == "1.0.0")
            #expect(previous.stagingPercentage == nil)
            #expect(outside.header("ETag") != inside.header("ETag"))
            #expect(outside.header("Vary") == "x-user-staging-id")
            // The previous release's files are what 1.0.0's own channel file listed.
            let manifest = try fixture.manifest("1.0.0")
            for file in previous.files {
                let artifact = try #require(manifest.artifacts.first { file.url == "releases/1.0.0/\($0.name)" })
                #expect(file.sha512 == artifact.sha512)
                #expect(file.size == artifact.size)
                let served = try await fetch(server.port, "HEAD", "/" + file.url)
                #expect(served.status == 200)
            }

            // No staging id, or one that is not a UUID: the current file (the client decides).
            let anonymous = try await fetch(server.port, "GET", "/\(name)")
            #expect(anonymous.body == current)
            let invalid = try await fetch(server.port, "GET", "/\(name)", headers: [("x-user-staging-id", "not-a-uuid")])
            #expect(invalid.body == current)
        }
        // The staging decisions are counted.
        let metrics = try await fetch(server.port, "GET", "/metrics").text
        #expect(metrics.contains(#"blockyard_staged_rollout_responses_total{decision="in"} 4"#))
        #expect(metrics.contains(#"blockyard_staged_rollout_responses_total{decision="out"} 4"#))
        #expect(metrics.contains(#"blockyard_staged_rollout_responses_total{decision="invalid_id"} 4"#))
    }

    @Test("Without --staged-rollout, or for signed channel files, everyone gets the current file")
    func stagingOffOrSigned() async throws {
        let fixture = try ReleaseFixture(stagingPercentage: 50)
        let current = try fixture.bytes("latest.yml")
        let plain = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let off = try await fetch(plain.port, "GET", "/latest.yml", headers: ElectronUpdaterRequest.channelFile(stagingID: Self.outsider))
        #expect(off.body == current)
        #expect(off.header("Vary") == nil)

        try fixture.directory.write("latest.yml.sig", Array("c2lnbmF0dXJl\n".utf8))
        let staged = try await RunningServer.start(ServeConfiguration(root: fixture.root, stagedRollout: true))
        #expect(staged.server.stagedSignedChannelFilesWithoutFallback == ["latest.yml"])
        let signed = try await fetch(staged.port, "GET", "/latest.yml", headers: ElectronUpdaterRequest.channelFile(stagingID: Self.outsider))
        #expect(signed.body == current)
        let metrics = try await fetch(staged.port, "GET", "/metrics").text
        #expect(metrics.contains(#"blockyard_staged_rollout_responses_total{decision="signed_no_fallback"} 1"#))
        let unsigned = try await fetch(staged.port, "GET", "/latest-mac.yml", headers: ElectronUpdaterRequest.channelFile(stagingID: Self.outsider))
        #expect(try ChannelDocument(bytes: unsigned.body).info.version == "1.0.0")
    }

    @Test("Signed and staged: outside the rollout, the publisher's signed fallback and its signature")
    func signedFallback() async throws {
        let key = MetadataSigningKey.generate()
        let fixture = try ReleaseFixture(stagingPercentage: 50, signingKey: key)
        // release create wrote a signed fallback beside every staged channel file: 1.0.0's.
        for name in ["latest.yml", "latest-mac.yml", "latest-linux.yml", "beta.yml"] {
            let fallback = try fixture.bytes(name + ".previous")
            #expect(try ChannelDocument(bytes: fallback).info.version == "1.0.0")
            #expect(try ChannelDocument(bytes: fallback).info.stagingPercentage == nil)
            let signature = try String(decoding: fixture.bytes(name + ".previous.sig"), as: UTF8.self)
            let raw = try #require(ChannelFileSignature.parse(signature))
            #expect(key.publicKey.isValidSignature(raw, for: ChannelFileSignature.message(name: name, content: fallback)))
        }
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root, stagedRollout: true))
        #expect(server.server.stagedSignedChannelFilesWithoutFallback.isEmpty)
        let outside = ElectronUpdaterRequest.channelFile(stagingID: Self.outsider)
        let inside = ElectronUpdaterRequest.channelFile(stagingID: Self.insider)
        let outFile = try await fetch(server.port, "GET", "/latest-linux.yml?noCache=1", headers: outside)
        let outSignature = try await fetch(server.port, "GET", "/latest-linux.yml.sig", headers: outside)
        #expect(outFile.body == (try fixture.bytes("latest-linux.yml.previous")))
        #expect(outSignature.body == (try fixture.bytes("latest-linux.yml.previous.sig")))
        #expect(outFile.header("Vary") == "x-user-staging-id" && outSignature.header("Vary") == "x-user-staging-id")
        #expect(outFile.header("Cache-Control") == "no-cache")
        let inFile = try await fetch(server.port, "GET", "/latest-linux.yml", headers: inside)
        let inSignature = try await fetch(server.port, "GET", "/latest-linux.yml.sig", headers: inside)
        #expect(inFile.body == (try fixture.bytes("latest-linux.yml")))
        #expect(inSignature.body == (try fixture.bytes("latest-linux.yml.sig")))
        #expect(outFile.header("ETag") != inFile.header("ETag"))
        let metrics = try await fetch(server.port, "GET", "/metrics").text
        #expect(metrics.contains(#"blockyard_staged_rollout_responses_total{decision="out"} 1"#), "counted on the channel file only")

        // Blockyard's client, verifying signatures: outside it sees 1.0.0, inside 1.1.0, both verified.
        var options = UpdateOptions(feed: "http://127.0.0.1:\(server.port)/", installed: fixture.inputs.path("none"),
                                    out: fixture.inputs.path("out"))
        options.target = ReleaseTarget(os: .linux)
        options.publicKey = key.publicKey
        options.stagingID = Self.outsider
        #expect(try await UpdateClient(options: options).checkChannel().info.version == "1.0.0")
        options.stagingID = Self.insider
        #expect(try await UpdateClient(options: options).checkChannel().info.version == "1.1.0")

        // Full rollout: the fallback goes away, everyone gets the channel file.
        _ = try ChannelEditor.stage(root: fixture.root, channel: "latest", percent: 100, signingKey: key)
        #expect(!FileManager.default.fileExists(atPath: fixture.path("latest-linux.yml.previous")))
        #expect(!FileManager.default.fileExists(atPath: fixture.path("latest-linux.yml.previous.sig")))
        options.stagingID = Self.outsider
        #expect(try await UpdateClient(options: options).checkChannel().info.version == "1.1.0")
        // Staged again: written again.
        let staged = try ChannelEditor.stage(root: fixture.root, channel: "latest", percent: 10, signingKey: key)
        #expect(staged.channelFiles.allSatisfy { $0.fallbackVersion == "1.0.0" })
        #expect(try await UpdateClient(options: options).checkChannel().info.version == "1.0.0")
    }

    @Test("A channel file without stagingPercentage is served to everyone")
    func noPercentage() async throws {
        let fixture = try ReleaseFixture()
        // Signed but not staged: nothing to warn about.
        try fixture.directory.write("latest.yml.sig", Array("c2lnbmF0dXJl\n".utf8))
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root, stagedRollout: true))
        #expect(server.server.stagedSignedChannelFilesWithoutFallback.isEmpty)
        let response = try await fetch(server.port, "GET", "/latest.yml", headers: ElectronUpdaterRequest.channelFile(stagingID: Self.outsider))
        #expect(response.body == (try fixture.bytes("latest.yml")))
    }

    @Test("/metrics: requests, bytes, ranges per request, downloads per version")
    func metrics() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let target = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        let size = try fixture.bytes(String(target.dropFirst())).count
        _ = try await fetch(server.port, "GET", target)
        _ = try await fetch(server.port, "GET", target)
        _ = try await fetch(server.port, "GET", target + ".blockmap")
        _ = try await fetch(server.port, "GET", target, headers: [("Range", "bytes=0-9, 20-29, 40-49")])
        _ = try await fetch(server.port, "GET", "/releases/1.0.0/MyApp-Setup-1.0.0.exe", headers: [("Range", "bytes=0-99")])
        _ = try await fetch(server.port, "GET", "/releases/7.7.7/made-up.exe")
        _ = try await fetch(server.port, "HEAD", target)
        let response = try await fetch(server.port, "GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.header("Cache-Control") == "no-store")
        let text = response.text
        for line in [
            #"blockyard_downloads_total{version="1.1.0",kind="full"} 2"#,
            #"blockyard_downloads_total{version="1.1.0",kind="blockmap"} 1"#,
            #"blockyard_http_requests_total{method="GET",status="200"} 3"#,
            #"blockyard_http_requests_total{method="GET",status="206"} 2"#,
            #"blockyard_http_requests_total{method="GET",status="404"} 1"#,
            #"blockyard_http_requests_total{method="HEAD",status="200"} 1"#,
            #"blockyard_version_bytes_total{version="1.0.0"} 100"#,
            "blockyard_http_ranges_per_request_count 2",
            #"blockyard_http_ranges_per_request_bucket{le="1.0"} 1"#,
            #"blockyard_http_ranges_per_request_bucket{le="5.0"} 2"#,
        ] {
            #expect(text.contains(line), "\(line)\n\(text)")
        }
        let versionBytes = try #require(text.split(separator: "\n").first { $0.hasPrefix(#"blockyard_version_bytes_total{version="1.1.0"}"#) })
        let sent = Int(versionBytes.split(separator: " ").last!)!
        #expect(sent > 2 * size && sent < 2 * size + 1000, "two full bodies and a small multipart body")
        #expect(!text.contains("7.7.7"), "made-up versions create no series")
        #expect(text.contains(#"blockyard_http_response_body_bytes_total{kind="artifact"}"#))
    }
}
