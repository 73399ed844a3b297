@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

@Suite("download page: safe Markdown and escaping")
struct PageMarkdownTests {
    @Test func escapesEverything() {
        #expect(HTML.escape(#"<a href="x" onclick='y'>&amp;</a>"#) == "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;")
        #expect(HTML.pathSegment("My App 1.0 (x64)#?.exe") == "My%20App%201.0%20%28x64%29%23%3F.exe")
        #expect(HTML.pathSegment("ünï.exe") == "%C3%BCn%C3%AF.exe")
        #expect(HTML.humanSize(1023) == "1023 B")
        #expect(HTML.humanSize(3 * 1024 * 1024 + 512 * 1024) == "3.5 MiB")
    }

    @Test func rendersTheUsualReleaseNotes() {
        let html = SafeMarkdown.render("""
            # What's new

            Faster **updates** and *smaller* downloads, see [the docs](https://example.com/docs?a=1&b=2).

            - fixed `crash` on start
            - new option:
              continued line
            1. one
            2) two

            > quoted *text*

            ```
            let x = "<tag>"
            ```
            ---
            Visit https://example.com/x.
            """)
        #expect(html.contains("<h3>What&#39;s new</h3>"))
        #expect(html.contains("<strong>updates</strong>"))
        #expect(html.contains("<em>smaller</em>"))
        #expect(html.contains(#"<a href="https://example.com/docs?a=1&amp;b=2" rel="nofollow noopener noreferrer">the docs</a>"#))
        #expect(html.contains("<ul><li>fixed <code>crash</code> on start</li><li>new option:\ncontinued line</li></ul>"))
        #expect(html.contains("<ol><li>one</li><li>two</li></ol>"))
        #expect(html.contains("<blockquote>\n<p>quoted <em>text</em></p>\n</blockquote>"))
        #expect(html.contains("<pre><code>let x = &quot;&lt;tag&gt;&quot;</code></pre>"))
        #expect(html.contains("<hr>"))
        #expect(html.contains(#"<a href="https://example.com/x" rel="nofollow noopener noreferrer">https://example.com/x</a>."#))
    }

    /// Hostile notes: script tags, attribute breakouts, dangerous link schemes.
    static let hostileNotes = """
        <script>alert(1)</script> <img src=x onerror=alert(2)> <a href="javascript:alert(3)">a</a>
        "double" 'single' & ampersand
        [click](javascript:alert(4)) [upper](JaVaScRiPt:alert(5)) [tab](java\tscript:alert(6))
        [data](data:text/html;base64,PHNjcmlwdD4=) [vb](vbscript:msgbox) [spaced]( javascript:alert(7))
        [ok](https://example.com/?q="><script>alert(8)</script>) [quote"onmouseover="alert(9)](https://example.com)
        <javascript:alert(10)> `<script>alert(11)</script>` **<b>bold</b>**
        """

    @Test func hostileInputStaysText() {
        let html = SafeMarkdown.render(Self.hostileNotes)
        for forbidden in ["<script", "<img", "<a href=\"javascript", "href=\"JaVaScRiPt", "href=\"java", "href=\"data:",
                          "href=\"vbscript", "\"onmouseover", "<b>"] {
            #expect(!html.lowercased().contains(forbidden.lowercased()), "\(forbidden) in \(html)")
        }
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("&quot;double&quot; &#39;single&#39; &amp; ampersand"))
        // Unsafe links keep their text, safe ones their (escaped) target.
        #expect(html.contains("click"))
        #expect(html.contains(#"href="https://example.com/?q=&quot;&gt;&lt;script&gt;alert(8)&lt;/script&gt;""#))
        #expect(html.contains("quote&quot;onmouseover=&quot;alert(9)</a>"))
        #expect(html.contains("<code>&lt;script&gt;alert(11)&lt;/script&gt;</code>"))
        // Every tag in the output is one the renderer makes.
        let tags = Set(html.matches(of: /<\/?([a-z0-9]+)/).map { String($0.output.1) })
        #expect(tags.isSubset(of: ["p", "a", "code", "strong", "em", "ul", "ol", "li", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr"]), "\(tags)")
    }

    @Test(arguments: ["javascript:alert(1)", "JAVASCRIPT:x", " javascript:x", "java\tscript:x", "java\nscript:x",
                      "data:text/html,x", "vbscript:x", "file:///etc/passwd", "\u{0}javascript:x", "javascript&colon;x:y"])
    func unsafeURLs(_ url: String) {
        #expect(SafeMarkdown.safeURL(url) == nil, "\(url.debugDescription)")
    }

    @Test(arguments: ["https://example.com", "http://x.y/a?b#c", "mailto:a@b.c", "/relative/path", "docs/page.html", "#anchor", "?q=a:b"])
    func safeURLs(_ url: String) {
        #expect(SafeMarkdown.safeURL(url) == url)
    }

    @Test func pathologicalInputIsBounded() {
        // Deep nesting and huge notes do not recurse without bound or go quadratic.
        let nested = String(repeating: "*_", count: 5000) + "x" + String(repeating: "_*", count: 5000)
        #expect(!SafeMarkdown.render(nested).isEmpty)
        let huge = String(repeating: "<b>x</b> ", count: 20_000)
        let rendered = SafeMarkdown.render(huge)
        #expect(rendered.hasPrefix("<pre>"))
        #expect(!rendered.contains("<b>"))
    }

    @Test func visitorPlatforms() {
        let cases: [(String, VisitorPlatform)] = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", VisitorPlatform(os: .windows, arch: .x64)),
            ("Mozilla/5.0 (Windows NT 10.0; ARM64) AppleWebKit/537.36", VisitorPlatform(os: .windows, arch: .arm64)),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15", VisitorPlatform(os: .mac)),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/156.0", VisitorPlatform(os: .linux, arch: .x64)),
            ("Mozilla/5.0 (X11; Linux aarch64; rv:128.0) Gecko/20100101 Firefox/128.0", VisitorPlatform(os: .linux, arch: .arm64)),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36", VisitorPlatform()),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", VisitorPlatform()),
            ("curl/8.5.0", VisitorPlatform()),
        ]
        for (ua, expected) in cases { #expect(VisitorPlatform(userAgent: ua) == expected, "\(ua)") }
        #expect(VisitorPlatform(userAgent: nil) == VisitorPlatform())
    }

    @Test func productNameGuess() {
        func manifest(_ names: [String], version: String = "1.2.0", releaseName: String? = nil) -> ReleaseManifest {
            ReleaseManifest(version: version, channel: "latest", createdAt: "2026-01-01T00:00:00.000Z", releaseName: releaseName,
                            artifacts: names.map { ReleaseArtifact(name: $0, os: .windows, arch: nil, size: 1, sha512: "x", sha256: "y") })
        }
        #expect(SiteModel.guessProduct(manifest(["MyApp-Setup-1.2.0.exe", "MyApp-1.2.0-mac.zip", "MyApp-1.2.0.AppImage"])) == "MyApp")
        #expect(SiteModel.guessProduct(manifest(["Cool App Setup 1.2.0.exe"])) == "Cool App")
        #expect(SiteModel.guessProduct(manifest(["setup.exe", "app.zip"], releaseName: "Tool 1.2.0")) == "Tool")
        #expect(SiteModel.guessProduct(manifest(["a.exe", "b.zip"])) == "Releases")
        #expect(SiteModel.guessProduct(nil) == "Releases")
    }
}

@Suite("download page: served")
struct PageServedTests {
    static let windowsUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
    static let macUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"
    static let linuxUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"

    /// The `<h3>` platform headings in page order, inside the latest release's section.
    static func platformOrder(_ html: String) -> [String] {
        let latest = html.components(separatedBy: "<section class=\"older\">")[0]
        return latest.matches(of: /<div class="platform[^"]*">\n<h3>([A-Za-z]+)/).map { String($0.output.1) }
    }

    @Test("GET /: latest version, notes, artifacts with sizes, SHA-256 and links; visitor's platform first")
    func page() async throws {
        let fixture = try ReleaseFixture(releaseNotes: "Faster **updates**.\n\n- one\n- two")
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let response = try await fetch(server.port, "GET", "/", headers: [("User-Agent", Self.macUA)])
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/html; charset=utf-8")
        #expect(response.header("Cache-Control") == "no-cache")
        #expect(response.header("Vary") == "User-Agent")
        #expect(response.header("X-Content-Type-Options") == "nosniff")
        let html = response.text
        #expect(html.contains("<title>MyApp 1.1.0 — Download</title>"))
        #expect(html.contains("<h1>MyApp</h1>"))
        #expect(html.contains(#"Latest version <strong class="version">1.1.0</strong>"#))
        #expect(html.contains("2026-01-02 00:00 UTC"))
        #expect(html.contains("<strong>updates</strong>"))
        #expect(html.contains("<li>latest: <strong>1.1.0</strong></li>"))
        #expect(Self.platformOrder(html) == ["macOS", "Windows", "Linux"])
        #expect(html.contains(#"<h3>macOS<span class="badge">Recommended</span></h3>"#))
        let manifest = try fixture.manifest("1.1.0")
        for artifact in manifest.artifacts {
            #expect(html.contains(#"href="releases/1.1.0/\#(HTML.pathSegment(artifact.name))" download>\#(artifact.name)</a>"#))
            #expect(html.contains(#"<code class="hash">\#(artifact.sha256)</code>"#))
            #expect(html.contains(#"data-copy="\#(artifact.sha256)" hidden>Copy</button>"#))
            #expect(html.contains(HTML.humanSize(artifact.size)))
        }
        // The older version is listed below.
        #expect(html.contains(#"<details id="v1.0.0"><summary>1.0.0 — 2026-01-01 00:00 UTC</summary>"#))
        // Every link on the page resolves.
        for link in html.matches(of: /href="([^"]+)"/).map({ String($0.output.1) }) where !link.hasPrefix("http") {
            let target = "/" + link.replacingOccurrences(of: "&amp;", with: "&")
            let answer = try await fetch(server.port, "HEAD", target)
            #expect(answer.status == 200, "\(target)")
        }
        // Conditional GET and HEAD work like for files.
        let etag = try #require(response.header("ETag"))
        let again = try await fetch(server.port, "GET", "/", headers: [("User-Agent", Self.macUA), ("If-None-Match", etag)])
        #expect(again.status == 304)
        let head = try await fetch(server.port, "HEAD", "/", headers: [("User-Agent", Self.macUA)])
        #expect(head.header("Content-Length") == String(response.body.count))
        #expect(head.body.isEmpty)
    }

    @Test("The recommended platform follows the User-Agent")
    func recommended() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        for (ua, order) in [(Self.windowsUA, ["Windows", "macOS", "Linux"]), (Self.linuxUA, ["Linux", "Windows", "macOS"]),
                            ("curl/8", ["Windows", "macOS", "Linux"])] {
            let html = try await fetch(server.port, "GET", "/", headers: [("User-Agent", ua)]).text
            #expect(Self.platformOrder(html) == order, "\(ua)")
            #expect(html.contains("Recommended") == (ua != "curl/8"))
        }
    }

    @Test("/releases/ and /releases: the same page with links relative to where it is")
    func releasesPath() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let slash = try await fetch(server.port, "GET", "/releases/").text
        #expect(slash.contains(#"href="../releases/1.1.0/MyApp-Setup-1.1.0.exe""#))
        #expect(slash.contains(#"href="../api/releases""#))
        let bare = try await fetch(server.port, "GET", "/releases").text
        #expect(bare.contains(#"href="releases/1.1.0/MyApp-Setup-1.1.0.exe""#))
        let index = try await fetch(server.port, "GET", "/index.html")
        #expect(index.status == 200)
    }

    @Test("Hostile release names and notes are escaped; no external assets; a strict CSP")
    func hostileReleaseIsEscaped() async throws {
        let fixture = try ReleaseFixture(releaseNotes: PageMarkdownTests.hostileNotes)
        // A hostile release name too.
        var manifest = try fixture.manifest("1.1.0")
        manifest.releaseName = #"</title><script>alert("name")</script>"#
        try Data(manifest.encoded()).write(to: URL(fileURLWithPath: fixture.path("releases/1.1.0/release.json")))
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root, productName: "<My & \"App\">"))
        let response = try await fetch(server.port, "GET", "/")
        let html = response.text
        #expect(html.components(separatedBy: "<script").count == 2, "only the page's own script")
        #expect(!html.contains("<img"))
        #expect(!html.lowercased().contains("href=\"javascript"))
        #expect(!html.lowercased().contains("href=\"data:"))
        #expect(html.contains("&lt;/title&gt;&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;"))
        #expect(html.contains("<h1>&lt;My &amp; &quot;App&quot;&gt;</h1>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        // Nothing is loaded from elsewhere: no src attributes, no stylesheets, no imports.
        #expect(html.firstMatch(of: /<[a-z]+[^>]*\ssrc=/) == nil)
        #expect(!html.contains("<link"))
        #expect(!html.contains("@import"))
        #expect(!html.contains("url("))
        let csp = try #require(response.header("Content-Security-Policy"))
        #expect(csp.hasPrefix("default-src 'none'; style-src 'sha256-"))
        // The CSP hashes are those of the inline style and script.
        let style = try #require(html.firstMatch(of: /<style>([\s\S]*?)<\/style>/)).output.1
        let script = try #require(html.firstMatch(of: /<script>([\s\S]*?)<\/script>/)).output.1
        #expect(csp.contains("'sha256-\(SHA2Hasher.hash(.sha256, Array(style.utf8)).base64)'"))
        #expect(csp.contains("'sha256-\(SHA2Hasher.hash(.sha256, Array(script.utf8)).base64)'"))
    }

    @Test("An empty release directory gets a page that says so")
    func emptyRoot() async throws {
        let empty = try TemporaryDirectory("serve-empty")
        let server = try await RunningServer.start(ServeConfiguration(root: empty.url.path))
        let response = try await fetch(server.port, "GET", "/")
        #expect(response.status == 200)
        #expect(response.text.contains("No releases yet."))
        let latest = try await fetch(server.port, "GET", "/api/releases/latest")
        #expect(latest.status == 404)
        let list = try await fetch(server.port, "GET", "/api/releases")
        #expect(list.text == "[]")
    }
}
