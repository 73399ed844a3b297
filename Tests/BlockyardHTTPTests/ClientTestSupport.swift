import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation

/// A published release and an installed older file, laid out like `blockyard release
/// create` writes a feed: `latest-linux.yml` at the feed root, the artifact and its blockmap
/// under `releases/2.0.0/`.
final class UpdateFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let feedRoot: String
    let installedPath: String
    let outPath: String
    /// The published artifact's bytes (with the embedded blockmap when there is one).
    let published: [UInt8]
    let sha512: String
    let artifactPath: String
    let relativeURL: String
    let installedDigest: String

    /// - Parameters:
    ///   - embedded: append the blockmap to the artifact (AppImage style, `blockMapSize`).
    ///   - blockmap: publish a `.blockmap` file (ignored with `embedded`).
    init(old: [UInt8], new: [UInt8], name: String = "bundle.bin", channelFile: String = "latest-linux.yml",
         embedded: Bool = false, blockmap: Bool = true, version: String = "2.0.0", delivery: Bool = false) throws {
        dir = try TemporaryDirectory("blockyard-update")
        feedRoot = dir.path("feed")
        relativeURL = "releases/\(version)/\(name)"
        artifactPath = "\(feedRoot)/\(relativeURL)"
        try FileManager.default.createDirectory(atPath: "\(feedRoot)/releases/\(version)", withIntermediateDirectories: true)
        try Data(new).write(to: URL(fileURLWithPath: artifactPath))
        var entry: UpdateFileInfo
        if embedded {
            let (result, tail) = try BlockmapGenerator.generateEmbedded(path: artifactPath)
            try BlockmapGenerator.appendAtomically(path: artifactPath, tail: tail, expectedSize: new.count)
            published = new + tail
            entry = UpdateFileInfo(url: relativeURL, sha512: result.sha512.base64, size: result.size,
                                   blockMapSize: result.blockMapSize)
        } else {
            let result = try BlockmapGenerator.generate(path: artifactPath)
            if blockmap {
                try Data(BlockmapCodec.encodeGzip(result.blockmap)).write(to: URL(fileURLWithPath: artifactPath + ".blockmap"))
            }
            published = new
            entry = UpdateFileInfo(url: relativeURL, sha512: result.sha512.base64, size: result.size)
            if delivery {
                // What `release create` writes beside the artifact and names in the channel file.
                let built = try DeliveryFileBuilder.build(inputPath: artifactPath, indexPath: artifactPath + ".byindex",
                                                          packPath: artifactPath + ".bypack")
                entry.delivery = DeliveryReference(index: relativeURL + ".byindex", indexSize: built.indexSize,
                                                   pack: relativeURL + ".bypack", packSize: Int(built.index.packSize),
                                                   root: built.index.rootHash.hex)
            }
        }
        sha512 = entry.sha512
        let info = UpdateInfo(version: version, files: [entry], path: entry.url, sha512: entry.sha512,
                              releaseDate: "2026-01-01T00:00:00.000Z")
        try Data(ChannelFileYAML.encode(info).utf8).write(to: URL(fileURLWithPath: "\(feedRoot)/\(channelFile)"))
        let installedName = name.hasSuffix(".AppImage") ? "installed.AppImage" : "installed.bin"
        installedPath = try dir.write(installedName, old)
        outPath = dir.path("out-" + name)
        installedDigest = try FileHasher.hash(path: installedPath).sha512.base64
    }

    func options(feed: String) -> UpdateOptions {
        var options = UpdateOptions(feed: feed, installed: installedPath, out: outPath)
        options.target = ReleaseTarget(os: .linux, arch: .x64)
        options.retry = RetryPolicy(retries: 3, initialDelay: 0.01, maximumDelay: 0.05)
        options.readTimeout = 10
        options.connectTimeout = 0.5
        return options
    }

    /// SHA-512 (base64) of the output, nil when it does not exist.
    func outDigest() -> String? {
        guard FileManager.default.fileExists(atPath: outPath) else { return nil }
        return try? FileHasher.hash(path: outPath).sha512.base64
    }

    var installedUnchanged: Bool { (try? FileHasher.hash(path: installedPath).sha512.base64) == installedDigest }

    /// Files left in the output's directory besides the inputs (temporary files, partials).
    func leftovers() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.url.path)) ?? []
        let known = Set(["feed", URL(fileURLWithPath: installedPath).lastPathComponent, URL(fileURLWithPath: outPath).lastPathComponent])
        return names.filter { !known.contains($0) }.sorted()
    }

    var partialExists: Bool { FileManager.default.fileExists(atPath: PartialDownload.paths(for: outPath).partial) }
}

/// One line of the test nginx's access log: `$request $status $bytes_sent "$http_range"`.
struct AccessLogLine {
    let method: String
    let path: String
    let status: Int
    let bytesSent: Int
    let range: String

    init?(_ line: String) {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count >= 6, let status = Int(parts[3]), let sent = Int(parts[4]) else { return nil }
        method = String(parts[0])
        path = String(parts[1])
        self.status = status
        bytesSent = sent
        range = parts[5...].joined(separator: " ").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    static func read(_ nginx: NginxServer, expecting count: Int? = nil) -> [AccessLogLine] {
        // nginx logs a request when it finishes it; an abandoned response finishes a moment later.
        for _ in 0..<100 {
            let lines = nginx.logLines().compactMap(AccessLogLine.init)
            if count == nil || lines.count >= count! { return lines }
            usleep(20_000)
        }
        return nginx.logLines().compactMap(AccessLogLine.init)
    }
}

/// A scripted HTTP/1.1 server on 127.0.0.1 for the failure cases no real server produces on
/// demand: answers chosen per request, including broken ones. Built on
/// ``LoopbackHTTPServer``: one thread per connection, `Connection: close` on every response.
final class ScriptedHTTPServer: @unchecked Sendable {
    typealias Request = LoopbackHTTPServer.Request

    enum Reply: Sendable {
        /// As nginx: 200 without Range, 206 for one range, multipart for several.
        case normal
        /// 200 with the whole file, whatever the Range header.
        case fullBody
        case status(Int)
        /// The normal answer, cut off (connection closed) after this many body bytes.
        case dropAfter(Int)
        /// The normal answer with one byte of every part changed.
        case corrupt
        /// Multipart parts labelled with the wrong Content-Range.
        case wrongPartRange
        /// One 206 part spanning from the first to the last range asked for.
        case mergedParts
        /// Multipart with the first range only (a server that drops parts).
        case firstRangeOnly
        /// The normal answer after a pause (seconds).
        case slow(Double)
        /// The normal answer, its body sent in pieces of `bytes` every `seconds`.
        case trickle(bytes: Int, seconds: Double)
        /// `302 Found` to this URL (absolute, or relative to the request).
        case redirect(String)
    }

    private let files: [String: [UInt8]]
    private let handler: @Sendable (Request) -> Reply
    private var server: LoopbackHTTPServer!

    /// - Parameter files: URL path (`/releases/2.0.0/x.bin`) → content.
    init(files: [String: [UInt8]], handler: @escaping @Sendable (Request) -> Reply) throws {
        self.files = files
        self.handler = handler
        server = try LoopbackHTTPServer { [weak self] request, connection in
            guard let self else { return 0 }
            return respond(connection, request, handler(request))
        }
    }

    var port: Int { server.port }
    var baseURL: String { server.baseURL }
    func stop() { server.stop() }
    /// Bytes written to sockets (headers and bodies), all responses together.
    var bytesSent: Int { server.bytesSent }
    /// Requests received in arrival order, with the status each was answered with (0: the
    /// connection was dropped).
    var requests: [(Request, Int)] { server.requests }

    /// Writes the answer; returns its status (0 when dropped before the headers).
    private func respond(_ connection: LoopbackHTTPServer.Connection, _ request: Request, _ reply: Reply) -> Int {
        func write(_ bytes: [UInt8]) -> Bool { connection.write(bytes) }
        func head(_ status: Int, _ headers: [String: String]) -> Bool { connection.writeHead(status, headers) }
        if case .redirect(let location) = reply {
            _ = head(302, ["Location": location, "Content-Length": "0"])
            return 302
        }
        guard let file = files[request.path] else {
            _ = head(404, ["Content-Length": "0"])
            return 404
        }
        if case .status(let code) = reply {
            _ = head(code, ["Content-Length": "0"])
            return code
        }
        if case .slow(let seconds) = reply { usleep(useconds_t(seconds * 1_000_000)) }
        var ranges: [ByteRange] = []
        if case .fullBody = reply {} else if let header = request.range {
            switch RangeRequest.evaluate(header, size: file.count) {
            case .ranges(let list): ranges = list
            case .full: break
            case .unsatisfiable:
                _ = head(416, ["Content-Range": "bytes */\(file.count)", "Content-Length": "0"])
                return 416
            case .invalid:
                _ = head(400, ["Content-Length": "0"])
                return 400
            }
        }
        if case .mergedParts = reply, ranges.count > 1 {
            ranges = [ByteRange(first: ranges.first!.first, last: ranges.last!.last)]
        }
        if case .firstRangeOnly = reply, ranges.count > 1 {
            ranges = [ranges[0]]
        }
        var status = 200
        var headers: [String: String] = ["Accept-Ranges": "bytes"]
        var body: [UInt8]
        if ranges.isEmpty {
            body = file
            headers["Content-Type"] = "application/octet-stream"
        } else if ranges.count == 1 {
            status = 206
            body = Array(file[ranges[0].range])
            if case .corrupt = reply, !body.isEmpty { body[0] ^= 0xFF }
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Range"] = ranges[0].contentRange(totalSize: file.count)
        } else {
            status = 206
            let labels: [ByteRange]
            if case .wrongPartRange = reply {
                labels = ranges.map { ByteRange(offset: $0.offset + 1, length: $0.length) }
            } else {
                labels = ranges
            }
            let encoder = MultipartByterangesEncoder(boundary: "00000000000000000042", partContentType: "application/octet-stream",
                                                     totalSize: file.count, ranges: labels)
            body = []
            for (i, r) in ranges.enumerated() {
                body += encoder.partHeader(i)
                var part = Array(file[r.range])
                if case .corrupt = reply { part[0] ^= 0xFF }
                body += part
            }
            body += encoder.closing
            headers["Content-Type"] = encoder.contentType
        }
        headers["Content-Length"] = String(body.count)
        guard head(status, headers) else { return 0 }
        if case .dropAfter(let n) = reply {
            _ = write(Array(body.prefix(n)))
            return 0
        }
        if case .trickle(let n, let seconds) = reply {
            var at = 0
            while at < body.count {
                guard write(Array(body[at..<min(body.count, at + n)])) else { return 0 }
                at += n
                usleep(useconds_t(seconds * 1_000_000))
            }
            return status
        }
        return write(body) ? status : 0
    }
}

extension LoopbackHTTPServer.Request {
    var range: String? { headers["range"] }
    var rangeCount: Int { range.map { $0.split(separator: ",").count } ?? 0 }
}

extension ScriptedHTTPServer {
    /// Serves every file under `root` at its relative path.
    convenience init(root: String, handler: @escaping @Sendable (Request) -> Reply) throws {
        var files: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let relative = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = "\(root)/\(relative)"
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files["/" + relative] = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            }
        }
        try self.init(files: files, handler: handler)
    }

    /// Requests for one path.
    func requests(for path: String) -> [(Request, Int)] { requests.filter { $0.0.path == path } }
}
