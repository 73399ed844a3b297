import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

/// The download page in a real browser: `blockyard serve` with two releases, headless
/// Chromium (Debian package `chromium`) takes a screenshot — written to the build folder,
/// next to the `blockyard` binary, as `serve-page-screenshot.png` — and dumps the DOM.
@Suite("serve: download page in Chromium")
struct ServePageBrowserTests {
    static var chromium: String? {
        if let path = ProcessInfo.processInfo.environment["CHROMIUM"], FileManager.default.isExecutableFile(atPath: path) { return path }
        return ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs headless Chromium with `arguments`; returns (status, stdout). Killed after 90 s.
    static func runChromium(_ binary: String, _ arguments: [String], profile: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                             "--disable-extensions", "--user-data-dir=\(profile)", "--hide-scrollbars"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = profile
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: timer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func pageRendersInChromium() throws {
        guard let chromium = Self.chromium else {
            Issue.record("headless Chromium is needed for this test and is not installed: apt-get install chromium fonts-dejavu-core (tools/setup installs them)")
            return
        }
        let dir = try TemporaryDirectory()
        let root = dir.path("site")
        for (index, version) in ["2.0.0", "2.1.0"].enumerated() {
            let exe = try dir.write("MyApp-Setup-\(version).exe", VectorInputs.randomBytes(seed: UInt64(10 + index), count: 400_000))
            let appImage = try dir.write("MyApp-\(version).AppImage", VectorInputs.randomBytes(seed: UInt64(20 + index), count: 300_000))
            let zip = try dir.write("MyApp-\(version)-mac.zip", VectorInputs.randomBytes(seed: UInt64(30 + index), count: 200_000))
            let notes = try dir.write("notes-\(version).md", Array("## Changes in \(version)\n\n- **Faster** updates\n- <script>alert(1)</script> stays text\n".utf8))
            let created = try CommandRunner.run(["release", "create", "--version", version, "--out", root,
                                                 "--release-notes-file", notes, exe, appImage, zip])
            try #require(created.status == 0, "\(created.stderr)")
        }
        let serve = try ServeCommandTests.serve(["--root", root, "--product-name", "MyApp"])
        let url = "http://127.0.0.1:\(serve.port)/"
        let profile = try TemporaryDirectory("chromium-profile")

        // The DOM as Chromium built it (scripts ran).
        let (domStatus, dom) = try Self.runChromium(chromium, ["--dump-dom", url], profile: profile.url.path)
        #expect(domStatus == 0)
        #expect(dom.contains("<title>MyApp 2.1.0 — Download</title>"), "\(dom.prefix(400))")
        #expect(dom.contains(#"<strong class="version">2.1.0</strong>"#))
        #expect(dom.contains("2.0.0"))
        #expect(dom.contains("Recommended"), "headless Chromium on Linux: the Linux artifacts come first")
        #expect(dom.contains("MyApp-2.1.0.AppImage"))
        #expect(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        // The copy buttons were shown by the page's script (allowed by its CSP).
        #expect(dom.contains(#"class="copy" type="button""#))
        #expect(!dom.contains(#"hidden="">Copy</button>"#), "the inline script ran")

        // A screenshot under the build folder.
        let screenshot = CommandRunner.binary.deletingLastPathComponent().appendingPathComponent("serve-page-screenshot.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let (shotStatus, _) = try Self.runChromium(chromium, ["--window-size=1280,1400", "--screenshot=\(screenshot)", url],
                                                   profile: profile.url.path)
        #expect(shotStatus == 0)
        let png = try Array(Data(contentsOf: URL(fileURLWithPath: screenshot)))
        let image = try #require(PNGImage(png), "not a PNG Chromium would write")
        #expect(image.width == 1280)
        let stats = image.colorStatistics()
        #expect(stats.distinctColors >= 16, "a blank page has one or two colours, this one \(stats.distinctColors)")
        #expect(stats.nonBackgroundFraction > 0.01, "text and boxes cover \(stats.nonBackgroundFraction * 100) % of the page")
        #expect(serve.stop() == 0)
    }
}

/// Just enough PNG decoding to look at a screenshot: 8-bit RGB or RGBA, not interlaced.
struct PNGImage {
    let width: Int
    let height: Int
    let channels: Int
    let pixels: [UInt8]

    init?(_ bytes: [UInt8]) {
        guard bytes.count > 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var offset = 8
        var width = 0, height = 0, channels = 0
        var idat: [UInt8] = []
        while offset + 8 <= bytes.count {
            let length = u32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = offset + 8
            guard data + length <= bytes.count else { return nil }
            switch type {
            case "IHDR":
                width = u32(data)
                height = u32(data + 4)
                guard bytes[data + 8] == 8, bytes[data + 12] == 0 else { return nil }  // 8-bit, not interlaced
                switch bytes[data + 9] {
                case 2: channels = 3
                case 6: channels = 4
                default: return nil
                }
            case "IDAT":
                idat += bytes[data..<(data + length)]
            default:
                break
            }
            offset = data + length + 4
        }
        // zlib stream: 2-byte header, raw DEFLATE, 4-byte Adler-32.
        guard width > 0, height > 0, idat.count > 6,
              let raw = try? Zlib.decompress(Array(idat[2..<(idat.count - 4)]), format: .raw, limit: (width * channels + 1) * height) else { return nil }
        let stride = width * channels
        guard raw.count == (stride + 1) * height else { return nil }
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let line = y * (stride + 1) + 1
            for x in 0..<stride {
                let value = raw[line + x]
                let a = x >= channels ? Int(out[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(out[(y - 1) * stride + x - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: return nil
                }
                out[y * stride + x] = UInt8(truncatingIfNeeded: Int(value) + predictor)
            }
        }
        self.width = width
        self.height = height
        self.channels = channels
        pixels = out
    }

    /// Distinct RGB colours, and the share of pixels that differ from the top-left one.
    func colorStatistics() -> (distinctColors: Int, nonBackgroundFraction: Double) {
        var colors = Set<UInt32>()
        let background = UInt32(pixels[0]) << 16 | UInt32(pixels[1]) << 8 | UInt32(pixels[2])
        var other = 0
        for i in stride(from: 0, to: pixels.count, by: channels) {
            let rgb = UInt32(pixels[i]) << 16 | UInt32(pixels[i + 1]) << 8 | UInt32(pixels[i + 2])
            colors.insert(rgb)
            if rgb != background { other += 1 }
        }
        return (colors.count, Double(other) / Double(width * height))
    }
}
