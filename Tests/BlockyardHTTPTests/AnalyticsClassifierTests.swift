@testable import BlockyardHTTP
import BlockyardTestSupport
import Foundation
import Testing

/// The pure parts of `serve --analytics`: the event classifier on the request sequences of
/// electron-updater and `blockyard update`, dates and queries, the report and the dashboard.
@Suite("analytics: classifier, queries, report")
struct AnalyticsClassifierTests {
    static let exe = "MyApp-Setup-1.1.0.exe"
    static let size = 3_000_000

    /// A client's request for `resource` of `version` (the exe family) at time `t`.
    static func request(_ client: UInt64, _ resource: UpdateRequest.Resource, _ version: String = "1.1.0", t: Double,
                        installed: String? = nil, name: String? = nil) -> UpdateRequest {
        let artifact = name ?? "MyApp-Setup-\(version).exe"
        let file = resource == .blockmap ? artifact + ".blockmap" : artifact
        return UpdateRequest(client: ClientKey(high: client, low: 0), resource: resource, version: version,
                             family: UpdateRequest.family(name: file, version: version), size: size,
                             installedVersion: installed, time: t)
    }

    @Test("Families: the old blockmap's URL is the new one with the version replaced")
    func families() {
        #expect(UpdateRequest.family(name: "MyApp-Setup-1.1.0.exe.blockmap", version: "1.1.0")
                == UpdateRequest.family(name: "MyApp-Setup-1.0.0.exe", version: "1.0.0"))
        #expect(UpdateRequest.family(name: "MyApp-1.1.0.AppImage", version: "1.1.0")
                != UpdateRequest.family(name: "MyApp-Setup-1.1.0.exe", version: "1.1.0"))
    }

    @Test("electron-updater, multi- or single-range: new blockmap, old blockmap, ranges → one differential update from the old version")
    func differential() {
        var c = UpdateEventClassifier(window: 600)
        #expect(c.observe(Self.request(1, .blockmap, t: 0)) == ([], false))
        #expect(c.observe(Self.request(1, .blockmap, "1.0.0", t: 1)) == ([], false))
        #expect(c.observe(Self.request(1, .ranges(embeddedTail: false), t: 2))
                == ([.differential(from: "1.0.0", to: "1.1.0", size: Self.size)], true))
        // Further ranges (single-range mode: one request per range) belong to the same update.
        for i in 0..<20 { #expect(c.observe(Self.request(1, .ranges(embeddedTail: false), t: 3 + Double(i))) == ([], true)) }
    }

    @Test("Old blockmap cached by the client (no old blockmap request): from unknown")
    func cachedOldBlockmap() {
        var c = UpdateEventClassifier(window: 600)
        _ = c.observe(Self.request(1, .blockmap, t: 0))
        #expect(c.observe(Self.request(1, .ranges(embeddedTail: false), t: 1)).events
                == [.differential(from: "unknown", to: "1.1.0", size: Self.size)])
    }

    @Test("Fallback: a whole-file GET after a differential download, once; retries belong to it")
    func fallback() {
        var c = UpdateEventClassifier(window: 600)
        _ = c.observe(Self.request(1, .blockmap, t: 0))
        _ = c.observe(Self.request(1, .blockmap, "1.0.0", t: 1))
        _ = c.observe(Self.request(1, .ranges(embeddedTail: false), t: 2))
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 12)) == ([.fallback(from: "1.0.0", to: "1.1.0")], true))
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 13)) == ([], true))
    }

    @Test("Fallback before any range (the old blockmap is missing): a differential update and its fallback")
    func fallbackWithoutRanges() {
        var c = UpdateEventClassifier(window: 600)
        _ = c.observe(Self.request(1, .blockmap, t: 0))
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 1)).events
                == [.differential(from: "unknown", to: "1.1.0", size: Self.size), .fallback(from: "unknown", to: "1.1.0")])
    }

    @Test("A whole-file GET long after the differential update is a full download, not a fallback")
    func windowExpires() {
        var c = UpdateEventClassifier(window: 60)
        _ = c.observe(Self.request(1, .blockmap, t: 0))
        _ = c.observe(Self.request(1, .ranges(embeddedTail: false), t: 1))
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 1000)).events == [.fullDownload(version: "1.1.0", size: Self.size)])
    }

    @Test("Embedded blockmap (AppImage): the tail range starts a differential update, other ranges alone do not")
    func embedded() {
        var c = UpdateEventClassifier(window: 600)
        let name = "MyApp-1.1.0.AppImage"
        #expect(c.observe(Self.request(1, .ranges(embeddedTail: false), t: 0, name: name)) == ([], false), "a resumed download is not counted")
        #expect(c.observe(Self.request(2, .ranges(embeddedTail: true), t: 0, name: name)).events
                == [.differential(from: "unknown", to: "1.1.0", size: Self.size)])
        #expect(c.observe(Self.request(2, .ranges(embeddedTail: false), t: 1, name: name)) == ([], true))
    }

    @Test("Full downloads: one per client and artifact in the window; other clients count apart")
    func fullDownloads() {
        var c = UpdateEventClassifier(window: 600)
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 0)).events == [.fullDownload(version: "1.1.0", size: Self.size)])
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 5)) == ([], true), "a retry")
        #expect(c.observe(Self.request(1, .ranges(embeddedTail: false), t: 6)) == ([], true), "a resume")
        #expect(c.observe(Self.request(2, .wholeArtifact, t: 7)).events == [.fullDownload(version: "1.1.0", size: Self.size)])
        #expect(c.observe(Self.request(1, .wholeArtifact, "1.0.0", t: 8)).events == [.fullDownload(version: "1.0.0", size: Self.size)])
    }

    @Test("blockyard update: the installed-version header names the source; a full download says so")
    func blockyardClient() {
        var c = UpdateEventClassifier(window: 600)
        _ = c.observe(Self.request(1, .blockmap, t: 0, installed: "1.0.0"))
        #expect(c.observe(Self.request(1, .ranges(embeddedTail: false), t: 1, installed: "1.0.0")).events
                == [.differential(from: "1.0.0", to: "1.1.0", size: Self.size)])
        // Its fallback: ranges of the whole file (X-Blockyard-Full-Download) → wholeArtifact.
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 2, installed: "1.0.0")).events == [.fallback(from: "1.0.0", to: "1.1.0")])
        #expect(c.observe(Self.request(1, .wholeArtifact, t: 2, installed: "1.0.0")) == ([], true))
        // --full, another client: a full download.
        #expect(c.observe(Self.request(2, .wholeArtifact, t: 3, installed: "1.0.0")).events == [.fullDownload(version: "1.1.0", size: Self.size)])
    }

    @Test("Memory is bounded: clients beyond the limit are forgotten, oldest first")
    func bounded() {
        var c = UpdateEventClassifier(window: 1_000_000, maxClients: 1000)
        for i in 0..<10_000 { _ = c.observe(Self.request(UInt64(i), .blockmap, t: Double(i))) }
        #expect(c.clientCount <= 1000 && c.clientCount >= 800)
        // The newest client is remembered: its ranges are a differential update.
        #expect(c.observe(Self.request(9_999, .ranges(embeddedTail: false), t: 10_000)).counted)
        // The oldest was forgotten: its ranges alone are not.
        #expect(!c.observe(Self.request(0, .ranges(embeddedTail: false), t: 10_001)).counted)
    }

    @Test("Dates: strict YYYY-MM-DD, real days, UTC")
    func dates() {
        #expect(AnalyticsDate("2024-02-29")?.description == "2024-02-29")
        #expect(AnalyticsDate("1970-01-01")?.day == 0)
        #expect(AnalyticsDate("9999-12-31")?.day == 2_932_896)
        #expect(AnalyticsDate(seconds: 1_767_225_600).description == "2026-01-01")
        #expect(AnalyticsDate(seconds: 1_767_225_599.5).description == "2025-12-31")
        for bad in ["2023-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "26-01-01", "2026-01-01T00:00:00Z", "１９７０-01-01",
                    "0000-01-01", "1969-12-31", "2026-01-32", "", "abcd-ef-gh", "2026-01-01\u{0}"] {
            #expect(AnalyticsDate(bad) == nil, "\(bad.debugDescription)")
        }
        for day in stride(from: 0, through: 2_932_896, by: 997) + [2_932_896] {  // to 9999-12-31
            let date = AnalyticsDate(day: day)
            #expect(AnalyticsDate(date.description) == date)
        }
    }

    @Test("Hostile query parameters get a precise error that never echoes them")
    func hostileQueries() throws {
        let ok = try AnalyticsQuery(query: "since=2026-01-01&until=2026-01-31&other=x")
        #expect(ok.since?.description == "2026-01-01" && ok.until?.description == "2026-01-31")
        #expect(try AnalyticsQuery(query: "since=&until=").since == nil)
        #expect(try AnalyticsQuery(query: "token=a%2Bb+c").token == "a+b c")
        let cases: [(String, String)] = [
            ("since=2026-02-30", "since must be a date YYYY-MM-DD"),
            ("until=%3Cscript%3Ealert(1)%3C/script%3E", "until must be a date"),
            ("since=2026-01-01'%20OR%201=1", "since must be a date"),
            ("since=2026-02-01&until=2026-01-01", "since is after until"),
            ("since=1970-01-01&until=9999-12-31", "longer than 3660 days"),
            ("since=2026-01-01&since=2026-01-02", "more than once"),
        ]
        for (query, message) in cases {
            #expect(throws: AnalyticsQueryError.self) { try AnalyticsQuery(query: query) }
            do {
                _ = try AnalyticsQuery(query: query)
            } catch {
                #expect(error.description.contains(message), "\(query): \(error.description)")
                #expect(!error.description.contains("script") && !error.description.contains("OR"))
            }
        }
    }

    @Test("Report: totals, bytes saved (negative after a fallback), daily rows, newest version first")
    func report() {
        var tally = AnalyticsTally()
        let d1 = AnalyticsDate("2026-03-01")!, d2 = AnalyticsDate("2026-03-02")!
        tally.record(.differential(from: "1.0.0", to: "1.1.0", size: 1000), on: d1)
        tally.addBytes(100, version: "1.1.0", on: d1)
        tally.record(.differential(from: "1.0.0", to: "1.1.0", size: 1000), on: d2)
        tally.addBytes(300, version: "1.1.0", on: d2)
        tally.record(.fallback(from: "1.0.0", to: "1.1.0"), on: d2)
        tally.addBytes(1000, version: "1.1.0", on: d2)
        tally.record(.fullDownload(version: "1.0.0", size: 900), on: d2)
        tally.addBytes(900, version: "1.0.0", on: d2)
        tally.record(.fullDownload(version: "1.10.0", size: 5), on: d1)
        let report = AnalyticsReport(tally)
        #expect(report.versions.map(\.version) == ["1.10.0", "1.1.0", "1.0.0"])
        let v = report.versions[1]
        #expect(v.differentialUpdates == 2 && v.fallbacks == 1 && v.fullDownloads == 0)
        #expect(v.bytesServed == 1400)
        #expect(v.bytesSaved == 2000 - 1400)
        #expect(report.versions[2].bytesSaved == 0)
        #expect(report.transitions == [.init(from: "1.0.0", to: "1.1.0", differential: 2, fallbacks: 1)])
        #expect(report.daily == [.init(date: "2026-03-01", version: "1.10.0", updates: 0, downloads: 1),
                                 .init(date: "2026-03-01", version: "1.1.0", updates: 1, downloads: 0),
                                 .init(date: "2026-03-02", version: "1.1.0", updates: 1, downloads: 0),
                                 .init(date: "2026-03-02", version: "1.0.0", updates: 0, downloads: 1)])
        #expect(report.differentialSuccessRate == 0.5)
        let json = String(decoding: ReleasesAPI.json(report), as: UTF8.self)
        for key in ["\"full_downloads\"", "\"differential_updates\"", "\"bytes_served\"", "\"bytes_saved\"", "\"transitions\"", "\"daily\""] {
            #expect(json.contains(key))
        }
        var fallbackOnly = AnalyticsTally()
        fallbackOnly.record(.differential(from: "unknown", to: "2.0.0", size: 1000), on: d1)
        fallbackOnly.record(.fallback(from: "unknown", to: "2.0.0"), on: d1)
        fallbackOnly.addBytes(1600, version: "2.0.0", on: d1)
        #expect(AnalyticsReport(fallbackOnly).versions[0].bytesSaved == -600)
    }

    @Test("Dashboard: chart, tables, and every version string escaped")
    func dashboardEscapes() {
        var tally = AnalyticsTally()
        let hostile = "<script>alert('x')</script>\"&"
        tally.record(.differential(from: hostile, to: "1.1.0", size: 10), on: AnalyticsDate("2026-03-01")!)
        tally.record(.fullDownload(version: hostile, size: 10), on: AnalyticsDate("2026-03-03")!)
        let html = AnalyticsDashboard.render(AnalyticsReport(tally), product: "<b>App</b>",
                                             query: AnalyticsQuery(since: AnalyticsDate("2026-03-01"), token: "t\"><x>"))
        #expect(!html.contains("<script>"))
        #expect(!html.contains("<b>App"))
        #expect(!html.contains("t\"><x>"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"))
        #expect(html.contains("<svg id=\"adoption-chart\""))
        #expect(html.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(html.contains("id=\"transitions\""))
        #expect(html.contains("value=\"2026-03-01\""))
        #expect(html.contains("href=\"api/analytics?since=2026-03-01&amp;token=t%22%3E%3Cx%3E\""))
        // The only <style> is the hashed one the CSP allows; no script at all.
        #expect(!html.contains("<script"))
        #expect(AnalyticsDashboard.contentSecurityPolicy.contains("script-src") == false)
    }

    @Test("Store: batches add up, survive reopening, since/until pick days, old days are pruned, no stray keys")
    func store() throws {
        let dir = try TemporaryDirectory("analytics-store")
        let d1 = AnalyticsDate("2026-01-30")!, d2 = AnalyticsDate("2026-02-01")!
        do {
            let store = try AnalyticsStore(directory: dir.path("s"))
            var batch = AnalyticsTally()
            batch.record(.differential(from: "1.0.0", to: "1.1.0", size: 1000), on: d1)
            batch.addBytes(250, version: "1.1.0", on: d1)
            try store.add(batch)
            try store.add(batch)
            var later = AnalyticsTally()
            later.record(.fullDownload(version: "1.1.0", size: 1000), on: d2)
            try store.add(later)
        }
        let store = try AnalyticsStore(directory: dir.path("s"))
        let all = try store.tally(AnalyticsQuery())
        #expect(all.versions[AnalyticsTally.VersionKey(date: d1, version: "1.1.0")]?.differentialUpdates == 2)
        #expect(all.versions[AnalyticsTally.VersionKey(date: d1, version: "1.1.0")]?.bytesServed == 500)
        #expect(all.transitions[AnalyticsTally.TransitionKey(date: d1, from: "1.0.0", to: "1.1.0")]?.differential == 2)
        #expect(all.versions[AnalyticsTally.VersionKey(date: d2, version: "1.1.0")]?.fullDownloads == 1)
        let since = try store.tally(AnalyticsQuery(since: AnalyticsDate("2026-01-31")))
        #expect(since.versions.keys.map { $0.date } == [d2])
        let until = try store.tally(AnalyticsQuery(until: AnalyticsDate("2026-01-31")))
        #expect(until.transitions.count == 1)
        #expect(until.versions.keys.map { $0.date } == [d1])
        let removed = try store.prune(before: AnalyticsDate("2026-01-31")!)
        #expect(removed == 2)
        let pruned = try store.tally(AnalyticsQuery())
        #expect(pruned.versions.keys.map { $0.date } == [d2] && pruned.transitions.isEmpty)
        let file = try dir.write("file", [1])
        #expect(throws: ServeError.self) { _ = try AnalyticsStore(directory: file) }
    }

    @Test("Dashboard without events still draws the chart frame")
    func dashboardEmpty() {
        let html = AnalyticsDashboard.render(AnalyticsReport(AnalyticsTally()), product: "App", query: AnalyticsQuery())
        #expect(html.contains("<svg id=\"adoption-chart\""))
        #expect(html.contains("No update events"))
    }
}
