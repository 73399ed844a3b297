@testable import BlockyardAgent
import Testing

@Suite("agent: update decision")
struct UpdateDecisionTests {
    static let inside = "0f0c6a0e-3b1f-4c1a-9e21-000000000000"
    static let outside = "0f0c6a0e-3b1f-4c1a-9e21-0000ffffffff"

    static func installed(_ version: String, channel: String = "latest") -> InstalledVersion {
        InstalledVersion(version: version, channel: channel, files: [], installedAt: "2026-01-01T00:00:00.000Z")
    }

    func decide(_ offered: String, installed: String?, channel: String = "latest", installedChannel: String = "latest",
                staging: Int? = nil, id: String = inside, skip: [String] = [], downgrade: Bool = false) -> UpdateDecision.Outcome {
        UpdateDecision.decide(offered: offered, stagingPercentage: staging,
                              installed: installed.map { Self.installed($0, channel: installedChannel) },
                              channel: channel, stagingID: id, skipVersions: skip, allowDowngrade: downgrade).outcome
    }

    @Test func versions() {
        #expect(decide("1.1.0", installed: "1.0.0") == .updateAvailable)
        #expect(decide("1.1.0", installed: nil) == .updateAvailable)
        #expect(decide("1.0.0", installed: "1.0.0") == .upToDate)
        #expect(decide("1.0.0+build.5", installed: "1.0.0") == .upToDate) // build metadata does not count
        #expect(decide("1.1.0-beta.1", installed: "1.1.0-alpha.3") == .updateAvailable)
        #expect(decide("1.0.0", installed: "1.0.0-rc.1") == .updateAvailable)
        #expect(decide("v1.2", installed: "1.0.0") == .invalidVersion)
    }

    @Test func skipList() {
        #expect(decide("1.1.0", installed: "1.0.0", skip: ["1.1.0"]) == .skipped)
        #expect(decide("1.1.1", installed: "1.0.0", skip: ["1.1.0"]) == .updateAvailable)
    }

    @Test func downgrades() {
        #expect(decide("1.0.0", installed: "1.1.0") == .downgradeRefused)
        #expect(decide("1.0.0", installed: "1.1.0", downgrade: true) == .updateAvailable)
        // After a channel change (beta → latest) the older stable release is offered.
        #expect(decide("1.0.0", installed: "1.1.0-beta.2", channel: "latest", installedChannel: "beta") == .updateAvailable)
    }

    @Test func stagedRollout() {
        #expect(decide("1.1.0", installed: "1.0.0", staging: 50, id: Self.inside) == .updateAvailable)
        #expect(decide("1.1.0", installed: "1.0.0", staging: 50, id: Self.outside) == .notInRollout)
        #expect(decide("1.1.0", installed: "1.0.0", staging: 0, id: Self.inside) == .notInRollout)
        #expect(decide("1.1.0", installed: "1.0.0", staging: 100, id: "0f0c6a0e-3b1f-4c1a-9e21-0000fffffffe") == .updateAvailable)
        // electron-updater's rule: position 0xffffffff is 1.0, never below 100 %.
        #expect(decide("1.1.0", installed: "1.0.0", staging: 100, id: Self.outside) == .notInRollout)
        // 0x7fffffff / 0xffffffff is just under one half.
        #expect(decide("1.1.0", installed: "1.0.0", staging: 50, id: "0f0c6a0e-3b1f-4c1a-9e21-00007fffffff") == .updateAvailable)
        #expect(decide("1.1.0", installed: "1.0.0", staging: 50, id: "0f0c6a0e-3b1f-4c1a-9e21-000080000000") == .notInRollout)
    }
}

@Suite("agent: configuration")
struct AgentConfigTests {
    @Test func defaultsAndRoundTrip() throws {
        var config = AgentConfig(feed: "http://127.0.0.1:8080/", installPath: "/opt/app/app.bin")
        try config.configure("skip_versions=1.2.0, 1.3.0")
        try config.configure("health_cmd=/usr/bin/true --check")
        try config.configure("update_channel=beta")
        #expect(config.channel == "beta")
        let text = String(decoding: config.encoded(), as: UTF8.self)
        #expect(text.hasPrefix("{\n  \"auto_check\": true,\n  \"auto_download\": false,\n  \"auto_install\": false,\n  \"update_channel\": \"beta\",\n  \"skip_versions\": [\"1.2.0\",\"1.3.0\"]"))
        let decoded = try AgentConfig.decode(config.encoded(), path: "config.json")
        #expect(decoded == config)
    }

    @Test func invalidValuesNameTheKey() {
        var config = AgentConfig(feed: "http://x/", installPath: "/x")
        let cases: [(String, String)] = [
            ("backup_count=1.5", "backup_count must be a whole number"),
            ("check_interval_s=0", "check_interval_s must be a whole number from 1"),
            ("auto_check=1", "auto_check must be true or false"),
            ("kind=tarball", "kind must be file or bundle"),
            ("platform=amiga", "platform must be win, mac or linux"),
            ("file=../x", "file must be a file name"),
            ("last_check=yesterday", "last_check must be an ISO 8601 time"),
            ("public_key=not-a-key", "public_key"),
            ("nonsense", "is not KEY=VALUE"),
        ]
        for (assignment, message) in cases {
            do {
                try config.configure(assignment)
                Issue.record("\(assignment) accepted")
            } catch {
                #expect(error.kind == .usage)
                #expect(error.message.contains(message), "\(assignment): \(error.message)")
            }
        }
        #expect(config == AgentConfig(feed: "http://x/", installPath: "/x"))
    }

    @Test func brokenFiles() {
        for (text, message) in [("{", "not valid JSON"), ("[]", "expected a JSON object"),
                                (#"{"install_path": "/x"}"#, "feed is missing"),
                                (#"{"feed": "http://x/", "install_path": "/x", "extra": 1}"#, "unknown key")] {
            do {
                _ = try AgentConfig.decode(Array(text.utf8), path: "config.json")
                Issue.record("\(text) accepted")
            } catch {
                #expect(error.kind == .invalidData)
                #expect(error.message.contains(message), "\(text): \(error.message)")
            }
        }
    }
}
