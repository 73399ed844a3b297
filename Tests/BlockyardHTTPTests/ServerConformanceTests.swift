@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// The behaviour table of shared/specs/electron-updater.md, row by row: each test sends the
/// requests electron-updater 6.8.9 sends (headers included) to `blockyard serve` and to
/// nginx serving the same directory, and checks the answers byte for byte (multipart
/// boundaries aside). docs/HTTP-SERVER.md maps every row to its test.
@Suite("serve: electron-updater conformance")
struct ServerConformanceTests {
    /// A fixture served by both servers.
    struct Pair {
        let fixture: ReleaseFixture
        let ours: RunningServer
        let nginx: NginxServer

        func both(_ method: String = "GET", _ target: String, headers: [(String, String)]) async throws -> (RawResponse, RawResponse) {
            let a = try await fetch(ours.port, method, target, headers: headers)
            let b = try await fetch(nginx.port, method, target, headers: headers)
            return (a, b)
        }
    }

    static func pair(stagingPercentage: Int? = nil) async throws -> Pair {
        let fixture = try ReleaseFixture(stagingPercentage: stagingPercentage)
        let ours = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let nginx = try await startNginx(root: fixture.root)
        return Pair(fixture: fixture, ours: ours, nginx: nginx)
    }

    static func essence(_ contentType: String?) -> String? {
        contentType.map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces).lowercased() }
    }

    static func boundary(_ response: RawResponse) -> String? {
        response.header("Content-Type").flatMap(electronUpdaterBoundary)
    }

    /// Same status, body (multipart boundary substituted) and the headers a client reads.
    static func expectSame(_ ours: RawResponse, _ nginx: RawResponse, _ what: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(ours.status == nginx.status, "\(what): status", sourceLocation: sourceLocation)
        #expect(ours.header("Content-Range") == nginx.header("Content-Range"), "\(what): Content-Range", sourceLocation: sourceLocation)
        #expect(ours.header("Content-Encoding") == nil, "\(what): Content-Encoding", sourceLocation: sourceLocation)
        guard (200..<300).contains(nginx.status) else { return }
        var body = ours.body
        var contentType = ours.header("Content-Type")
        if let mine = boundary(ours), let theirs = boundary(nginx) {
            #expect(mine.utf8.count == theirs.utf8.count, "\(what): boundary length", sourceLocation: sourceLocation)
            // The only intended difference: part headers padded with one extra field where
            // their end would straddle a 1 KiB multiple of the connection's stream
            // (docs/HTTP-SERVER.md, "Multipart bodies and electron-updater's reader").
            body = withoutPadding(body)
            #expect(Int(ours.header("Content-Length") ?? "") == ours.body.count, "\(what): Content-Length", sourceLocation: sourceLocation)
            #expect(body.count == nginx.body.count, "\(what): length without the padding", sourceLocation: sourceLocation)
            body = replace(Array(mine.utf8), with: Array(theirs.utf8), in: body)
            contentType = contentType?.replacingOccurrences(of: mine, with: theirs)
            #expect(contentType == nginx.header("Content-Type"), "\(what): Content-Type", sourceLocation: sourceLocation)
        } else {
            #expect(ours.header("Content-Length") == nginx.header("Content-Length"), "\(what): Content-Length", sourceLocation: sourceLocation)
            #expect(essence(contentType) == essence(nginx.header("Content-Type")), "\(what): Content-Type", sourceLocation: sourceLocation)
        }
        // Compared outside #expect, so a failure names the first difference instead of
        // printing megabytes.
        let common = min(body.count, nginx.body.count)
        let firstDifference = (0..<common).first { body[$0] != nginx.body[$0] } ?? (body.count == nginx.body.count ? nil : common)
        #expect(firstDifference == nil, "\(what): bodies differ from byte \(firstDifference ?? 0) (\(body.count) vs \(nginx.body.count) bytes)",
                sourceLocation: sourceLocation)
    }

    /// `body` without the `\r\nX-Padding: 0…0` fields that end some part headers.
    static func withoutPadding(_ body: [UInt8]) -> [UInt8] {
        let field = Array("\r\nX-Padding: ".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = 0
        while i < body.count {
            if body[i] == 13, i + field.count < body.count, Array(body[i..<(i + field.count)]) == field {
                var j = i + field.count
                while j < body.count && body[j] == UInt8(ascii: "0") { j += 1 }
                if j > i + field.count, j + 4 <= body.count, Array(body[j..<(j + 4)]) == [13, 10, 13, 10] {
                    i = j
                    continue
                }
            }
            out.append(body[i])
            i += 1
        }
        return out
    }

    static func replace(_ needle: [UInt8], with replacement: [UInt8], in haystack: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(haystack.count)
        var i = 0
        while i < haystack.count {
            if i + needle.count <= haystack.count && haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle {
                out += replacement
                i += needle.count
            } else {
                out.append(haystack[i])
                i += 1
            }
        }
        return out
    }

    // MARK: Channel file request

    @Test("Channel file request: 200 YAML, no-cache, any noCache query")
    func channelFileRequest() async throws {
        let p = try await Self.pair()
        for name in ["latest.yml", "latest-mac.yml", "latest-linux.yml", "beta.yml", "alpha-mac.yml"] {
            for query in ["?noCache=1jd8q2kvo", "?noCache=1jd8q2kvp", ""] {
                let (ours, nginx) = try await p.both("GET", "/\(name)\(query)", headers: ElectronUpdaterRequest.channelFile())
                Self.expectSame(ours, nginx, name + query)
                #expect(ours.status == 200)
                #expect(ours.body == (try p.fixture.bytes(name)))
                #expect(ours.header("Cache-Control") == "no-cache")
                #expect(Self.essence(ours.header("Content-Type")) == "text/yaml")
                let document = try ChannelDocument(bytes: ours.body)
                #expect(document.info.version == "1.1.0")
            }
        }
    }

    // MARK: Channel 404 / errors

    @Test("Channel 404: only for channel files that do not exist")
    func channelNotFound() async throws {
        let p = try await Self.pair()
        for name in ["latest-linux-arm64.yml", "nightly.yml", "latest-mac.yml.missing"] {
            let (ours, nginx) = try await p.both("GET", "/\(name)?noCache=x", headers: ElectronUpdaterRequest.channelFile())
            #expect(ours.status == 404, "\(name)")
            #expect(nginx.status == 404, "\(name)")
        }
        let (ours, _) = try await p.both("GET", "/latest-linux.yml?noCache=x", headers: ElectronUpdaterRequest.channelFile())
        #expect(ours.status == 200)
    }

    // MARK: Feed URL query

    @Test("Feed URL query: the same query on every derived URL is accepted")
    func feedQueryOnEveryURL() async throws {
        let p = try await Self.pair()
        let query = "?X-Amz-Signature=abc%2Fdef&token=1"
        let artifact = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        for target in ["/latest.yml" + query, artifact + query, artifact + ".blockmap" + query] {
            let (ours, nginx) = try await p.both("GET", target, headers: ElectronUpdaterRequest.fullDownload)
            Self.expectSame(ours, nginx, target)
            #expect(ours.status == 200)
        }
        let (ours, nginx) = try await p.both("GET", artifact + query, headers: ElectronUpdaterRequest.singleRange(ByteRange(first: 10, last: 99)))
        Self.expectSame(ours, nginx, "range with query")
        #expect(ours.status == 206)
    }

    // MARK: File URLs (immutable), Redirects

    @Test("File URLs: every URL a channel file names answers 200 directly, immutable, strong ETag")
    func fileURLsImmutable() async throws {
        let p = try await Self.pair()
        for name in ["latest.yml", "latest-mac.yml", "latest-linux.yml"] {
            let info = try ChannelDocument(bytes: try p.fixture.bytes(name)).info
            for file in info.files {
                let (ours, nginx) = try await p.both("GET", "/" + file.url, headers: ElectronUpdaterRequest.fullDownload)
                Self.expectSame(ours, nginx, file.url)
                #expect(ours.status == 200, "no redirect for \(file.url)")
                #expect(ours.header("Cache-Control") == "public, max-age=31536000, immutable")
                let artifact = try #require(try p.fixture.manifest(info.version).artifacts.first { file.url.hasSuffix("/" + $0.name) })
                #expect(ours.header("ETag") == "\"\(artifact.sha256)\"")
                #expect(ours.header("Accept-Ranges") == "bytes")
            }
        }
    }

    // MARK: Blockmap

    @Test("Blockmap: new and old URLs, gzip bytes, no Content-Encoding")
    func blockmapFetch() async throws {
        let p = try await Self.pair()
        let info = try ChannelDocument(bytes: try p.fixture.bytes("latest.yml")).info
        let newURL = "/" + info.files[0].url + ".blockmap"
        // electron-updater's old URL: every occurrence of the new version replaced by the old.
        let oldURL = newURL.replacingOccurrences(of: "1.1.0", with: "1.0.0")
        #expect(oldURL == "/releases/1.0.0/MyApp-Setup-1.0.0.exe.blockmap")
        for url in [newURL, oldURL] {
            let (ours, nginx) = try await p.both("GET", url, headers: ElectronUpdaterRequest.blockmap)
            Self.expectSame(ours, nginx, url)
            #expect(ours.status == 200)
            #expect(ours.header("Content-Encoding") == nil)
            #expect(Array(ours.body.prefix(2)) == [0x1F, 0x8B], "gzip magic")
            let blockmap = try BlockmapCodec.decodeGzip(ours.body)
            #expect(blockmap.totalSize > 0)
            #expect(ours.header("Cache-Control") == "public, max-age=31536000, immutable")
        }
    }

    // MARK: latest.yml fields

    @Test("latest.yml fields: size and base64 sha512 for every file, blockMapSize for AppImage")
    func channelFileFields() async throws {
        let p = try await Self.pair()
        for name in ["latest.yml", "latest-mac.yml", "latest-linux.yml"] {
            let response = try await fetch(p.ours.port, "GET", "/\(name)?noCache=1", headers: ElectronUpdaterRequest.channelFile())
            let document = try ChannelDocument(bytes: response.body)
            #expect(document.warnings.isEmpty, "\(document.warnings)")
            for file in document.info.files {
                let served = try await fetch(p.ours.port, "GET", "/" + file.url, headers: ElectronUpdaterRequest.fullDownload)
                #expect(file.size == served.body.count)
                #expect(file.sha512 == SHA2Hasher.hash(.sha512, served.body).base64)
                if file.url.hasSuffix(".AppImage") { #expect(file.blockMapSize != nil) }
            }
        }
    }

    // MARK: Single range

    @Test("Single range: 206 with exactly those bytes, like nginx")
    func singleRange() async throws {
        let p = try await Self.pair()
        let target = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        let bytes = try p.fixture.bytes(String(target.dropFirst()))
        let size = bytes.count
        let ranges = [ByteRange(first: 0, last: 0), ByteRange(first: 0, last: 16383), ByteRange(first: 12345, last: 67890),
                      ByteRange(first: size - 1, last: size - 1), ByteRange(first: 0, last: size - 1)]
        for range in ranges {
            let (ours, nginx) = try await p.both("GET", target, headers: ElectronUpdaterRequest.singleRange(range))
            Self.expectSame(ours, nginx, "range \(range)")
            #expect(ours.status == 206)
            #expect(ours.body == bytes.slice(range))
            #expect(ours.header("Content-Range") == "bytes \(range.first)-\(range.last)/\(size)")
        }
        // Open-ended, suffix and over-long ranges, as nginx answers them. (A last position
        // beyond 2^63 is clamped too, where nginx answers 416: see hostileRanges.)
        for header in ["bytes=100-", "bytes=-500", "bytes=\(size - 10)-\(size + 1000)", "bytes=0-9999999999999"] {
            let (ours, nginx) = try await p.both("GET", target, headers: [("range", header), ("Accept-Encoding", "identity")])
            Self.expectSame(ours, nginx, header)
            #expect(ours.status == 206)
        }
        // HEAD with a range: the same headers, no body.
        let (ours, nginx) = try await p.both("HEAD", target, headers: ElectronUpdaterRequest.singleRange(ByteRange(first: 5, last: 9)))
        #expect(ours.status == nginx.status)
        #expect(ours.header("Content-Length") == nginx.header("Content-Length"))
        #expect(ours.header("Content-Range") == nginx.header("Content-Range"))
    }

    // MARK: Multi-range request and response

    /// electron-updater's differential download of 1.1.0 from 1.0.0, in multi-range mode
    /// (batches of 1000 ops: one request per batch with ≥ 2 DOWNLOADs) or single-range
    /// mode (one request per DOWNLOAD), assembled as its DataSplitter does and checked
    /// with the channel file's SHA-512, as electron-updater checks it.
    static func differentialDownload(port: Int, name: String, multiRange: Bool) async throws -> (bytes: [UInt8], requests: Int, ranges: Int) {
        let channel = try ChannelDocument(bytes: try await fetch(port, "GET", "/latest.yml?noCache=2", headers: ElectronUpdaterRequest.channelFile()).body).info
        let file = try #require(channel.files.first { $0.url.hasSuffix(name) })
        let newBlockmap = try BlockmapCodec.decodeGzip(try await fetch(port, "GET", "/\(file.url).blockmap", headers: ElectronUpdaterRequest.blockmap).body)
        let oldURL = "/\(file.url).blockmap".replacingOccurrences(of: channel.version, with: "1.0.0")
        let oldBlockmap = try BlockmapCodec.decodeGzip(try await fetch(port, "GET", oldURL, headers: ElectronUpdaterRequest.blockmap).body)
        let oldFile = try await fetch(port, "GET", "/" + file.url.replacingOccurrences(of: channel.version, with: "1.0.0"),
                                      headers: ElectronUpdaterRequest.fullDownload).body
        let plan = try ElectronUpdaterPlanner.plan(
            target: newBlockmap, seed: PlanSeedInput(path: "old", size: oldFile.count, blockmap: oldBlockmap),
            options: PlanOptions(mode: .electronUpdater, expectedTargetSize: file.size))
        var output: [UInt8] = []
        var requests = 0
        var rangeCount = 0
        let connection = try RawConnection(port: port)
        var start = 0
        let ops = plan.operations
        while start < ops.count {
            let batch = Array(ops[start..<min(ops.count, start + ElectronUpdaterPlanner.batchSize)])
            start += batch.count
            let downloads = batch.filter { $0.kind == .fetch }.map { ByteRange(offset: $0.sourceOffset, length: $0.length) }
            var parts: [[UInt8]] = []
            if multiRange && downloads.count >= 2 {
                let response = try await connection.request("GET", "/" + file.url, headers: ElectronUpdaterRequest.multiRange(downloads))
                requests += 1
                rangeCount += downloads.count
                try #require(response.status == 206)
                let boundary = try #require(electronUpdaterBoundary(response.header("Content-Type") ?? ""))
                parts = try #require(electronUpdaterSplit(response.body, boundary: boundary, lengths: downloads.map(\.length)))
            } else {
                for range in downloads {
                    let response = try await connection.request("GET", "/" + file.url, headers: ElectronUpdaterRequest.singleRange(range))
                    requests += 1
                    rangeCount += 1
                    try #require(response.status == 206)
                    parts.append(response.body)
                }
            }
            var next = 0
            for op in batch {
                if op.kind == .copy {
                    output += oldFile[op.sourceOffset..<(op.sourceOffset + op.length)]
                } else {
                    output += parts[next]
                    next += 1
                }
            }
        }
        #expect(output.count == file.size)
        #expect(SHA2Hasher.hash(.sha512, output).base64 == file.sha512, "sha512 checksum mismatch")
        return (output, requests, rangeCount)
    }

    @Test("Multi-range request: electron-updater's differential download, multi- and single-range mode")
    func electronUpdaterDifferentialDownload() async throws {
        let p = try await Self.pair()
        let expected = try p.fixture.bytes("releases/1.1.0/MyApp-Setup-1.1.0.exe")
        let multi = try await Self.differentialDownload(port: p.ours.port, name: "MyApp-Setup-1.1.0.exe", multiRange: true)
        #expect(multi.bytes == expected)
        #expect(multi.ranges >= 2, "the fixture's update needs several ranges")
        #expect(multi.requests < multi.ranges, "several ranges per request")
        let single = try await Self.differentialDownload(port: p.ours.port, name: "MyApp-Setup-1.1.0.exe", multiRange: false)
        #expect(single.bytes == expected)
        #expect(single.requests == single.ranges)
    }

    /// A sparse file of just over 10⁹ bytes, so offsets have 10 digits (the longest headers).
    static func sparseFile(_ fixture: ReleaseFixture, size: Int = 1_100_000_000) throws -> (target: String, size: Int) {
        let directory = fixture.path("releases/9.9.9")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/sparse.bin"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        defer { close(fd) }
        try #require(fd >= 0 && ftruncate(fd, off_t(size)) == 0)
        // A few non-zero bytes so the parts differ.
        for offset in stride(from: 0, to: size, by: 100_000_007) {
            var byte = UInt8(truncatingIfNeeded: offset / 100_000_007 + 1)
            _ = pwrite(fd, &byte, 1, off_t(offset))
        }
        return ("/releases/9.9.9/sparse.bin", size)
    }

    /// `count` ascending, non-adjacent ranges at 10-digit offsets (from 10⁹ to `size`), like
    /// a plan's DOWNLOADs in a large file.
    static func spreadRanges(count: Int, size: Int, length: Int = 100) -> [ByteRange] {
        let start = 1_000_000_000
        let step = (size - start) / count
        precondition(step > length)
        return (0..<count).map { ByteRange(offset: start + $0 * step, length: length) }
    }

    @Test("Multi-range request: 500 and 1000 ranges, 10-digit offsets, comma+space, like nginx")
    func manyRangesLikeNginx() async throws {
        let p = try await Self.pair()
        let sparse = try Self.sparseFile(p.fixture)
        for count in [2, 500, 1000] {
            let ranges = Self.spreadRanges(count: count, size: sparse.size)
            let headers = ElectronUpdaterRequest.multiRange(ranges)
            if count == 500 { #expect(headers.first { $0.0 == "Range" }!.1.utf8.count > 11_000, "a header over 11 KB") }
            let (ours, nginx) = try await p.both("GET", sparse.target, headers: headers)
            Self.expectSame(ours, nginx, "\(count) ranges")
            #expect(ours.status == 206)
            // electron-updater's parser reads exactly the requested parts.
            let boundary = try #require(electronUpdaterBoundary(ours.header("Content-Type") ?? ""))
            let parts = try #require(electronUpdaterSplit(ours.body, boundary: boundary, lengths: ranges.map(\.length)))
            #expect(parts.count == count)
            // Blockyard's strict parser checks every part's Content-Range.
            var parser = try MultipartByterangesParser(contentType: ours.header("Content-Type")!, expecting: ranges)
            var received = 0
            try ours.body.withUnsafeBytes { try parser.feed($0) { _, _, bytes in received += bytes.count } }
            try parser.finish()
            #expect(received == ranges.reduce(0) { $0 + $1.length })
        }
    }

    @Test("Multi-range request: a 64 KiB Range header is accepted")
    func rangeHeaderOf64KiB() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let sparse = try Self.sparseFile(fixture)
        let ranges = Self.spreadRanges(count: 1900, size: sparse.size, length: 10)
        // Zero-padded positions (valid 1*DIGIT) to reach 64 KiB with fewer than 2000 ranges.
        let specs = ranges.map { String(repeating: "0", count: 6) + "\($0.first)-" + String(repeating: "0", count: 6) + "\($0.last)" }
        let header = "bytes=" + specs.joined(separator: ", ")
        #expect(header.utf8.count >= 64 * 1024)
        let response = try await fetch(server.port, "GET", sparse.target, headers: [("Range", header)])
        #expect(response.status == 206)
        var parser = try MultipartByterangesParser(contentType: response.header("Content-Type") ?? "", expecting: ranges)
        var parts = 0
        try response.body.withUnsafeBytes { try parser.feed($0) { index, offset, _ in if offset == 0 { parts = index + 1 } } }
        try parser.finish()
        #expect(parts == ranges.count)
    }

    @Test("Multi-range response: parts in request order, never merged, exact framing")
    func multipartNeverMergedOrReordered() async throws {
        let p = try await Self.pair()
        let target = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        let bytes = try p.fixture.bytes(String(target.dropFirst()))
        // Adjacent, overlapping and descending ranges: answered as asked, one part each.
        let ranges = [ByteRange(first: 5000, last: 5999), ByteRange(first: 6000, last: 6999), ByteRange(first: 100, last: 199),
                      ByteRange(first: 150, last: 249), ByteRange(first: 0, last: 0)]
        let (ours, nginx) = try await p.both("GET", target, headers: ElectronUpdaterRequest.multiRange(ranges))
        Self.expectSame(ours, nginx, "adjacent/overlapping/descending")
        #expect(ours.status == 206)
        let boundary = try #require(electronUpdaterBoundary(ours.header("Content-Type") ?? ""))
        let parts = try #require(electronUpdaterSplit(ours.body, boundary: boundary, lengths: ranges.map(\.length)))
        #expect(parts == ranges.map { bytes.slice($0) })
        // The exact nginx framing: CRLF, part headers, closing delimiter.
        let encoder = MultipartByterangesEncoder(boundary: boundary, partContentType: "application/octet-stream",
                                                 totalSize: bytes.count, ranges: ranges)
        var framed: [UInt8] = []
        for (i, r) in ranges.enumerated() { framed += encoder.partHeader(i) + bytes.slice(r) }
        framed += encoder.closing
        #expect(ours.body == framed)
        #expect(ours.header("Content-Type") == "multipart/byteranges; boundary=\(boundary)")
    }

    // MARK: Request rate

    @Test("Request rate: hundreds of sequential single-range requests, no throttling")
    func burstOfRangeRequests() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let target = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        let bytes = try fixture.bytes(String(target.dropFirst()))
        let connection = try RawConnection(port: server.port)
        for i in 0..<300 {
            let range = ByteRange(offset: (i * 9973) % (bytes.count - 200), length: 200)
            let response = try await connection.request("GET", target, headers: ElectronUpdaterRequest.singleRange(range))
            #expect(response.status == 206)
            #expect(response.body == bytes.slice(range))
        }
        for i in 0..<50 {
            let range = ByteRange(offset: i * 1000, length: 10)
            let response = try await fetch(server.port, "GET", target, headers: ElectronUpdaterRequest.singleRange(range))
            #expect(response.status == 206)
        }
    }

    // MARK: Status codes

    @Test("Status codes: 416 when nothing is satisfiable, never 200 for a bytes Range")
    func statusCodes() async throws {
        let p = try await Self.pair()
        let target = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        let size = try p.fixture.bytes(String(target.dropFirst())).count
        for header in ["bytes=\(size)-", "bytes=\(size + 5)-\(size + 10)", "bytes=\(size)-\(size), \(size + 1)-"] {
            let (ours, nginx) = try await p.both("GET", target, headers: [("Range", header)])
            Self.expectSame(ours, nginx, header)
            #expect(ours.status == 416)
            #expect(ours.header("Content-Range") == "bytes */\(size)")
        }
        // Malformed or reversed: rejected with 416, never a 200 full body.
        for header in ["bytes=5-3", "bytes=abc", "bytes=", "bytes=1-2,x"] {
            let ours = try await fetch(p.ours.port, "GET", target, headers: [("Range", header)])
            #expect(ours.status == 416, "\(header)")
            #expect(ours.body.count < 1000)
        }
        // A unit other than bytes is ignored (RFC 9110): 200, as nginx.
        let (ours, nginx) = try await p.both("GET", target, headers: [("Range", "items=0-5")])
        Self.expectSame(ours, nginx, "items unit")
        #expect(ours.status == 200)
        // Range on a missing file: 404.
        let (missing, _) = try await p.both("GET", "/releases/1.1.0/nope.exe", headers: ElectronUpdaterRequest.singleRange(ByteRange(first: 0, last: 1)))
        #expect(missing.status == 404)
    }

    // MARK: Content-Encoding

    @Test("Content-Encoding: never, whatever Accept-Encoding says")
    func noContentEncoding() async throws {
        let p = try await Self.pair()
        let targets = ["/latest.yml": "text/yaml; charset=utf-8",
                       "/releases/1.1.0/MyApp-Setup-1.1.0.exe": "application/octet-stream",
                       "/releases/1.1.0/MyApp-Setup-1.1.0.exe.blockmap": "application/octet-stream",
                       "/releases/1.1.0/SHA256SUMS": "text/plain; charset=utf-8",
                       "/releases/1.1.0/release.json": "application/json; charset=utf-8"]
        for (target, type) in targets {
            for headers in [[("Accept-Encoding", "gzip, deflate, br")], [("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")]] {
                let (ours, nginx) = try await p.both("GET", target, headers: headers)
                #expect(ours.header("Content-Encoding") == nil)
                #expect(nginx.header("Content-Encoding") == nil)
                if type == "application/octet-stream" {
                    Self.expectSame(ours, nginx, "\(target) \(headers)")
                } else {
                    // The test nginx types these as octet-stream; the bytes are the same.
                    #expect(ours.status == nginx.status)
                    #expect(ours.body == nginx.body)
                    #expect(ours.header("Content-Type") == type)
                }
            }
        }
    }

    // MARK: ETag / If-Range / Last-Modified

    @Test("ETag and If-Range: strong tag from the content hash; a stale validator gets the full body")
    func etagAndIfRange() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let target = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"
        let bytes = try fixture.bytes(String(target.dropFirst()))
        let full = try await fetch(server.port, "GET", target)
        let etag = try #require(full.header("ETag"))
        #expect(etag == "\"\(SHA2Hasher.hash(.sha256, bytes).hex)\"")
        let lastModified = try #require(full.header("Last-Modified"))
        let hit = try await fetch(server.port, "GET", target, headers: [("Range", "bytes=0-9"), ("If-Range", etag)])
        #expect(hit.status == 206)
        #expect(hit.body == Array(bytes[0..<10]))
        let byDate = try await fetch(server.port, "GET", target, headers: [("Range", "bytes=0-9"), ("If-Range", lastModified)])
        #expect(byDate.status == 206)
        for stale in ["\"0000\"", "W/\(etag)", "Thu, 01 Jan 1970 00:00:00 GMT"] {
            let miss = try await fetch(server.port, "GET", target, headers: [("Range", "bytes=0-9"), ("If-Range", stale)])
            #expect(miss.status == 200, "\(stale)")
            #expect(miss.body == bytes)
        }
        let notModified = try await fetch(server.port, "GET", target, headers: [("If-None-Match", etag)])
        #expect(notModified.status == 304)
        #expect(notModified.body.isEmpty)
        #expect(notModified.header("ETag") == etag)
        #expect(notModified.header("Content-Length") == nil || notModified.header("Content-Length") == String(bytes.count))
        let failed = try await fetch(server.port, "GET", target, headers: [("If-Match", "\"other\"")])
        #expect(failed.status == 412)
        // Files not described by a manifest get a tag computed from their bytes.
        let sums = try await fetch(server.port, "GET", "/releases/1.1.0/SHA256SUMS")
        #expect(sums.header("ETag") == "\"\(SHA2Hasher.hash(.sha256, try fixture.bytes("releases/1.1.0/SHA256SUMS")).hex)\"")
        #expect(sums.header("Cache-Control") == "no-cache")
    }

    // MARK: Auth

    @Test("Auth: request headers an app adds are accepted on every request")
    func authorizationHeaders() async throws {
        let p = try await Self.pair()
        let auth = [("authorization", "Bearer abc.def"), ("private-token", "xyz")]
        let (yml, _) = try await p.both("GET", "/latest.yml", headers: ElectronUpdaterRequest.channelFile() + auth)
        #expect(yml.status == 200)
        let range = ByteRange(first: 100, last: 2000)
        let (ours, nginx) = try await p.both("GET", "/releases/1.1.0/MyApp-Setup-1.1.0.exe",
                                             headers: ElectronUpdaterRequest.singleRange(range) + auth)
        Self.expectSame(ours, nginx, "range with authorization")
        #expect(ours.status == 206)
    }

    // MARK: Embedded blockmap (AppImage)

    @Test("Embedded blockmap: the tail range from size and blockMapSize")
    func embeddedBlockmapTail() async throws {
        let p = try await Self.pair()
        let info = try ChannelDocument(bytes: try p.fixture.bytes("latest-linux.yml")).info
        let file = try #require(info.files.first { $0.url.hasSuffix(".AppImage") })
        let size = try #require(file.size)
        let blockMapSize = try #require(file.blockMapSize)
        let range = ByteRange(first: size - blockMapSize - 4, last: size - 1)
        let (ours, nginx) = try await p.both("GET", "/" + file.url, headers: ElectronUpdaterRequest.singleRange(range))
        Self.expectSame(ours, nginx, "AppImage tail")
        #expect(ours.status == 206)
        #expect(ours.body.count == blockMapSize + 4)
        let blockmap = try BlockmapCodec.decodeEmbedded(Array(ours.body.dropLast(4)))
        #expect(blockmap.totalSize == size - blockMapSize - 4)
    }

    // MARK: Checksums

    @Test("Checksums: the full download matches the channel file's sha512 and size")
    func fullDownloadChecksum() async throws {
        let p = try await Self.pair()
        for name in ["latest.yml", "latest-mac.yml", "latest-linux.yml"] {
            let info = try ChannelDocument(bytes: try p.fixture.bytes(name)).info
            for file in info.files {
                let (ours, nginx) = try await p.both("GET", "/" + file.url, headers: ElectronUpdaterRequest.fullDownload)
                Self.expectSame(ours, nginx, file.url)
                #expect(SHA2Hasher.hash(.sha512, ours.body).base64 == file.sha512)
                #expect(ours.body.count == file.size)
            }
        }
    }

    // MARK: HEAD, Accept-Ranges

    @Test("HEAD answers the GET headers without a body; Accept-Ranges: bytes")
    func headRequests() async throws {
        let p = try await Self.pair()
        for target in ["/latest.yml", "/releases/1.1.0/MyApp-Setup-1.1.0.exe", "/releases/1.1.0/MyApp-Setup-1.1.0.exe.blockmap"] {
            let (ours, nginx) = try await p.both("HEAD", target, headers: [])
            #expect(ours.status == 200)
            #expect(ours.header("Content-Length") == nginx.header("Content-Length"))
            #expect(ours.header("Accept-Ranges") == "bytes")
            #expect(nginx.header("Accept-Ranges") == "bytes")
            #expect(ours.body.isEmpty)
            let get = try await fetch(p.ours.port, "GET", target)
            #expect(get.header("ETag") == ours.header("ETag"))
        }
    }
}
