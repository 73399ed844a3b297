@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

/// `blockyard serve --store`: artifacts absent from the release directory are served from
/// the chunk store, matched by content.
@Suite("serve: store-backed artifacts")
struct ServerStoreTests {
    /// The fixture with 1.1.0's installer and AppImage stored (under unrelated names) and
    /// deleted from the directory, blockmaps included; the mac zip of 1.1.0 deleted but not
    /// stored.
    struct StoreFixture {
        let fixture: ReleaseFixture
        let storeDirectory: TemporaryDirectory
        var storePath: String { storeDirectory.path("store") }
        /// The deleted files' original bytes, by relative path.
        let originals: [String: [UInt8]]

        init() throws {
            fixture = try ReleaseFixture()
            storeDirectory = try TemporaryDirectory("serve-store")
            var originals: [String: [UInt8]] = [:]
            do {
                let (store, _) = try ChunkStore.initialize(at: storeDirectory.path("store"))
                var options = AddOptions()
                options.unpack = false
                for (name, storedAs) in [("MyApp-Setup-1.1.0.exe", "installer"), ("MyApp-1.1.0.AppImage", "appimage")] {
                    let relative = "releases/1.1.0/\(name)"
                    _ = try store.add(path: fixture.inputs.path(name), as: try VersionRef(name: storedAs, version: "build-7"), options: options)
                    originals[relative] = try fixture.bytes(relative)
                    originals[relative + ".blockmap"] = try fixture.bytes(relative + ".blockmap")
                    try FileManager.default.removeItem(atPath: fixture.path(relative))
                    try FileManager.default.removeItem(atPath: fixture.path(relative + ".blockmap"))
                }
            }
            try FileManager.default.removeItem(atPath: fixture.path("releases/1.1.0/MyApp-1.1.0-mac.zip"))
            self.originals = originals
        }
    }

    @Test("Full bodies, single ranges and multipart ranges come from the chunks")
    func servesFromChunks() async throws {
        let s = try StoreFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: s.fixture.root, storePath: s.storePath))
        #expect(server.server.storeMemberCount == 2)
        for name in ["MyApp-Setup-1.1.0.exe", "MyApp-1.1.0.AppImage"] {
            let relative = "releases/1.1.0/\(name)"
            let original = try #require(s.originals[relative])
            let full = try await fetch(server.port, "GET", "/" + relative, headers: ElectronUpdaterRequest.fullDownload)
            #expect(full.status == 200)
            #expect(full.body == original)
            #expect(full.header("ETag") == "\"\(SHA2Hasher.hash(.sha256, original).hex)\"")
            #expect(full.header("Cache-Control") == "public, max-age=31536000, immutable")
            // Ranges across chunk boundaries, inside one chunk, at both ends.
            let ranges = [ByteRange(first: 0, last: 0), ByteRange(first: 8000, last: 40_000), ByteRange(first: 16_383, last: 16_385),
                          ByteRange(first: original.count - 1, last: original.count - 1)]
            for range in ranges {
                let one = try await fetch(server.port, "GET", "/" + relative, headers: ElectronUpdaterRequest.singleRange(range))
                #expect(one.status == 206)
                #expect(one.body == original.slice(range))
            }
            let multi = try await fetch(server.port, "GET", "/" + relative, headers: ElectronUpdaterRequest.multiRange(ranges))
            #expect(multi.status == 206)
            let boundary = try #require(electronUpdaterBoundary(multi.header("Content-Type") ?? ""))
            #expect(electronUpdaterSplit(multi.body, boundary: boundary, lengths: ranges.map(\.length)) == ranges.map { original.slice($0) })
            let head = try await fetch(server.port, "HEAD", "/" + relative)
            #expect(head.header("Content-Length") == String(original.count))
        }
        // Not on disk and not in the store: 404.
        let missing = try await fetch(server.port, "GET", "/releases/1.1.0/MyApp-1.1.0-mac.zip")
        #expect(missing.status == 404)
    }

    @Test("Blockmaps absent from disk are rebuilt from the chunk lists, byte for byte")
    func rebuiltBlockmaps() async throws {
        let s = try StoreFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: s.fixture.root, storePath: s.storePath))
        for name in ["MyApp-Setup-1.1.0.exe.blockmap", "MyApp-1.1.0.AppImage.blockmap"] {
            let relative = "releases/1.1.0/\(name)"
            let response = try await fetch(server.port, "GET", "/" + relative, headers: ElectronUpdaterRequest.blockmap)
            #expect(response.status == 200)
            #expect(response.body == s.originals[relative])
            #expect(response.header("Content-Encoding") == nil)
        }
    }

    @Test("electron-updater's differential download works against the store")
    func differentialFromStore() async throws {
        let s = try StoreFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: s.fixture.root, storePath: s.storePath))
        let result = try await ServerConformanceTests.differentialDownload(port: server.port, name: "MyApp-Setup-1.1.0.exe", multiRange: true)
        #expect(result.bytes == s.originals["releases/1.1.0/MyApp-Setup-1.1.0.exe"])
    }

    @Test("A missing or invalid store is refused at start-up")
    func badStore() throws {
        let fixture = try ReleaseFixture()
        let empty = try TemporaryDirectory("serve-notastore")
        #expect(throws: ServeError.self) { try ReleaseServer(configuration: ServeConfiguration(root: fixture.root, storePath: empty.path("none"))) }
        try empty.write("data.mdb", Array(repeating: 7, count: 4096))
        #expect(throws: ServeError.self) { try ReleaseServer(configuration: ServeConfiguration(root: fixture.root, storePath: empty.url.path)) }
        #expect(throws: ServeError.self) { try ReleaseServer(configuration: ServeConfiguration(root: fixture.path("nope"))) }
    }
}
