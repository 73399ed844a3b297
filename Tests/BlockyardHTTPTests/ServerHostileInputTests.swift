@testable import BlockyardHTTP
import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

/// Hostile input: every request below gets a 4xx quickly, and the server keeps answering
/// everyone else.
@Suite("serve: hostile input")
struct ServerHostileInputTests {
    static let artifact = "/releases/1.1.0/MyApp-Setup-1.1.0.exe"

    /// The server still answers a normal request on a new connection.
    static func expectStillServing(_ server: RunningServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let response = try await fetch(server.port, "GET", "/latest.yml?noCache=1", headers: ElectronUpdaterRequest.channelFile())
        #expect(response.status == 200, sourceLocation: sourceLocation)
        let range = try await fetch(server.port, "GET", artifact, headers: ElectronUpdaterRequest.singleRange(ByteRange(first: 0, last: 99)))
        #expect(range.status == 206, sourceLocation: sourceLocation)
        #expect(range.body.count == 100, sourceLocation: sourceLocation)
    }

    /// The status of a hostile request, or nil when the server closed the connection before
    /// the client could read an answer (it may reset a connection whose request it refused
    /// to read to the end).
    static func hostileStatus(_ server: RunningServer, _ target: String, headers: [(String, String)]) async -> Int? {
        guard let connection = try? RawConnection(port: server.port) else { return -1 }
        return try? await connection.request("GET", target, headers: headers).status
    }

    @Test("10 000 ranges, overlapping, reversed, huge numbers: 4xx, never a 200 body")
    func hostileRanges() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let size = try fixture.bytes(String(Self.artifact.dropFirst())).count
        // 10 000 tiny overlapping ranges in a 50 KB header: past the 2000-range limit.
        let tenThousand = "bytes=" + (0..<10_000).map { "\($0 % 100)-\($0 % 100)" }.joined(separator: ", ")
        let overlapping = "bytes=" + Array(repeating: "0-", count: 100).joined(separator: ",")
        let cases: [(String, Int)] = [
            (tenThousand, 416),
            (overlapping, 416),
            ("bytes=100-50", 416),
            ("bytes=99999999999999999999999-", 416),
            ("bytes=-", 416),
            ("bytes=--5", 416),
            ("bytes=1-2-3", 416),
            ("bytes=0x10-0x20", 416),
            ("bytes=" + String(repeating: ",", count: 5000), 416),
        ]
        for (header, status) in cases {
            let response = try await fetch(server.port, "GET", Self.artifact, headers: [("Range", header)])
            #expect(response.status == status, "\(header.prefix(60))")
            #expect(response.body.count < 1024, "an error, not a body")
            #expect(response.header("Content-Range") == "bytes */\(size)")
        }
        // Numbers past the end are clamped like nginx: the whole file, as 206.
        for header in ["bytes=0-99999999999999999999999", "bytes=-99999999999999999999"] {
            let response = try await fetch(server.port, "GET", Self.artifact, headers: [("Range", header)])
            #expect(response.status == 206)
            #expect(response.body.count == size)
        }
        // 10 000 spread ranges in a 140 KB header: past the header limit.
        let tenThousandSpread = "bytes=" + (0..<10_000).map { "\($0 * 20)-\($0 * 20 + 9)" }.joined(separator: ", ")
        let status = await Self.hostileStatus(server, Self.artifact, headers: [("Range", tenThousandSpread)])
        #expect(status == nil || status == 400)
        // Overlapping ranges within the limit (twice the file) are served as asked.
        let twice = try await fetch(server.port, "GET", Self.artifact, headers: [("Range", "bytes=0-, 0-")])
        #expect(twice.status == 206)
        #expect(twice.body.count > 2 * size)
        try await Self.expectStillServing(server)
        let metrics = try await fetch(server.port, "GET", "/metrics")
        #expect(metrics.text.contains(#"blockyard_http_rejected_requests_total{reason="range"}"#))
    }

    @Test("Path traversal, encoded dots, NUL, backslashes, hidden files, symlinks out of the root")
    func pathTraversal() async throws {
        let fixture = try ReleaseFixture()
        let outside = try TemporaryDirectory("serve-outside")
        try outside.write("secret.txt", Array("secret".utf8))
        try FileManager.default.createSymbolicLink(atPath: fixture.path("escape"), withDestinationPath: outside.url.path)
        try FileManager.default.createSymbolicLink(atPath: fixture.path("secret.txt"), withDestinationPath: outside.path("secret.txt"))
        // A link that stays inside the root is served.
        try FileManager.default.createSymbolicLink(atPath: fixture.path("current.yml"), withDestinationPath: "latest.yml")
        try fixture.directory.write(".env", Array("TOKEN=1".utf8))
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let cases: [(String, Int)] = [
            ("/../../../../etc/passwd", 400),
            ("/releases/../../etc/passwd", 400),
            ("/%2e%2e/%2e%2e/etc/passwd", 400),
            ("/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", 400),
            ("/releases/1.1.0/..%2f..%2f..%2fetc%2fpasswd", 400),
            ("/latest.yml%00.exe", 400),
            ("/releases%5c..%5c..%5cetc%5cpasswd", 400),
            ("/%zz", 400),
            ("/escape/secret.txt", 404),
            ("/secret.txt", 404),
            ("/.env", 404),
            ("/releases/1.1.0/", 404),
            ("/releases/1.1.0", 404),
            ("/%252e%252e/etc/passwd", 404),
        ]
        for (target, status) in cases {
            let response = try await fetch(server.port, "GET", target)
            #expect(response.status == status, "\(target)")
            #expect(!response.text.contains("root:"), "\(target)")
            #expect(!response.text.contains("secret"), "\(target)")
        }
        let inside = try await fetch(server.port, "GET", "/current.yml")
        #expect(inside.status == 200)
        #expect(inside.body == (try fixture.bytes("latest.yml")))
        let long = try await fetch(server.port, "GET", "/" + String(repeating: "a", count: 9000))
        #expect(long.status == 414 || long.status == 400)
        try await Self.expectStillServing(server)
    }

    @Test("Absurd header sizes and counts: 400 and the connection closed; others still served")
    func absurdHeaders() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        // A 1 MiB header value.
        let huge = await Self.hostileStatus(server, "/latest.yml", headers: [("X-Filler", String(repeating: "a", count: 1 << 20))])
        #expect(huge == nil || huge == 400)
        // A 200 KiB Range header (beyond the 128 KiB limit).
        let rangeHeader = "bytes=" + (0..<20_000).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ", ")
        #expect(rangeHeader.utf8.count > 128 * 1024)
        let tooLong = await Self.hostileStatus(server, Self.artifact, headers: [("Range", rangeHeader)])
        #expect(tooLong == nil || tooLong == 400)
        // Thousands of header fields.
        let many = (0..<5000).map { ("X-H\($0)", "v") }
        let manyStatus = await Self.hostileStatus(server, "/latest.yml", headers: many)
        #expect(manyStatus == nil || manyStatus == 400)
        // Just under the limit is fine: a 100 KiB header.
        let big = try await fetch(server.port, "GET", "/latest.yml", headers: [("X-Filler", String(repeating: "a", count: 100 * 1024))])
        #expect(big.status == 200)
        // Garbage instead of HTTP.
        let garbage = try RawConnection(port: server.port)
        let answer = try await garbage.exchange(Array("\u{1}\u{2}GARBAGE\r\n\r\n".utf8))
        #expect((400..<500).contains(answer.status))
        #expect(await garbage.isClosedByPeer())
        try await Self.expectStillServing(server)
    }

    @Test("Methods other than GET and HEAD: 405 with Allow")
    func methods() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
            let response = try await fetch(server.port, method, "/latest.yml", headers: [("Content-Length", "0")])
            #expect(response.status == 405, "\(method)")
            #expect(response.header("Allow") == "GET, HEAD")
        }
        try await Self.expectStillServing(server)
    }

    @Test("Clients that go away mid-body or mid-request do not disturb the server")
    func abandonedConnections() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        for _ in 0..<20 {
            let connection = try RawConnection(port: server.port)
            try await connection.send(Array("GET \(Self.artifact) HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            // Dropped without reading the 3 MB body.
        }
        for _ in 0..<20 {
            let connection = try RawConnection(port: server.port)
            try await connection.send(Array("GET /latest.yml HTTP/1.1\r\nHost: x\r\nRange: bytes=0-".utf8))
        }
        try await Self.expectStillServing(server)
    }
}
