import BlockyardCore
import Foundation

/// `GET /analytics`: the update analytics as one self-contained HTML page in the download
/// page's style — adoption over time per version as an inline SVG chart, the versions and
/// the from → to transitions as tables, the differential success rate and the bytes deltas
/// saved. No script and no external resources; a plain GET form picks the days.
enum AnalyticsDashboard {
    /// Series colours of the chart (classes `s0`…`s7`; more versions are summed as "older").
    static let seriesCount = 8

    static let style = DownloadPage.style + """
        .cards{display:flex;flex-wrap:wrap;gap:12px;margin:20px 0}
        .card{flex:1 1 140px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px}
        .card .value{font-size:1.5rem;font-weight:600}
        .card .label{color:var(--muted);font-size:.85rem}
        form.range{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:16px 0}
        form.range label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted)}
        form.range input,form.range button{font:inherit;padding:2px 8px;border:1px solid var(--line);border-radius:4px;background:var(--card);color:var(--fg)}
        .chart{border:1px solid var(--line);border-radius:8px;padding:8px;margin:16px 0}
        .chart svg{width:100%;height:auto;display:block}
        .chart .axis{stroke:var(--line);stroke-width:1}
        .chart text{fill:var(--muted);font-size:12px}
        .chart polyline{fill:none;stroke-width:2.5}
        .legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:12px;font-size:.9rem}
        .legend span{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:middle}
        .s0{stroke:#0b62c4;background:#0b62c4}.s1{stroke:#d9480f;background:#d9480f}.s2{stroke:#2b8a3e;background:#2b8a3e}
        .s3{stroke:#862e9c;background:#862e9c}.s4{stroke:#e8590c;background:#e8590c}.s5{stroke:#0c8599;background:#0c8599}
        .s6{stroke:#c2255c;background:#c2255c}.s7{stroke:#5c940d;background:#5c940d}
        table.data th{text-align:left;padding:8px 16px;border-bottom:1px solid var(--line);font-size:.9rem}
        table.data td.n{text-align:right;white-space:nowrap}
        table.data th.n{text-align:right}
        .empty{color:var(--muted)}
        """

    /// Nothing but this page's own style; the form submits to this server.
    static let contentSecurityPolicy: String = {
        let hash = "'sha256-" + SHA2Hasher.hash(.sha256, Array(style.utf8)).base64 + "'"
        return "default-src 'none'; style-src \(hash); img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }()

    /// - Parameters:
    ///   - product: the product name (escaped here).
    ///   - query: the days shown (kept in the form, with the token when one was given).
    ///   - prefix: the relative path from the page to the root (`""` or `"../"`).
    static func render(_ report: AnalyticsReport, product: String, query: AnalyticsQuery, prefix: String = "") -> String {
        let updates = report.versions.reduce(UInt64(0)) { $0 + $1.differentialUpdates }
        let fallbacks = report.versions.reduce(UInt64(0)) { $0 + $1.fallbacks }
        let downloads = report.versions.reduce(UInt64(0)) { $0 + $1.fullDownloads }
        let saved = report.versions.reduce(Int64(0)) { $0 &+ $1.bytesSaved }
        let served = report.versions.reduce(UInt64(0)) { $0 &+ $1.bytesServed }
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n"
        html += "<title>\(HTML.escape(product)) — Update analytics</title>\n<style>\(style)</style>\n</head>\n<body>\n<main>\n"
        html += "<header>\n<h1>\(HTML.escape(product)) update analytics</h1>\n"
        html += "<p class=\"lead\">\(HTML.escape(rangeText(query))) · derived from update requests, no client telemetry · times in UTC</p>\n</header>\n"

        html += "<form class=\"range\" method=\"get\" action=\"\">\n"
        html += "<label>Since <input type=\"date\" name=\"since\" value=\"\(query.since.map { $0.description } ?? "")\"></label>\n"
        html += "<label>Until <input type=\"date\" name=\"until\" value=\"\(query.until.map { $0.description } ?? "")\"></label>\n"
        if let token = query.token { html += "<input type=\"hidden\" name=\"token\" value=\"\(HTML.escape(token))\">\n" }
        html += "<button type=\"submit\">Show</button>\n</form>\n"

        html += "<div class=\"cards\">\n"
        html += card(updates == 0 ? "–" : String(format: "%.1f %%", (report.differentialSuccessRate ?? 0) * 100),
                     "differential success rate", id: "success-rate")
        html += card(signedSize(saved), "saved by differential updates", id: "bytes-saved")
        html += card(String(updates), "differential updates (\(fallbacks) fell back)", id: "updates")
        html += card(String(downloads), "full downloads", id: "downloads")
        html += card(HTML.humanSize(Int(clamping: served)), "artifact bytes served", id: "bytes-served")
        html += "</div>\n"

        html += "<section class=\"release\">\n<h2>Adoption over time</h2>\n"
        html += "<p class=\"meta\">Clients that reached each version (differential updates and full downloads), cumulative per UTC day.</p>\n"
        html += chart(report.daily)
        html += "</section>\n"

        html += "<section class=\"release\">\n<h2>Versions</h2>\n"
        if report.versions.isEmpty {
            html += "<p class=\"empty\">No update events in these days.</p>\n"
        } else {
            html += "<div class=\"platform\"><table class=\"data\" id=\"versions\">\n<thead><tr><th>Version</th><th class=\"n\">Full downloads</th>"
            html += "<th class=\"n\">Differential</th><th class=\"n\">Fallbacks</th><th class=\"n\">Served</th><th class=\"n\">Saved</th></tr></thead>\n<tbody>\n"
            for v in report.versions {
                html += "<tr><td>\(HTML.escape(v.version))</td><td class=\"n\">\(v.fullDownloads)</td><td class=\"n\">\(v.differentialUpdates)</td>"
                html += "<td class=\"n\">\(v.fallbacks)</td><td class=\"n\">\(HTML.humanSize(Int(clamping: v.bytesServed)))</td>"
                html += "<td class=\"n\">\(signedSize(v.bytesSaved))</td></tr>\n"
            }
            html += "</tbody>\n</table></div>\n"
        }
        html += "</section>\n"

        html += "<section class=\"release\">\n<h2>Updates from → to</h2>\n"
        if report.transitions.isEmpty {
            html += "<p class=\"empty\">No differential updates in these days.</p>\n"
        } else {
            html += "<div class=\"platform\"><table class=\"data\" id=\"transitions\">\n<thead><tr><th>From</th><th>To</th><th class=\"n\">Differential</th>"
            html += "<th class=\"n\">Fallbacks</th><th class=\"n\">Success</th></tr></thead>\n<tbody>\n"
            for t in report.transitions {
                let rate = t.differential == 0 ? "–" : String(format: "%.1f %%", Double(t.differential - min(t.differential, t.fallbacks)) / Double(t.differential) * 100)
                html += "<tr><td>\(HTML.escape(t.from))</td><td>\(HTML.escape(t.to))</td><td class=\"n\">\(t.differential)</td>"
                html += "<td class=\"n\">\(t.fallbacks)</td><td class=\"n\">\(rate)</td></tr>\n"
            }
            html += "</tbody>\n</table></div>\n"
        }
        html += "</section>\n"
        var parameters: [String] = []
        if let since = query.since { parameters.append("since=\(since)") }
        if let until = query.until { parameters.append("until=\(until)") }
        if let token = query.token { parameters.append("token=" + HTML.pathSegment(token)) }
        let api = prefix + "api/analytics" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
        html += "<footer>Blockyard · the same numbers as JSON: <a href=\"\(HTML.escape(api))\">api/analytics</a> · counters in <a href=\"\(prefix)metrics\">/metrics</a></footer>\n"
        html += "</main>\n</body>\n</html>\n"
        return html
    }

    static func rangeText(_ query: AnalyticsQuery) -> String {
        switch (query.since, query.until) {
        case let (s?, u?): return "\(s) to \(u)"
        case let (s?, nil): return "since \(s)"
        case let (nil, u?): return "until \(u)"
        case (nil, nil): return "all days kept"
        }
    }

    static func card(_ value: String, _ label: String, id: String) -> String {
        "<div class=\"card\" id=\"\(id)\"><div class=\"value\">\(HTML.escape(value))</div><div class=\"label\">\(HTML.escape(label))</div></div>\n"
    }

    static func signedSize(_ bytes: Int64) -> String {
        bytes < 0 ? "−" + HTML.humanSize(Int(clamping: bytes.magnitude)) : HTML.humanSize(Int(bytes))
    }

    /// The adoption chart: one polyline per version (the most adopted first; the rest summed
    /// as "older"), cumulative clients per day from the first to the last day with events.
    static func chart(_ daily: [AnalyticsReport.Day]) -> String {
        let width = 800.0, height = 280.0, left = 56.0, right = 16.0, top = 16.0, bottom = 36.0
        var svg = "<div class=\"chart\">\n<svg id=\"adoption-chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"adoption-title\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        svg += "<title id=\"adoption-title\">Adoption over time per version</title>\n"
        svg += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\"/>\n"
        svg += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\"/>\n"
        let dates = daily.compactMap { AnalyticsDate($0.date) }
        guard let first = dates.min(), let last = dates.max() else {
            svg += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\">No update events in these days</text>\n</svg>\n</div>\n"
            return svg
        }
        // Versions by clients reached, most first; beyond the palette, summed as "older".
        var totals: [String: UInt64] = [:]
        for day in daily { totals[day.version, default: 0] += day.updates + day.downloads }
        let ranked = totals.sorted { $0.value != $1.value ? $0.value > $1.value : AnalyticsReport.newer($0.key, $1.key) }.map(\.key)
        var series = Array(ranked.prefix(ranked.count > seriesCount ? seriesCount - 1 : seriesCount))
        let shown = Set(series)
        if ranked.count > series.count { series.append("older") }
        // From the day before the first event (all at 0), so even one day shows a rise.
        let origin = AnalyticsDate(day: first.day - 1)
        let span = last.day - origin.day + 1
        var perDay = [String: [UInt64]]()
        for name in series { perDay[name] = [UInt64](repeating: 0, count: span) }
        for day in daily {
            guard let date = AnalyticsDate(day.date) else { continue }
            let name = shown.contains(day.version) ? day.version : "older"
            perDay[name]?[date.day - origin.day] += day.updates + day.downloads
        }
        var cumulative = [String: [UInt64]]()
        var maxValue: UInt64 = 1
        for name in series {
            var running: UInt64 = 0
            cumulative[name] = perDay[name]!.map { running += $0; return running }
            maxValue = max(maxValue, running)
        }
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ i: Int) -> Double { left + plotWidth * Double(i) / Double(span - 1) }
        func y(_ v: UInt64) -> Double { top + plotHeight * (1 - Double(v) / Double(maxValue)) }
        svg += "<text x=\"\(left - 6)\" y=\"\(top + 4)\" text-anchor=\"end\">\(maxValue)</text>\n"
        svg += "<text x=\"\(left - 6)\" y=\"\(height - bottom)\" text-anchor=\"end\">0</text>\n"
        svg += "<text x=\"\(left)\" y=\"\(height - 12)\">\(origin)</text>\n"
        svg += "<text x=\"\(width - right)\" y=\"\(height - 12)\" text-anchor=\"end\">\(last)</text>\n"
        for (index, name) in series.enumerated() {
            let values = cumulative[name]!
            let points = values.enumerated().map { String(format: "%.1f,%.1f", x($0.offset), y($0.element)) }
            svg += "<polyline class=\"s\(index)\" data-version=\"\(HTML.escape(name))\" points=\"\(points.joined(separator: " "))\"><title>\(HTML.escape(name)): \(values.last ?? 0)</title></polyline>\n"
        }
        svg += "</svg>\n<ul class=\"legend\">\n"
        for (index, name) in series.enumerated() {
            svg += "<li><span class=\"s\(index)\"></span>\(HTML.escape(name)) (\(cumulative[name]?.last ?? 0))</li>\n"
        }
        svg += "</ul>\n</div>\n"
        return svg
    }
}
