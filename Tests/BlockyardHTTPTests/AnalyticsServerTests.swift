@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// `serve --analytics` on 127.0.0.1: the request sequences electron-updater 6.8.9 sends
/// (docs/HTTP-SERVER.md; /work/shared/specs/electron-updater.md) and `blockyard update`,
/// counted by the running server and read back from `/api/analytics`, `/analytics` and
/// `/metrics`.
@Suite("serve: update analytics")
struct AnalyticsServerTests {
    /// A server with analytics in a fresh directory.
    static func start(_ fixture: ReleaseFixture, token: String? = nil, window: Double = 600) async throws -> (RunningServer, TemporaryDirectory) {
        let dir = try TemporaryDirectory("analytics")
        var configuration = ServeConfiguration(root: fixture.root)
        configuration.analytics = AnalyticsConfiguration(directory: dir.path("store"), token: token, window: window, flushInterval: 0.2)
        return (try await RunningServer.start(configuration), dir)
    }

    /// electron-updater's headers with a User-Agent of the simulated client's own (all
    /// clients come from 127.0.0.1).
    static func headers(_ base: [(String, String)], client: String) -> [(String, String)] {
        base.map { $0.0 == "User-Agent" ? ($0.0, "electron-builder \(client)") : $0 }
    }

    enum Mode { case multiRange, singleRange }

    /// electron-updater's differential download of `name` from 1.0.0 to 1.1.0: channel file,
    /// new blockmap, old blockmap (unless cached), then the plan's DOWNLOAD ranges in one
    /// multi-range request per batch or one request per range, stopping after `maxRequests`
    /// range requests when given (a failed download). Returns the artifact bytes received.
    static func electronUpdate(_ port: Int, client: String, name: String = "MyApp-Setup-1.1.0.exe", mode: Mode,
                               fetchOldBlockmap: Bool = true, maxRequests: Int? = nil, fixture: ReleaseFixture) async throws -> Int {
        let connection = try RawConnection(port: port)
        let channel = try await connection.request("GET", "/latest.yml?noCache=\(client)",
                                                   headers: headers(ElectronUpdaterRequest.channelFile(), client: client))
        #expect(channel.status == 200)
        let url = "/releases/1.1.0/\(name)"
        let newBlockmap = try await connection.request("GET", url + ".blockmap", headers: headers(ElectronUpdaterRequest.blockmap, client: client))
        try #require(newBlockmap.status == 200)
        let oldBlockmapBytes: [UInt8]
        if fetchOldBlockmap {
            let old = try await connection.request("GET", url.replacingOccurrences(of: "1.1.0", with: "1.0.0") + ".blockmap",
                                                   headers: headers(ElectronUpdaterRequest.blockmap, client: client))
            try #require(old.status == 200)
            oldBlockmapBytes = old.body
        } else {
            oldBlockmapBytes = try fixture.bytes("releases/1.0.0/\(name.replacingOccurrences(of: "1.1.0", with: "1.0.0")).blockmap")
        }
        let oldSize = try fixture.bytes("releases/1.0.0/\(name.replacingOccurrences(of: "1.1.0", with: "1.0.0"))").count
        let plan = try ElectronUpdaterPlanner.plan(
            target: try BlockmapCodec.decodeGzip(newBlockmap.body),
            seed: PlanSeedInput(path: "old", size: oldSize, blockmap: try BlockmapCodec.decodeGzip(oldBlockmapBytes)),
            options: PlanOptions(mode: .electronUpdater))
        var received = 0
        var requests = 0
        var start = 0
        let ops = plan.operations
        while start < ops.count {
            let batch = Array(ops[start..<min(ops.count, start + ElectronUpdaterPlanner.batchSize)])
            start += batch.count
            let downloads = batch.filter { $0.kind == .fetch }.map { ByteRange(offset: $0.sourceOffset, length: $0.length) }
            if mode == .multiRange && downloads.count >= 2 {
                if let maxRequests, requests >= maxRequests { return received }
                let response = try await connection.request("GET", url, headers: headers(ElectronUpdaterRequest.multiRange(downloads), client: client))
                try #require(response.status == 206)
                received += response.body.count
                requests += 1
            } else {
                for range in downloads {
                    if let maxRequests, requests >= maxRequests { return received }
                    let response = try await connection.request("GET", url, headers: headers(ElectronUpdaterRequest.singleRange(range), client: client))
                    try #require(response.status == 206)
                    received += response.body.count
                    requests += 1
                }
            }
        }
        #expect(requests > 0)
        return received
    }

    /// A plain GET of the whole artifact (electron-updater's fallback, or a browser).
    static func fullDownload(_ port: Int, client: String, _ target: String = "/releases/1.1.0/MyApp-Setup-1.1.0.exe") async throws -> Int {
        let response = try await fetch(port, "GET", target, headers: headers(ElectronUpdaterRequest.fullDownload, client: client))
        try #require(response.status == 200)
        return response.body.count
    }

    /// `/api/analytics`, polled until `done` holds (bytes are counted once a body has been
    /// sent, just after the client has it) or 5 s have passed.
    static func report(_ port: Int, query: String = "", headers: [(String, String)] = [],
                       until done: (AnalyticsReport) -> Bool = { _ in true }) async throws -> AnalyticsReport {
        var last: AnalyticsReport?
        for _ in 0..<50 {
            let response = try await fetch(port, "GET", "/api/analytics" + query, headers: headers)
            try #require(response.status == 200, "\(response.status) \(response.text)")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(response.header("Cache-Control") == "no-store")
            let report = try JSONDecoder().decode(AnalyticsReport.self, from: Data(response.body))
            if done(report) { return report }
            last = report
            try await Task.sleep(for: .milliseconds(100))
        }
        return try #require(last)
    }

    static func size(_ fixture: ReleaseFixture, _ relative: String = "releases/1.1.0/MyApp-Setup-1.1.0.exe") throws -> Int {
        try fixture.bytes(relative).count
    }

    static var today: String { AnalyticsDate.today().description }

    @Test("electron-updater multi-range: one differential update 1.0.0 → 1.1.0, bytes saved, /metrics")
    func multiRange() async throws {
        let fixture = try ReleaseFixture()
        let (server, _) = try await Self.start(fixture)
        let received = try await Self.electronUpdate(server.port, client: "A", mode: .multiRange, fixture: fixture)
        let size = try Self.size(fixture)
        let report = try await Self.report(server.port) { $0.versions.first?.bytesServed == UInt64(received) }
        let v = try #require(report.versions.first { $0.version == "1.1.0" })
        #expect(report.versions.count == 1, "blockmaps of 1.0.0 are not downloads")
        #expect(v.differentialUpdates == 1 && v.fallbacks == 0 && v.fullDownloads == 0)
        #expect(v.bytesServed == UInt64(received))
        #expect(v.bytesSaved == Int64(size - received))
        #expect(received > 0 && received < size, "ranges, not the whole file")
        #expect(report.transitions == [.init(from: "1.0.0", to: "1.1.0", differential: 1, fallbacks: 0)])
        #expect(report.daily == [.init(date: Self.today, version: "1.1.0", updates: 1, downloads: 0)])

        let metrics = try await fetch(server.port, "GET", "/metrics").text
        let lines = metrics.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("blockyard_update_events_total{") && $0.contains("version=\"1.1.0\"") && $0.contains("event=\"differential\"") && $0.hasSuffix(" 1") }, "\(metrics)")
        #expect(lines.contains { $0.hasPrefix("blockyard_update_transitions_total{") && $0.contains("from=\"1.0.0\"") && $0.contains("to=\"1.1.0\"") && $0.contains("result=\"differential\"") && $0.hasSuffix(" 1") })
        #expect(lines.contains { $0.hasPrefix("blockyard_update_full_equivalent_bytes_total{") && $0.hasSuffix(" \(size)") })
        #expect(lines.contains { $0.hasPrefix("blockyard_update_bytes_served_total{") && $0.hasSuffix(" \(received)") })
        await server.stop()
    }

    @Test("electron-updater single-range, with and without fetching the old blockmap: from 1.0.0 and from unknown")
    func singleRange() async throws {
        let fixture = try ReleaseFixture()
        let (server, _) = try await Self.start(fixture)
        let b = try await Self.electronUpdate(server.port, client: "B", mode: .singleRange, fixture: fixture)
        let c = try await Self.electronUpdate(server.port, client: "C", mode: .singleRange, fetchOldBlockmap: false, fixture: fixture)
        let report = try await Self.report(server.port) { $0.versions.first?.bytesServed == UInt64(b + c) }
        let v = try #require(report.versions.first)
        #expect(v.version == "1.1.0" && v.differentialUpdates == 2 && v.fallbacks == 0)
        #expect(v.bytesSaved == Int64(2 * (try Self.size(fixture)) - b - c))
        #expect(report.transitions == [.init(from: "1.0.0", to: "1.1.0", differential: 1, fallbacks: 0),
                                       .init(from: "unknown", to: "1.1.0", differential: 1, fallbacks: 0)])
        await server.stop()
    }

    @Test("Fallback after a failed differential download, and after a missing old blockmap")
    func fallback() async throws {
        let fixture = try ReleaseFixture()
        let (server, _) = try await Self.start(fixture)
        let size = try Self.size(fixture)
        // D: two single ranges, then the download fails: the whole file.
        let ranges = try await Self.electronUpdate(server.port, client: "D", mode: .singleRange, maxRequests: 2, fixture: fixture)
        let whole = try await Self.fullDownload(server.port, client: "D")
        #expect(whole == size)
        // E: the old blockmap is missing (404), so no range at all, then the whole file.
        let blockmap = try await fetch(server.port, "GET", "/releases/1.1.0/MyApp-Setup-1.1.0.exe.blockmap",
                                       headers: Self.headers(ElectronUpdaterRequest.blockmap, client: "E"))
        #expect(blockmap.status == 200)
        let missing = try await fetch(server.port, "GET", "/releases/0.9.0/MyApp-Setup-0.9.0.exe.blockmap",
                                      headers: Self.headers(ElectronUpdaterRequest.blockmap, client: "E"))
        #expect(missing.status == 404)
        _ = try await Self.fullDownload(server.port, client: "E")
        let served = UInt64(ranges + 2 * size)
        let report = try await Self.report(server.port) { $0.versions.first?.bytesServed == served }
        let v = try #require(report.versions.first)
        #expect(v.differentialUpdates == 2 && v.fallbacks == 2 && v.fullDownloads == 0, "\(v)")
        #expect(v.bytesServed == served)
        #expect(v.bytesSaved == -Int64(ranges), "a fallback costs the ranges on top of the full file")
        #expect(report.transitions == [.init(from: "1.0.0", to: "1.1.0", differential: 1, fallbacks: 1),
                                       .init(from: "unknown", to: "1.1.0", differential: 1, fallbacks: 1)])
        #expect(report.daily == [.init(date: Self.today, version: "1.1.0", updates: 2, downloads: 0)])
        await server.stop()
    }

    @Test("Embedded blockmap (AppImage): the tail range, then ranges")
    func embedded() async throws {
        let fixture = try ReleaseFixture()
        let (server, _) = try await Self.start(fixture)
        let manifest = try fixture.manifest("1.1.0")
        let appImage = try #require(manifest.artifacts.first { $0.name.hasSuffix(".AppImage") })
        let blockMapSize = try #require(appImage.blockMapSize)
        let url = "/releases/1.1.0/\(appImage.name)"
        let connection = try RawConnection(port: server.port)
        let tailRange = ByteRange(offset: appImage.size - blockMapSize - 4, length: blockMapSize + 4)
        var received = 0
        for range in [tailRange, ByteRange(offset: 0, length: 20_000), ByteRange(offset: 100_000, length: 5_000)] {
            let response = try await connection.request("GET", url, headers: Self.headers(ElectronUpdaterRequest.singleRange(range), client: "F"))
            try #require(response.status == 206)
            received += response.body.count
        }
        // Another client resuming a download with a range: not an update.
        let resume = try await fetch(server.port, "GET", url, headers: Self.headers(ElectronUpdaterRequest.singleRange(ByteRange(offset: 10, length: 10)), client: "G"))
        #expect(resume.status == 206)
        let report = try await Self.report(server.port) { $0.versions.first?.bytesServed == UInt64(received) }
        let v = try #require(report.versions.first)
        #expect(v.differentialUpdates == 1 && v.bytesServed == UInt64(received))
        #expect(v.bytesSaved == Int64(appImage.size - received))
        #expect(report.transitions == [.init(from: "unknown", to: "1.1.0", differential: 1, fallbacks: 0)])
        await server.stop()
    }

    @Test("Full downloads: per client, retries and HEAD not counted twice, per version and day")
    func fullDownloads() async throws {
        let fixture = try ReleaseFixture()
        let (server, _) = try await Self.start(fixture)
        _ = try await Self.fullDownload(server.port, client: "H")
        _ = try await Self.fullDownload(server.port, client: "H")
        _ = try await Self.fullDownload(server.port, client: "I")
        _ = try await Self.fullDownload(server.port, client: "I", "/releases/1.0.0/MyApp-Setup-1.0.0.exe")
        let head = try await fetch(server.port, "HEAD", "/releases/1.1.0/MyApp-Setup-1.1.0.exe", headers: Self.headers(ElectronUpdaterRequest.fullDownload, client: "J"))
        #expect(head.status == 200)
        let size = try Self.size(fixture)
        let report = try await Self.report(server.port) { $0.versions.first?.bytesServed == UInt64(3 * size) }
        #expect(report.versions.map(\.version) == ["1.1.0", "1.0.0"])
        #expect(report.versions[0].fullDownloads == 2 && report.versions[0].differentialUpdates == 0)
        #expect(report.versions[0].bytesServed == UInt64(3 * size), "the retry's bytes are served too")
        #expect(report.versions[0].bytesSaved == -Int64(size))
        #expect(report.versions[1].fullDownloads == 1)
        #expect(report.transitions.isEmpty)
        #expect(Set(report.daily.map(\.downloads)) == [2, 1])
        // Days outside the range: nothing.
        let past = try await Self.report(server.port, query: "?since=2020-01-01&until=2020-12-31")
        #expect(past.versions.isEmpty && past.daily.isEmpty)
        let todayOnly = try await Self.report(server.port, query: "?since=\(Self.today)&until=\(Self.today)")
        #expect(todayOnly.versions.count == 2)
        await server.stop()
    }

    @Test("blockyard update names the installed version; --full is a full download; a made-up version is 'other'")
    func blockyardUpdate() async throws {
        let fixture = try ReleaseFixture()
        let (server, dir) = try await Self.start(fixture)
        // Three installations (three User-Agents: every client here is 127.0.0.1).
        func options(_ client: String, installedVersion: String?) -> UpdateOptions {
            var options = UpdateOptions(feed: server.baseURL + "/", installed: fixture.inputs.path("MyApp-Setup-1.0.0.exe"),
                                        out: dir.path(client + ".exe"))
            options.target = ReleaseTarget(os: .windows, arch: .x64)
            options.headers = [("User-Agent", "blockyard-test \(client)")]
            options.installedVersion = installedVersion
            options.retry = RetryPolicy(retries: 1, initialDelay: 0.01, maximumDelay: 0.05)
            return options
        }
        // The release carries delivery files: the update fetches ranges of the pack, which
        // count as a differential update of the artifact.
        let delta = try await UpdateClient(options: options("delta", installedVersion: "1.0.0")).run()
        #expect(delta.method == "delivery")
        var full = options("full", installedVersion: "1.0.0")
        full.full = true
        let fullReport = try await UpdateClient(options: full).run()
        #expect(fullReport.method == "full")
        var blockmapPath = options("hostile", installedVersion: "<script>x</script>")
        blockmapPath.delivery = false
        let hostile = try await UpdateClient(options: blockmapPath).run()
        #expect(hostile.method == "delta")
        let size = try Self.size(fixture)
        let served = UInt64(delta.bytesFetched + fullReport.bytesFetched + hostile.bytesFetched)
        let report = try await Self.report(server.port) { $0.versions.first?.differentialUpdates == 2 && $0.versions.first?.fullDownloads == 1 }
        let v = try #require(report.versions.first)
        #expect(v.version == "1.1.0" && v.differentialUpdates == 2 && v.fullDownloads == 1 && v.fallbacks == 0, "\(v)")
        // Bytes served are the artifact's bytes (the client's count adds channel files and blockmaps).
        #expect(v.bytesServed <= served && v.bytesServed > 0)
        #expect(v.bytesSaved == Int64(3 * size) - Int64(v.bytesServed), "three downloads' worth minus what was sent")
        #expect(v.bytesSaved > 0, "the deltas saved bytes")
        #expect(report.transitions == [.init(from: "1.0.0", to: "1.1.0", differential: 1, fallbacks: 0),
                                       .init(from: "other", to: "1.1.0", differential: 1, fallbacks: 0)])
        let html = try await fetch(server.port, "GET", "/analytics")
        #expect(html.status == 200)
        #expect(!html.text.contains("<script"))
        #expect(html.text.contains("<svg id=\"adoption-chart\""))
        #expect(html.header("Content-Security-Policy") == AnalyticsDashboard.contentSecurityPolicy)
        await server.stop()
    }

    @Test("Hostile query parameters: 400 with a message that does not echo them")
    func hostileQueries() async throws {
        let fixture = try ReleaseFixture()
        let (server, _) = try await Self.start(fixture)
        for path in ["/api/analytics", "/analytics"] {
            for query in ["?since=2026-02-30", "?until=%3Cscript%3Ealert(1)%3C/script%3E", "?since=1970-01-01&until=9999-12-31",
                          "?since=2026-02-01&until=2026-01-01", "?since=2026-01-01&since=2026-01-02", "?since=1e9",
                          "?until=2026-01-01%00", "?since=" + String(repeating: "9", count: 5000)] {
                let response = try await fetch(server.port, "GET", path + query)
                #expect(response.status == 400, "\(path)\(query.prefix(60))")
                #expect(!response.text.contains("script") && !response.text.contains("999999"))
                #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
            }
        }
        let metrics = try await fetch(server.port, "GET", "/metrics").text
        #expect(metrics.contains(#"blockyard_http_rejected_requests_total{reason="query"} 16"#))
        await server.stop()
    }

    @Test("A token guards the analytics; off loopback one is required; without --analytics the paths are files")
    func token() async throws {
        let fixture = try ReleaseFixture()
        let secret = "s3cret-token-0123456789"
        let (server, _) = try await Self.start(fixture, token: secret)
        for path in ["/api/analytics", "/analytics"] {
            let none = try await fetch(server.port, "GET", path)
            #expect(none.status == 401)
            #expect(none.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(try await fetch(server.port, "GET", path + "?token=wrong-token-0123456789").status == 401)
            #expect(try await fetch(server.port, "GET", path, headers: [("Authorization", "Bearer " + secret + "x")]).status == 401)
            #expect(try await fetch(server.port, "GET", path, headers: [("Authorization", "Bearer " + secret)]).status == 200)
            #expect(try await fetch(server.port, "GET", path + "?token=" + secret).status == 200)
        }
        // The dashboard's form keeps the token.
        let page = try await fetch(server.port, "GET", "/analytics?token=" + secret)
        #expect(page.text.contains("name=\"token\" value=\"\(secret)\""))
        await server.stop()

        let dir = try TemporaryDirectory("analytics")
        var open = ServeConfiguration(root: fixture.root, host: "0.0.0.0")
        open.analytics = AnalyticsConfiguration(directory: dir.path("store"))
        #expect(throws: ServeError.self) { _ = try ReleaseServer(configuration: open) }
        do {
            _ = try ReleaseServer(configuration: open)
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains("--analytics-token-file"))
        }

        // Inside the release directory it would be served: refused, unless hidden.
        var served = ServeConfiguration(root: fixture.root)
        served.analytics = AnalyticsConfiguration(directory: fixture.path("analytics"))
        #expect(throws: ServeError.self) { _ = try ReleaseServer(configuration: served) }
        #expect(!FileManager.default.fileExists(atPath: fixture.path("analytics")), "refused before anything is created")
        served.analytics = AnalyticsConfiguration(directory: fixture.path("releases/new/deeper"))
        #expect(throws: ServeError.self) { _ = try ReleaseServer(configuration: served) }
        served.analytics = AnalyticsConfiguration(directory: fixture.path(".analytics"))
        #expect(try ReleaseServer(configuration: served).versions == ["1.1.0", "1.0.0"])

        let plain = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        #expect(try await fetch(plain.port, "GET", "/api/analytics").status == 404)
        #expect(try await fetch(plain.port, "GET", "/analytics").status == 404)
        await plain.stop()
    }
}
