import BlockyardCore
import BlockyardRelease
import Foundation

/// The download page (`GET /`, `/releases/`): the latest release with its notes and, per
/// platform, each artifact with its size, SHA-256 and a download link, the visitor's platform
/// first; the versions each channel offers; older versions below. One self-contained HTML
/// document: inline CSS, a few lines of inline JavaScript for the copy buttons (the page works
/// without it), no external resources; the Content-Security-Policy allows exactly these.
enum DownloadPage {
    static let style = """
        :root{color-scheme:light dark;--fg:#1d232a;--muted:#5b6673;--bg:#fff;--card:#f5f7f9;--line:#d9dee4;--accent:#0b62c4;--badge:#137333}
        @media (prefers-color-scheme:dark){:root{--fg:#e6e9ec;--muted:#9aa5b1;--bg:#121417;--card:#1b1f24;--line:#2c333b;--accent:#6aa9ff;--badge:#5fd38a}}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
        main{max-width:960px;margin:0 auto;padding:32px 20px 48px}
        header h1{margin:0 0 4px;font-size:2rem}
        .lead{margin:0;color:var(--muted)}
        .lead strong{color:var(--fg)}
        .channels{margin:12px 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:8px}
        .channels li{background:var(--card);border:1px solid var(--line);border-radius:999px;padding:2px 12px;font-size:.9rem}
        section.release{margin-top:28px}
        h2{font-size:1.4rem;margin:0 0 8px}
        .meta{color:var(--muted);font-size:.9rem;margin:0 0 12px}
        .notes{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:4px 16px;margin:12px 0 20px;overflow-wrap:anywhere}
        .notes pre{overflow:auto;white-space:pre-wrap}
        .platform{border:1px solid var(--line);border-radius:8px;margin:16px 0;overflow:hidden}
        .platform h3{margin:0;padding:10px 16px;font-size:1.1rem;background:var(--card);border-bottom:1px solid var(--line)}
        .platform.recommended{border-color:var(--badge)}
        .badge{display:inline-block;margin-left:8px;padding:0 8px;border-radius:4px;background:var(--badge);color:var(--bg);font-size:.8rem;vertical-align:middle}
        table{width:100%;border-collapse:collapse}
        td{padding:8px 16px;border-top:1px solid var(--line);vertical-align:top}
        tr:first-child td{border-top:0}
        td.size,td.arch{white-space:nowrap;color:var(--muted)}
        a{color:var(--accent)}
        a.download{font-weight:600;overflow-wrap:anywhere}
        .sha{margin-top:2px;font-size:.8rem;color:var(--muted)}
        code.hash{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere;color:var(--muted)}
        td.size{text-align:right}
        button.copy{margin-left:6px;font-size:.75rem;padding:1px 8px;border:1px solid var(--line);border-radius:4px;background:var(--card);color:var(--fg);cursor:pointer}
        details{border:1px solid var(--line);border-radius:8px;margin:10px 0;padding:8px 16px}
        summary{cursor:pointer;font-weight:600}
        footer{margin-top:40px;color:var(--muted);font-size:.85rem}
        """

    static let script = """
        document.querySelectorAll("button.copy").forEach(function(b){b.hidden=false;b.addEventListener("click",function(){var t=b.getAttribute("data-copy"),ok=function(){b.textContent="Copied";setTimeout(function(){b.textContent="Copy"},1500)},pick=function(){var r=document.createRange();r.selectNodeContents(b.previousElementSibling);var s=getSelection();s.removeAllRanges();s.addRange(r)};if(navigator.clipboard){navigator.clipboard.writeText(t).then(ok,pick)}else{pick()}})});
        """

    /// The Content-Security-Policy: nothing but this page's own style and script, images from
    /// this server.
    static let contentSecurityPolicy: String = {
        func hash(_ text: String) -> String { "'sha256-" + SHA2Hasher.hash(.sha256, Array(text.utf8)).base64 + "'" }
        return "default-src 'none'; style-src \(hash(style)); script-src \(hash(script)); img-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }()

    /// - Parameter prefix: the relative path from the page to the root (`""` or `"../"`).
    static func render(_ model: SiteModel, visitor: VisitorPlatform, prefix: String) -> String {
        let product = HTML.escape(model.product)
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        let latest = model.latest ?? model.releases.first
        let title = latest.map { "\(model.product) \($0.version) — Download" } ?? "\(model.product) — Download"
        html += "<title>\(HTML.escape(title))</title>\n<style>\(style)</style>\n</head>\n<body>\n<main>\n<header>\n"
        html += "<h1>\(product)</h1>\n"
        if let latest {
            html += "<p class=\"lead\">Latest version <strong class=\"version\">\(HTML.escape(latest.version))</strong>"
            if let date = SiteDate.human(latest.manifest.createdAt) {
                html += " · released <time datetime=\"\(HTML.escape(latest.manifest.createdAt))\">\(HTML.escape(date))</time>"
            }
            html += "</p>\n"
        } else {
            html += "<p class=\"lead\">No releases yet.</p>\n"
        }
        if !model.channels.isEmpty {
            html += "<ul class=\"channels\" aria-label=\"Update channels\">"
            for channel in model.channels {
                html += "<li>" + HTML.escape(channel.name) + ": " + channelSummary(channel) + "</li>"
            }
            html += "</ul>\n"
        }
        html += "</header>\n"
        if let latest {
            html += releaseSection(latest, model: model, visitor: visitor, prefix: prefix, headingLevel: 2)
        }
        let older = model.releases.filter { $0.version != latest?.version }
        if !older.isEmpty {
            html += "<section class=\"older\">\n<h2>Other versions</h2>\n"
            for release in older {
                html += "<details id=\"\(HTML.escape(release.tag))\"><summary>\(HTML.escape(release.version))"
                if release.isPrerelease { html += " (pre-release)" }
                if let date = SiteDate.human(release.manifest.createdAt) { html += " — \(HTML.escape(date))" }
                html += "</summary>\n"
                html += releaseBody(release, model: model, visitor: visitor, prefix: prefix, headingLevel: 3)
                html += "</details>\n"
            }
            html += "</section>\n"
        }
        html += "<footer>Served by Blockyard · <a href=\"\(prefix)api/releases\">Releases API</a> · "
        html += "<a href=\"\(prefix)api/releases/latest\">latest</a></footer>\n"
        html += "</main>\n<script>\(script)</script>\n</body>\n</html>\n"
        return html
    }

    private static func channelSummary(_ channel: SiteModel.Channel) -> String {
        // Versions with the platforms (channel-file suffixes) that offer them.
        var byVersion: [(String, [String])] = []
        for (file, version) in channel.files {
            let platform = platformLabel(channelFile: file, channel: channel.name)
            if let i = byVersion.firstIndex(where: { $0.0 == version }) {
                byVersion[i].1.append(platform)
            } else {
                byVersion.append((version, [platform]))
            }
        }
        if byVersion.count == 1 { return "<strong>" + HTML.escape(byVersion[0].0) + "</strong>" }
        return byVersion.map { "<strong>" + HTML.escape($0.0) + "</strong> (" + HTML.escape($0.1.joined(separator: ", ")) + ")" }
            .joined(separator: ", ")
    }

    private static func platformLabel(channelFile: String, channel: String) -> String {
        let suffix = String(channelFile.dropLast(4).dropFirst(channel.count))
        switch suffix {
        case "": return "Windows"
        case "-mac": return "macOS"
        case "-linux": return "Linux"
        default: return "Linux " + suffix.dropFirst("-linux-".count)
        }
    }

    private static func releaseSection(_ release: SiteModel.Release, model: SiteModel, visitor: VisitorPlatform,
                                       prefix: String, headingLevel: Int) -> String {
        var html = "<section class=\"release\" id=\"\(HTML.escape(release.tag))\">\n"
        let name = release.manifest.releaseName ?? "\(model.product) \(release.version)"
        html += "<h\(headingLevel)>\(HTML.escape(name))</h\(headingLevel)>\n"
        html += releaseBody(release, model: model, visitor: visitor, prefix: prefix, headingLevel: headingLevel + 1)
        html += "</section>\n"
        return html
    }

    private static func releaseBody(_ release: SiteModel.Release, model: SiteModel, visitor: VisitorPlatform,
                                    prefix: String, headingLevel: Int) -> String {
        var html = "<p class=\"meta\">Version \(HTML.escape(release.version))"
        if release.isPrerelease { html += " · pre-release" }
        var channels: [String] = []
        for file in release.offeredBy {
            if let channel = ReleaseLayout.channel(ofChannelFile: file), !channels.contains(channel) { channels.append(channel) }
        }
        // In the page's channel order (latest, beta, alpha, others).
        channels = model.channels.map(\.name).filter(channels.contains)
        if !channels.isEmpty { html += " · offered on the " + HTML.escape(channels.joined(separator: ", ")) + " channel" + (channels.count > 1 ? "s" : "") }
        html += "</p>\n"
        let notes = SiteModel.notesText(release.manifest.releaseNotes)
        if !notes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            html += "<div class=\"notes\">\n" + SafeMarkdown.render(notes, headingLevel: min(6, headingLevel + 1)) + "</div>\n"
        }
        for group in PlatformGroup.groups(release.manifest, visitor: visitor) {
            html += "<div class=\"platform\(group.recommended ? " recommended" : "")\">\n"
            html += "<h\(headingLevel)>\(group.os.displayName)"
            if group.recommended { html += "<span class=\"badge\">Recommended</span>" }
            html += "</h\(headingLevel)>\n<table>\n"
            for artifact in group.artifacts {
                let href = prefix + HTML.artifactPath(version: release.version, name: artifact.name)
                html += "<tr><td><a class=\"download\" href=\"\(HTML.escape(href))\" download>\(HTML.escape(artifact.name))</a>"
                html += "<div class=\"sha\">SHA-256 <code class=\"hash\">\(HTML.escape(artifact.sha256))</code>"
                html += "<button class=\"copy\" type=\"button\" data-copy=\"\(HTML.escape(artifact.sha256))\" hidden>Copy</button></div></td>"
                html += "<td class=\"arch\">\(HTML.escape(artifact.arch?.rawValue ?? ""))</td>"
                html += "<td class=\"size\">\(HTML.humanSize(artifact.size))</td></tr>\n"
            }
            html += "</table>\n</div>\n"
        }
        return html
    }
}
