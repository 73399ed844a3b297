@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// The GitHub-style releases API: field names and JSON types as GitHub's REST API has them
/// (decoded with strict `Decodable` types: a number is not a string, a bool not a number).
@Suite("releases API")
struct ReleasesAPITests {
    /// GitHub's `release` object, the fields installers and download pages read.
    struct GitHubRelease: Decodable {
        let url: String
        let html_url: String
        let assets_url: String
        let id: Int
        let tag_name: String
        let name: String
        let body: String
        let draft: Bool
        let prerelease: Bool
        let created_at: String
        let published_at: String
        let tarball_url: String?
        let zipball_url: String?
        let assets: [GitHubAsset]
    }

    struct GitHubAsset: Decodable {
        let url: String
        let id: Int
        let name: String
        let label: String?
        let state: String
        let content_type: String
        let size: Int
        let digest: String?
        let download_count: Int
        let created_at: String
        let updated_at: String
        let browser_download_url: String
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: RawResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(response.body))
    }

    static func isGitHubTimestamp(_ text: String) -> Bool {
        text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/) != nil
    }

    @Test("/api/releases/latest: GitHub's field names and types, links that work")
    func latestShape() async throws {
        let fixture = try ReleaseFixture(releaseNotes: "Notes with <b>markup</b> & \"quotes\"")
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let response = try await fetch(server.port, "GET", "/api/releases/latest")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(response.header("Cache-Control") == "no-cache")
        #expect(response.header("ETag") != nil)
        let release = try Self.decode(GitHubRelease.self, response)
        #expect(release.tag_name == "v1.1.0")
        #expect(release.name == "MyApp 1.1.0")
        #expect(release.body == "Notes with <b>markup</b> & \"quotes\"", "JSON carries the notes as they are")
        #expect(!release.draft)
        #expect(!release.prerelease)
        #expect(release.published_at == "2026-01-02T00:00:00Z")
        #expect(Self.isGitHubTimestamp(release.created_at))
        #expect(release.html_url == "http://127.0.0.1:\(server.port)/releases/#v1.1.0")
        #expect(release.url == "http://127.0.0.1:\(server.port)/api/releases/\(release.id)")
        // null, not absent, as GitHub sends them.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(object["tarball_url"] is NSNull)
        #expect(object.keys.contains("zipball_url"))
        // Every asset downloads with the advertised size and digest.
        let manifest = try fixture.manifest("1.1.0")
        #expect(release.assets.map(\.name).sorted() == manifest.artifacts.flatMap { [$0.name, $0.blockmap!.name] }.sorted())
        for asset in release.assets {
            #expect(asset.state == "uploaded")
            #expect(Self.isGitHubTimestamp(asset.updated_at))
            let prefix = "http://127.0.0.1:\(server.port)"
            #expect(asset.browser_download_url.hasPrefix(prefix + "/releases/1.1.0/"))
            let download = try await fetch(server.port, "GET", String(asset.browser_download_url.dropFirst(prefix.count)))
            #expect(download.status == 200)
            #expect(download.body.count == asset.size)
            #expect(asset.digest == "sha256:" + SHA2Hasher.hash(.sha256, download.body).hex)
            #expect(asset.content_type == download.header("Content-Type"))
        }
        // The API's own links resolve.
        for link in [release.url, release.assets_url, release.assets[0].url] {
            let path = String(link.dropFirst("http://127.0.0.1:\(server.port)".count))
            #expect(try await fetch(server.port, "GET", path).status == 200, "\(path)")
        }
        let assets = try JSONDecoder().decode([GitHubAsset].self, from: Data(try await fetch(server.port, "GET", "/api/releases/\(release.id)/assets").body))
        #expect(assets.count == release.assets.count)
        let one = try JSONDecoder().decode(GitHubAsset.self, from: Data(try await fetch(server.port, "GET", "/api/releases/assets/\(release.assets[0].id)").body))
        #expect(one.name == release.assets[0].name)
    }

    @Test("/api/releases: newest first, per_page and page with Link headers; tags")
    func listAndTags() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let all = try Self.decode([GitHubRelease].self, try await fetch(server.port, "GET", "/api/releases"))
        #expect(all.map(\.tag_name) == ["v1.1.0", "v1.0.0"])
        #expect(Set(all.map(\.id)).count == 2)
        let first = try await fetch(server.port, "GET", "/api/releases?per_page=1")
        #expect(try Self.decode([GitHubRelease].self, first).map(\.tag_name) == ["v1.1.0"])
        let link = try #require(first.header("Link"))
        #expect(link.contains("<http://127.0.0.1:\(server.port)/api/releases?per_page=1&page=2>; rel=\"next\""))
        #expect(link.contains("rel=\"last\""))
        let second = try await fetch(server.port, "GET", "/api/releases?per_page=1&page=2")
        #expect(try Self.decode([GitHubRelease].self, second).map(\.tag_name) == ["v1.0.0"])
        #expect(try await fetch(server.port, "GET", "/api/releases?page=9").text == "[]")
        for tag in ["v1.0.0", "1.0.0"] {
            let tagged = try Self.decode(GitHubRelease.self, try await fetch(server.port, "GET", "/api/releases/tags/\(tag)"))
            #expect(tagged.tag_name == "v1.0.0")
            #expect(tagged.id == all[1].id)
        }
        for missing in ["/api/releases/tags/v9.9.9", "/api/releases/12345", "/api/releases/assets/1", "/api/releases/x/y/z", "/api/releases/latest/x"] {
            let response = try await fetch(server.port, "GET", missing)
            #expect(response.status == 404, "\(missing)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            #expect(object["message"] as? String == "Not Found")
        }
    }

    /// Found while writing the OpenAPI document (issue #18): `?page=9223372036854775807`
    /// overflowed `(page - 1) * per_page` and crashed the server; malformed numbers were taken
    /// as the default.
    @Test("Huge and malformed page numbers: an empty page or 400, never a crash")
    func hugeAndMalformedPages() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        for query in ["page=9223372036854775807", "page=9223372036854775807&per_page=100", "page=4611686018427387904&per_page=2",
                      "page=100000000000000000000000000"] {
            let response = try await fetch(server.port, "GET", "/api/releases?\(query)")
            #expect(response.status == 200, "\(query)")
            #expect(response.text == "[]", "\(query)")
        }
        let clamped = try Self.decode([GitHubRelease].self, try await fetch(server.port, "GET", "/api/releases?per_page=1000"))
        #expect(clamped.count == 2)
        for query in ["page=0", "per_page=0", "page=abc", "per_page=-3", "page=1e3"] {
            let response = try await fetch(server.port, "GET", "/api/releases?\(query)")
            #expect(response.status == 400, "\(query)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            #expect(object["status"] as? String == "400")
            #expect((object["message"] as? String)?.contains("whole number") == true)
            #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
        }
        // Still serving.
        #expect(try await fetch(server.port, "GET", "/api/releases/latest").status == 200)
    }

    @Test("/openapi.json: the document, with an ETag")
    func openAPIDocument() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        let response = try await fetch(server.port, "GET", "/openapi.json")
        #expect(response.status == 200)
        #expect(response.body == ReleasesOpenAPI.document)
        let etag = try #require(response.header("ETag"))
        #expect(try await fetch(server.port, "GET", "/openapi.json", headers: [("If-None-Match", etag)]).status == 304)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let paths = try #require(object["paths"] as? [String: Any])
        #expect(paths["/api/releases/latest"] != nil)
    }

    @Test("Pre-releases, rollbacks and the public base URL")
    func prereleaseRollbackBaseURL() async throws {
        let fixture = try ReleaseFixture()
        let beta = try fixture.inputs.write("MyApp-Setup-1.2.0-beta.1.exe", VectorInputs.randomBytes(seed: 5, count: 50_000))
        _ = try ReleaseBuilder.create(ReleaseCreateOptions(version: "1.2.0-beta.1", artifacts: [beta], outputDirectory: fixture.root))
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root, publicBaseURL: "https://updates.example.com/app"))
        let all = try Self.decode([GitHubRelease].self, try await fetch(server.port, "GET", "/api/releases"))
        #expect(all.map(\.tag_name) == ["v1.2.0-beta.1", "v1.1.0", "v1.0.0"])
        #expect(all.map(\.prerelease) == [true, false, false])
        #expect(all[0].assets[0].browser_download_url == "https://updates.example.com/app/releases/1.2.0-beta.1/MyApp-Setup-1.2.0-beta.1.exe")
        // latest is what latest.yml offers, never a pre-release.
        #expect(try Self.decode(GitHubRelease.self, try await fetch(server.port, "GET", "/api/releases/latest")).tag_name == "v1.1.0")
        // After a rollback of the latest channel to 1.0.0, the API follows the channel files.
        _ = try ChannelEditor.promote(root: fixture.root, version: "1.0.0", channel: "latest")
        #expect(try Self.decode(GitHubRelease.self, try await fetch(server.port, "GET", "/api/releases/latest")).tag_name == "v1.0.0")
        let page = try await fetch(server.port, "GET", "/").text
        #expect(page.contains(#"Latest version <strong class="version">1.0.0</strong>"#))
        // beta.yml offers the beta; beta-mac.yml and beta-linux.yml still 1.1.0 (the beta has no
        // mac or Linux artifacts).
        #expect(page.contains("<li>beta: <strong>1.2.0-beta.1</strong> (Windows), <strong>1.1.0</strong> (macOS, Linux)</li>"))
    }

    @Test("download_count counts full downloads served by this process")
    func downloadCount() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        _ = try await fetch(server.port, "GET", "/releases/1.1.0/MyApp-Setup-1.1.0.exe")
        _ = try await fetch(server.port, "GET", "/releases/1.1.0/MyApp-Setup-1.1.0.exe")
        _ = try await fetch(server.port, "GET", "/releases/1.1.0/MyApp-Setup-1.1.0.exe", headers: [("Range", "bytes=0-9")])
        let release = try Self.decode(GitHubRelease.self, try await fetch(server.port, "GET", "/api/releases/latest"))
        #expect(release.assets.first { $0.name == "MyApp-Setup-1.1.0.exe" }?.download_count == 2)
        #expect(release.assets.first { $0.name == "MyApp-1.1.0-mac.zip" }?.download_count == 0)
    }

    /// Unchanged releases give the same bytes on every request, so the ETag holds and a
    /// revalidation gets 304 (issue #20, item 14: the key order changed per request).
    @Test("Stable bytes, stable ETag, 304 on If-None-Match")
    func stableBytesAndETag() async throws {
        let fixture = try ReleaseFixture()
        let server = try await RunningServer.start(ServeConfiguration(root: fixture.root))
        for path in ["/api/releases/latest", "/api/releases", "/api/releases/tags/v1.0.0"] {
            let first = try await fetch(server.port, "GET", path)
            #expect(first.status == 200)
            let etag = try #require(first.header("ETag"))
            for _ in 0..<20 {
                let again = try await fetch(server.port, "GET", path)
                #expect(again.body == first.body, "\(path): the bytes changed between requests")
                #expect(again.header("ETag") == etag)
            }
            let revalidated = try await fetch(server.port, "GET", path, headers: [("If-None-Match", etag)])
            #expect(revalidated.status == 304, "\(path)")
            #expect(revalidated.body.isEmpty)
        }
    }

    @Test func routes() {
        #expect(ReleasesAPI.route([], query: nil) == .list(page: 1, perPage: 30))
        // As on GitHub, per_page above 100 means 100; a page however far past the end is empty.
        #expect(ReleasesAPI.route([], query: "per_page=500&page=3") == .list(page: 3, perPage: 100))
        #expect(ReleasesAPI.route([], query: "per_page=99999999999999999999999&page=99999999999999999999999")
                == .list(page: Int.max, perPage: 100))
        #expect(ReleasesAPI.route([], query: "per_page=%31%30&page=%32") == .list(page: 2, perPage: 10))
        // Anything else that is not a whole number from 1 is refused (schemathesis, issue #18).
        for query in ["page=0", "per_page=0", "page=-1", "per_page=abc", "page=", "per_page=1.5", "page=%zz", "page=+2", "per_page=%FF"] {
            guard case .badRequest = ReleasesAPI.route([], query: query) else {
                Issue.record("\(query) was not refused")
                continue
            }
        }
        #expect(ReleasesAPI.pageSlice([1, 2, 3], page: Int.max, perPage: 100).isEmpty)
        #expect(Array(ReleasesAPI.pageSlice([1, 2, 3], page: 2, perPage: 2)) == [3])
        #expect(ReleasesAPI.route(["latest"], query: nil) == .latest)
        #expect(ReleasesAPI.route(["tags", "v1.0.0"], query: nil) == .tag("v1.0.0"))
        #expect(ReleasesAPI.route(["42"], query: nil) == .release(id: 42))
        #expect(ReleasesAPI.route(["42", "assets"], query: nil) == .releaseAssets(id: 42))
        #expect(ReleasesAPI.route(["assets", "7"], query: nil) == .asset(id: 7))
        #expect(ReleasesAPI.route(["nope"], query: nil) == .notFound)
    }
}
