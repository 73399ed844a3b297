import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Synchronization
import Testing

/// The update client against servers that try to take more than they should: credentials
/// through a redirect to another origin, metadata claiming sizes no file can have, failures
/// after which nothing may be left behind (issue #20, items 4 and 7).
@Suite("update client: hostile servers and metadata", .serialized)
struct ClientHardeningTests {
    static func fixture(blockmap: Bool = true) throws -> UpdateFixture {
        try UpdateFixture(old: ClientFailureTests.old, new: VectorInputs.generate("bundle-7-8-insert100")!, blockmap: blockmap)
    }

    /// Rewrites the channel file's `size:` of the artifact.
    static func claim(size: String, in f: UpdateFixture) throws {
        let channel = "\(f.feedRoot)/latest-linux.yml"
        let text = try String(contentsOfFile: channel, encoding: .utf8)
        let replaced = text.replacingOccurrences(of: "size: \(f.published.count)", with: "size: \(size)")
        try #require(replaced != text)
        try replaced.write(toFile: channel, atomically: true, encoding: .utf8)
    }

    static let credentials: [(String, String)] = [
        ("Authorization", "Bearer secret-a"), ("Private-Token", "secret-t"), ("Cookie", "session=secret-c"),
        ("Proxy-Authorization", "Basic secret-p"), ("X-Api-Key", "secret-k"), ("X-Trace", "kept"),
    ]

    @Test func credentialsAreNotSentAfterARedirectToAnotherOrigin() async throws {
        let f = try Self.fixture()
        // The second server (another port: another origin) has the files and records headers.
        let other = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let first = try ScriptedHTTPServer(files: [:]) { r in .redirect(other.baseURL + r.target) }
        var options = f.options(feed: first.baseURL + "/")
        options.headers = Self.credentials
        options.secretHeaders = ["x-api-key"]
        let report = try await UpdateClient(options: options).run()
        #expect(report.status == "updated")
        #expect(f.outDigest() == f.sha512)

        // The origin that was asked got every header.
        #expect(!first.requests.isEmpty)
        for (request, _) in first.requests {
            for (name, value) in Self.credentials { #expect(request.headers[name.lowercased()] == value, "\(request.path) \(name)") }
        }
        // The other origin got none of the credentials, but the rest (Range included).
        let redirected = other.requests
        #expect(redirected.count >= 3)
        #expect(redirected.contains { $0.0.range != nil })
        for (request, _) in redirected {
            for name in ["authorization", "private-token", "cookie", "proxy-authorization", "x-api-key"] {
                #expect(request.headers[name] == nil, "\(request.path): \(name) crossed to another origin")
            }
            #expect(request.headers["x-trace"] == "kept")
        }
    }

    @Test func credentialsStayWithinTheOrigin() async throws {
        let f = try Self.fixture()
        // /old/… redirects to /… on the same server.
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in
            r.path.hasPrefix("/old/") ? .redirect(String(r.target.dropFirst(4))) : .normal
        }
        var options = f.options(feed: server.baseURL + "/old/")
        options.headers = Self.credentials
        _ = try await UpdateClient(options: options).run()
        #expect(f.outDigest() == f.sha512)
        let followed = server.requests.filter { !$0.0.path.hasPrefix("/old/") }
        #expect(followed.count >= 3)
        for (request, _) in followed {
            for (name, value) in Self.credentials { #expect(request.headers[name.lowercased()] == value, "\(request.path) \(name)") }
        }
    }

    @Test func redirectsOutsideHTTPOrInCyclesFail() async throws {
        let f = try Self.fixture()
        let toFile = try ScriptedHTTPServer(files: [:]) { _ in .redirect("file:///etc/passwd") }
        let error = await ClientFailureTests.failure(f.options(feed: toFile.baseURL + "/"))
        #expect(error?.kind == .io)
        #expect(error?.message.contains("not an http(s) URL") == true)
        let cycle = try ScriptedHTTPServer(files: [:]) { r in .redirect(r.path == "/a" ? "/b" : "/a") }
        let looped = await ClientFailureTests.failure(f.options(feed: cycle.baseURL + "/"))
        #expect(looped?.kind == .io)
        #expect(cycle.requests.count <= 12)
        #expect(f.leftovers().isEmpty)
    }

    @Test(arguments: [true, false])
    func impossibleSizeIsRefusedBeforeAnythingIsCreated(blockmap: Bool) async throws {
        let f = try Self.fixture(blockmap: blockmap)
        try Self.claim(size: "1000000000000000", in: f)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let error = await ClientFailureTests.failure(f.options(feed: server.baseURL))
        #expect(error?.kind == .invalidData, "\(String(describing: error))")
        #expect(error?.message.contains("1000000000000000") == true)
        #expect(f.leftovers().isEmpty)
        #expect(f.outDigest() == nil)
        // Refused from the channel file alone: neither blockmap nor artifact was asked for.
        #expect(server.requests.map(\.0.path) == ["/latest-linux.yml"])
    }

    @Test func negativeSizeIsBadMetadata() async throws {
        let f = try Self.fixture(blockmap: false)
        try Self.claim(size: "-5", in: f)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let error = await ClientFailureTests.failure(f.options(feed: server.baseURL))
        #expect(error?.kind == .invalidData)
        #expect(f.leftovers().isEmpty)
        #expect(server.requests.map(\.0.path) == ["/latest-linux.yml"])
    }

    /// The installed file's chunking (run while the blockmap downloads) polls its
    /// cancellation flag inside the loop: once set, it stops within a window and throws.
    @Test func chunkingStopsOnceCancelled() throws {
        let dir = try TemporaryDirectory("blockyard-chunk-cancel")
        let size = 64 << 20
        let path = try dir.write("big.bin", VectorInputs.randomBytes(seed: 9, count: size))
        let seen = Mutex(0)
        #expect(throws: CancellationError.self) {
            _ = try BlockmapGenerator.chunk(path: path, progress: { n in seen.withLock { $0 += n } },
                                            isCancelled: { seen.withLock { $0 } > 0 })
        }
        // Stopped after a few windows (one per worker at most), not at the end of the file.
        #expect(seen.withLock { $0 } < size / 2)
        // Cancelled before it starts: nothing is read.
        #expect(throws: CancellationError.self) {
            _ = try BlockmapGenerator.generate(path: path, isCancelled: { true })
        }
    }

    @Test func sizeTheBlockmapDoesNotAddUpToIsBadMetadata() async throws {
        let f = try Self.fixture()
        try Self.claim(size: String(f.published.count + 1), in: f)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let error = await ClientFailureTests.failure(f.options(feed: server.baseURL))
        #expect(error?.kind == .invalidData)
        #expect(f.leftovers().isEmpty)
        #expect(server.requests(for: "/" + f.relativeURL).isEmpty)
    }

    /// Failures a retry cannot get past leave nothing beside the output.
    @Test func failuresARetryCannotUseLeaveNothingBehind() async throws {
        let f = try Self.fixture()
        let artifact = "/" + f.relativeURL

        // The artifact is gone (404) after the metadata was read.
        let gone = try ScriptedHTTPServer(root: f.feedRoot) { r in r.path == artifact ? .status(404) : .normal }
        #expect(await ClientFailureTests.failure(f.options(feed: gone.baseURL))?.kind == .missingInput)
        #expect(f.leftovers().isEmpty)

        // The server has a file of another size under the artifact's URL.
        var files: [String: [UInt8]] = [:]
        for name in ["/latest-linux.yml", artifact + ".blockmap"] {
            files[name] = Array(try Data(contentsOf: URL(fileURLWithPath: f.feedRoot + name)))
        }
        files[artifact] = f.published + [0, 1, 2]
        let other = try ScriptedHTTPServer(files: files) { _ in .normal }
        var singleRanges = f.options(feed: other.baseURL)
        singleRanges.download.multipart = false
        let error = await ClientFailureTests.failure(singleRanges)
        #expect(error?.kind == .io)
        #expect(error?.message.contains("metadata says \(f.published.count)") == true)
        #expect(f.leftovers().isEmpty)

        // A network failure before a single byte arrived: nothing a retry could resume.
        let failing = try ScriptedHTTPServer(root: f.feedRoot) { r in r.path == artifact ? .status(503) : .normal }
        let unavailable = await ClientFailureTests.failure(f.options(feed: failing.baseURL))
        #expect(unavailable?.kind == .io)
        #expect(unavailable?.transient == true)
        #expect(f.leftovers().isEmpty)
        #expect(f.outDigest() == nil)
        #expect(f.installedUnchanged)
    }
}
