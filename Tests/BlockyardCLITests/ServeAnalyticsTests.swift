import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

/// `blockyard serve --analytics DIR` as a user runs it: the counts survive a restart, DIR
/// holds no address, User-Agent or staging id, and the dashboard renders in headless Chromium.
@Suite("serve: analytics command")
struct ServeAnalyticsTests {
    /// Two releases of one installer, 2.0.0 sharing most bytes with 2.1.0.
    static func releases(_ dir: TemporaryDirectory) throws -> String {
        let root = dir.path("site")
        var bytes = VectorInputs.randomBytes(seed: 7, count: 600_000)
        for version in ["2.0.0", "2.1.0"] {
            if version == "2.1.0" { bytes.replaceSubrange(300_000..<300_016, with: [UInt8](repeating: 9, count: 16)) }
            let input = try dir.write("MyApp-Setup-\(version).exe", bytes)
            let created = try CommandRunner.run(["release", "create", "--version", version, "--out", root, input])
            try #require(created.status == 0, "\(created.stderr)")
        }
        return root
    }

    static let userAgent = "PrivacyProbe/9.9 (marker-7f3a9c)"
    static let stagingID = "5b3f0e2a-1c4d-5e6f-8a9b-0c1d00c0ffee"

    /// An update's requests as electron-updater sends them: channel file, new and old
    /// blockmap, a range of the new installer.
    static func update(_ base: String) throws {
        let headers = ["User-Agent": userAgent]
        #expect(try ServeCommandTests.get(base + "latest.yml?noCache=1", headers: headers.merging(["x-user-staging-id": stagingID]) { $1 }).status == 200)
        #expect(try ServeCommandTests.get(base + "releases/2.1.0/MyApp-Setup-2.1.0.exe.blockmap", headers: headers).status == 200)
        #expect(try ServeCommandTests.get(base + "releases/2.0.0/MyApp-Setup-2.0.0.exe.blockmap", headers: headers).status == 200)
        #expect(try ServeCommandTests.get(base + "releases/2.1.0/MyApp-Setup-2.1.0.exe", headers: headers.merging(["Range": "bytes=299008-364543"]) { $1 }).status == 206)
        #expect(try ServeCommandTests.get(base + "releases/2.0.0/MyApp-Setup-2.0.0.exe", headers: ["User-Agent": "Mozilla/5.0 browser-marker-51d2"]).status == 200)
    }

    static func analytics(_ base: String) throws -> [String: Any] {
        let response = try ServeCommandTests.get(base + "api/analytics")
        try #require(response.status == 200)
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    @Test func survivesRestartAndKeepsNoClientData() throws {
        let dir = try TemporaryDirectory()
        let root = try Self.releases(dir)
        let store = dir.path("analytics")
        let first = try ServeCommandTests.serve(["--root", root, "--analytics", store])
        #expect(first.listening["analytics"] as? String == store)
        try Self.update(first.baseURL)
        // Stopped with SIGTERM before the next batched write: the counts are written on the way out.
        #expect(first.stop() == 0)

        let second = try ServeCommandTests.serve(["--root", root, "--analytics", store])
        let json = try Self.analytics(second.baseURL)
        let versions = try #require(json["versions"] as? [[String: Any]])
        let v210 = try #require(versions.first { $0["version"] as? String == "2.1.0" })
        #expect(v210["differential_updates"] as? Int == 1)
        #expect(v210["bytes_served"] as? Int == 65_536)
        let size = try Data(contentsOf: URL(fileURLWithPath: root + "/releases/2.1.0/MyApp-Setup-2.1.0.exe")).count
        #expect(v210["bytes_saved"] as? Int == size - 65_536)
        let v200 = try #require(versions.first { $0["version"] as? String == "2.0.0" })
        #expect(v200["full_downloads"] as? Int == 1)
        let transitions = try #require(json["transitions"] as? [[String: Any]])
        #expect(transitions.count == 1)
        #expect(transitions.first?["from"] as? String == "2.0.0")
        #expect(transitions.first?["to"] as? String == "2.1.0")
        // More events after the restart add to the stored ones.
        try Self.update(second.baseURL)
        let again = try Self.analytics(second.baseURL)
        let v210b = try #require((again["versions"] as? [[String: Any]])?.first { $0["version"] as? String == "2.1.0" })
        #expect(v210b["differential_updates"] as? Int == 2)
        #expect(second.stop() == 0)

        // The privacy rule: the raw bytes of every file in DIR.
        let names = try FileManager.default.contentsOfDirectory(atPath: store)
        #expect(names.contains("data.mdb"))
        for name in names {
            let raw = try Data(contentsOf: URL(fileURLWithPath: store + "/" + name))
            for secret in ["127.0.0.1", "marker-7f3a9c", "PrivacyProbe", "browser-marker-51d2", "Mozilla", Self.stagingID, "c0ffee"] {
                #expect(raw.range(of: Data(secret.utf8)) == nil, "\(name) contains \(secret)")
            }
            // An address in binary form neither.
            #expect(raw.range(of: Data([127, 0, 0, 1])) == nil, "\(name) contains 127.0.0.1 as bytes")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb")).range(of: Data("2.1.0".utf8)) != nil,
                "the counts are there")
    }

    @Test func refusesAnOpenDashboardWithoutAToken() throws {
        let dir = try TemporaryDirectory()
        let root = try Self.releases(dir)
        let open = try CommandRunner.run(["serve", "--root", root, "--analytics", dir.path("a"), "--host", "0.0.0.0", "--port", "0"])
        #expect(open.status == 64)
        #expect(open.stderr.contains("--analytics-token-file"))
        let short = try dir.write("token", Array("short\n".utf8))
        let weak = try CommandRunner.run(["serve", "--root", root, "--analytics", dir.path("a"), "--analytics-token-file", short, "--port", "0"])
        #expect(weak.status == 64)
        let missing = try CommandRunner.run(["serve", "--root", root, "--analytics", dir.path("a"), "--analytics-token-file", dir.path("nope"), "--port", "0"])
        #expect(missing.status == 66)
        let file = try dir.write("file", [1])
        let notDir = try CommandRunner.run(["serve", "--root", root, "--analytics", file, "--port", "0"])
        #expect(notDir.status == 64)
        let help = try CommandRunner.run(["serve", "--help"])
        #expect(help.stdout.contains("--analytics <DIR>"))
        #expect(help.stdout.contains("UPDATE ANALYTICS"))
    }

    @Test func updateCommandNamesTheInstalledVersion() throws {
        let dir = try TemporaryDirectory()
        let root = try Self.releases(dir)
        let serve = try ServeCommandTests.serve(["--root", root, "--analytics", dir.path("analytics")])
        let updated = try CommandRunner.run(["update", "--feed", serve.baseURL, "--installed", dir.path("MyApp-Setup-2.0.0.exe"),
                                             "--out", dir.path("new.exe"), "--platform", "win", "--installed-version", "2.0.0", "--json"])
        #expect(updated.status == 0, "\(updated.stderr)")
        let json = try Self.analytics(serve.baseURL)
        let transitions = try #require(json["transitions"] as? [[String: Any]])
        #expect(transitions.count == 1)
        #expect(transitions.first?["from"] as? String == "2.0.0")
        #expect(transitions.first?["to"] as? String == "2.1.0")
        #expect(transitions.first?["differential"] as? Int == 1)
        let bad = try CommandRunner.run(["update", "--feed", serve.baseURL, "--installed", dir.path("MyApp-Setup-2.0.0.exe"),
                                         "--out", dir.path("new2.exe"), "--installed-version", "2.0.0 <x>"])
        #expect(bad.status == 64)
        #expect(serve.stop() == 0)
    }

    @Test func dashboardRendersInChromium() throws {
        guard let chromium = ServePageBrowserTests.chromium else {
            Issue.record("headless Chromium is needed for this test and is not installed: apt-get install chromium fonts-dejavu-core (tools/setup installs them)")
            return
        }
        let dir = try TemporaryDirectory()
        let root = try Self.releases(dir)
        let serve = try ServeCommandTests.serve(["--root", root, "--analytics", dir.path("analytics"), "--product-name", "MyApp"])
        try Self.update(serve.baseURL)
        let url = serve.baseURL + "analytics"
        let profile = try TemporaryDirectory("chromium-profile")
        let (domStatus, dom) = try ServePageBrowserTests.runChromium(chromium, ["--dump-dom", url], profile: profile.url.path)
        #expect(domStatus == 0)
        #expect(dom.contains("<title>MyApp — Update analytics</title>"), "\(dom.prefix(400))")
        #expect(dom.contains(#"<svg id="adoption-chart""#))
        #expect(dom.contains(#"<polyline class="s0""#))
        #expect(dom.contains(#"id="transitions""#))
        #expect(dom.contains("100.0 %"), "one differential update, no fallback")

        let screenshot = CommandRunner.binary.deletingLastPathComponent().appendingPathComponent("serve-analytics-screenshot.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let (shotStatus, _) = try ServePageBrowserTests.runChromium(chromium, ["--window-size=1280,1200", "--screenshot=\(screenshot)", url],
                                                                    profile: profile.url.path)
        #expect(shotStatus == 0)
        let png = try Array(Data(contentsOf: URL(fileURLWithPath: screenshot)))
        let image = try #require(PNGImage(png), "not a PNG Chromium would write")
        #expect(image.width == 1280)
        let stats = image.colorStatistics()
        #expect(stats.distinctColors >= 16, "a blank page has one or two colours, this one \(stats.distinctColors)")
        #expect(stats.nonBackgroundFraction > 0.01)
        #expect(serve.stop() == 0)
    }
}
