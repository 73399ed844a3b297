import BlockyardCore
@testable import BlockyardHTTP
import BlockyardRelease
import Foundation
import Testing

/// electron-updater's GenericProvider URL rules, file choice and the client's small pieces.
@Suite("update client: feeds, files, intervals")
struct ClientFeedTests {
    @Test func baseURLGetsTrailingSlashAndResolvesRelativeNames() throws {
        let feed = try UpdateFeed("https://updates.example.com/myapp")
        #expect(feed.baseURL.absoluteString == "https://updates.example.com/myapp/")
        #expect(feed.query == nil)
        #expect(feed.fileURL("MyApp-Setup-1.0.1.exe").absoluteString == "https://updates.example.com/myapp/MyApp-Setup-1.0.1.exe")
        #expect(feed.fileURL("releases/1.0.1/a.exe").absoluteString == "https://updates.example.com/myapp/releases/1.0.1/a.exe")
        #expect(feed.fileURL("../other/a.exe").absoluteString == "https://updates.example.com/other/a.exe")
        #expect(feed.fileURL("/root.exe").absoluteString == "https://updates.example.com/root.exe")
        // Absolute URLs are used as they are.
        #expect(feed.fileURL("https://cdn.example.net/x/a.exe").absoluteString == "https://cdn.example.net/x/a.exe")
        // Names with spaces are percent-encoded like a WHATWG URL parser does.
        #expect(feed.fileURL("My App Setup 1.0.exe").absoluteString == "https://updates.example.com/myapp/My%20App%20Setup%201.0.exe")
    }

    @Test func channelFileGetsNoCacheUnlessAuthenticated() throws {
        let feed = try UpdateFeed("http://127.0.0.1:8080/feed/")
        let now = Date(timeIntervalSince1970: 1_767_225_600.5)
        let url = feed.channelFileURL(name: "latest-linux.yml", now: now)
        // Date.now().toString(32) of 1767225600500 ms.
        #expect(url.absoluteString == "http://127.0.0.1:8080/feed/latest-linux.yml?noCache=1jdrdlafk")
        #expect(feed.channelFileURL(name: "latest.yml", headers: [("Authorization", "Bearer x")]).absoluteString
                == "http://127.0.0.1:8080/feed/latest.yml")
        #expect(feed.channelFileURL(name: "latest.yml", headers: [("PRIVATE-TOKEN", "x")]).query == nil)
        #expect(feed.channelFileURL(name: "latest.yml", headers: [("X-Other", "x")]).query?.hasPrefix("noCache=") == true)
    }

    @Test func feedQueryReplacesEveryDerivedQuery() throws {
        let feed = try UpdateFeed("https://s3.example.com/bucket/app?X-Amz-Signature=abc&t=1")
        #expect(feed.baseURL.absoluteString == "https://s3.example.com/bucket/app/")
        #expect(feed.query == "X-Amz-Signature=abc&t=1")
        // No noCache: the feed query is used instead.
        #expect(feed.channelFileURL(name: "beta-mac.yml").absoluteString
                == "https://s3.example.com/bucket/app/beta-mac.yml?X-Amz-Signature=abc&t=1")
        let file = feed.fileURL("https://cdn.example.net/a.zip?own=1")
        #expect(file.absoluteString == "https://cdn.example.net/a.zip?X-Amz-Signature=abc&t=1")
        #expect(UpdateFeed.blockmapURL(forFile: file).absoluteString == "https://cdn.example.net/a.zip.blockmap?X-Amz-Signature=abc&t=1")
        let channel = feed.channelFileURL(name: "latest.yml")
        #expect(UpdateFeed.signatureURL(forChannelFile: channel).absoluteString
                == "https://s3.example.com/bucket/app/latest.yml.sig?X-Amz-Signature=abc&t=1")
    }

    @Test func blockmapKeepsAnAbsoluteFileURLsOwnQuery() throws {
        let feed = try UpdateFeed("https://u.example.com/")
        let file = feed.fileURL("https://cdn.example.net/a.exe?sig=1")
        #expect(UpdateFeed.blockmapURL(forFile: file).absoluteString == "https://cdn.example.net/a.exe.blockmap?sig=1")
    }

    @Test func feedMustBeHTTP() {
        #expect(throws: UpdateError.self) { try UpdateFeed("ftp://x/") }
        #expect(throws: UpdateError.self) { try UpdateFeed("not a url") }
        #expect(throws: UpdateError.self) { try UpdateFeed("/local/dir") }
    }

    @Test func channelFileNames() {
        #expect(ReleaseTarget(os: .windows, arch: .x64).channelFileName(channel: "latest") == "latest.yml")
        #expect(ReleaseTarget(os: .mac, arch: .arm64).channelFileName(channel: "beta") == "beta-mac.yml")
        #expect(ReleaseTarget(os: .linux, arch: .x64).channelFileName(channel: "latest") == "latest-linux.yml")
        #expect(ReleaseTarget(os: .linux, arch: .arm64).channelFileName(channel: "latest") == "latest-linux-arm64.yml")
    }

    static func files(_ urls: [String]) -> [UpdateFileInfo] { urls.map { UpdateFileInfo(url: $0, sha512: "x") } }

    @Test func fileChoiceFollowsElectronUpdater() throws {
        let win = Self.files(["MyApp-1.0.0.msi", "MyApp-Setup-1.0.0-ia32.exe", "MyApp-Setup-1.0.0-x64.exe"])
        #expect(try UpdateFileChoice.choose(win, target: .init(os: .windows, arch: .x64), installedName: nil).url == "MyApp-Setup-1.0.0-x64.exe")
        #expect(try UpdateFileChoice.choose(win, target: .init(os: .windows, arch: .arm64), installedName: nil).url == "MyApp-Setup-1.0.0-ia32.exe")
        #expect(try UpdateFileChoice.choose(Self.files(["a.msi", "b.msi"]), target: .init(os: .windows, arch: .x64), installedName: nil).url == "a.msi")

        let mac = Self.files(["MyApp-1.0.0-arm64.dmg", "MyApp-1.0.0-arm64-mac.zip", "MyApp-1.0.0.dmg", "MyApp-1.0.0-mac.zip"])
        #expect(try UpdateFileChoice.choose(mac, target: .init(os: .mac, arch: .arm64), installedName: nil).url == "MyApp-1.0.0-arm64-mac.zip")
        #expect(try UpdateFileChoice.choose(mac, target: .init(os: .mac, arch: .x64), installedName: nil).url == "MyApp-1.0.0-mac.zip")

        let linux = Self.files(["myapp_1.0.0_amd64.deb", "MyApp-1.0.0.AppImage", "MyApp-1.0.0-arm64.AppImage"])
        #expect(try UpdateFileChoice.choose(linux, target: .init(os: .linux, arch: .arm64), installedName: nil).url == "MyApp-1.0.0-arm64.AppImage")
        #expect(try UpdateFileChoice.choose(linux, target: .init(os: .linux, arch: .x64), installedName: nil).url == "MyApp-1.0.0.AppImage")
        // No AppImage: the first file that is not a package.
        let packages = Self.files(["a.deb", "a.rpm", "model.tar"])
        #expect(try UpdateFileChoice.choose(packages, target: .init(os: .linux, arch: .x64), installedName: nil).url == "model.tar")
    }

    @Test func fileChoiceByInstalledExtensionAndExplicitName() throws {
        let files = Self.files(["notes.txt", "releases/2.0.0/model-7b.bin", "releases/2.0.0/model%20x64.bin"])
        let linux = ReleaseTarget(os: .linux, arch: .x64)
        #expect(try UpdateFileChoice.choose(files, target: linux, installedName: "model.bin").url == "releases/2.0.0/model%20x64.bin")
        #expect(try UpdateFileChoice.choose(files, target: linux, installedName: "model.bin", explicit: "model-7b.bin").url == "releases/2.0.0/model-7b.bin")
        #expect(try UpdateFileChoice.choose(files, target: linux, installedName: nil, explicit: "model x64.bin").url == "releases/2.0.0/model%20x64.bin")
        #expect(throws: UpdateError.self) { try UpdateFileChoice.choose(files, target: linux, installedName: nil, explicit: "nope.bin") }
        #expect(throws: UpdateError.self) { try UpdateFileChoice.choose([], target: linux, installedName: nil) }
    }

    @Test func stagedRolloutMatchesElectronUpdater() {
        // The last 8 hex digits of the UUID, as a fraction of 0xffffffff.
        #expect(UpdateClient.isInRollout(stagingID: "12345678-1234-5234-9234-000000000000", percentage: 1))
        #expect(!UpdateClient.isInRollout(stagingID: "12345678-1234-5234-9234-0000ffffffff", percentage: 99))
        #expect(UpdateClient.isInRollout(stagingID: "12345678-1234-5234-9234-00007fffffff", percentage: 51))
        #expect(!UpdateClient.isInRollout(stagingID: "12345678-1234-5234-9234-00007fffffff", percentage: 49))
        #expect(!UpdateClient.isInRollout(stagingID: "12345678-1234-5234-9234-000000000000", percentage: 0))
    }

    @Test func intervals() throws {
        var set = ByteIntervals()
        set.insert(10..<20)
        set.insert(30..<40)
        set.insert(20..<25)
        #expect(set.ranges == [10..<25, 30..<40])
        set.insert(24..<31)
        #expect(set.ranges == [10..<40])
        set.remove(15..<16)
        #expect(set.ranges == [10..<15, 16..<40])
        #expect(set.byteCount == 29)
        set.remove(38..<45)
        #expect(set.ranges == [10..<15, 16..<38])
        set.insert(0..<1)
        #expect(set.ranges == [0..<1, 10..<15, 16..<38])
        set.remove(0..<100)
        #expect(set.isEmpty)
        let json = try JSONEncoder().encode(ByteIntervals([5..<7, 1..<2]))
        #expect(String(decoding: json, as: UTF8.self) == "[[1,2],[5,7]]")
        #expect(try JSONDecoder().decode(ByteIntervals.self, from: json).ranges == [1..<2, 5..<7])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ByteIntervals.self, from: Data("[[5,1]]".utf8)) }
    }

    @Test func chunkTable() {
        let sums = (0..<4).map { ChunkChecksum(UInt64($0), 0, 0) }
        // Chunks [0,10) [10,10) [10,25) [25,25): app-builder's empty chunks included.
        let table = ChunkTable(entryOffset: 0, sizes: [10, 0, 15, 0], checksums: sums)
        #expect(table.end == 25)
        #expect(table.chunk(containing: 0) == 0)
        #expect(table.chunk(containing: 9) == 0)
        #expect(table.chunk(containing: 10) == 2)
        #expect(table.chunk(containing: 24) == 2)
        #expect(table.chunk(containing: 25) == nil)
        #expect(table.aligned(5..<12) == 0..<25)
        #expect(table.aligned(10..<11) == 10..<25)
        let grown = table.appending([1, 2, 3])
        #expect(grown.end == 28)
        #expect(grown.chunk(containing: 26) == 4)
        #expect(grown.boundaries(inside: 0..<28) == [10, 25])
    }

    @Test func contentRange() {
        #expect(ContentRange.parse("bytes 0-9/100")! == (0..<10, 100))
        #expect(ContentRange.parse("bytes 5-5/*")! == (5..<6, nil))
        #expect(ContentRange.parse("bytes 9-5/100") == nil)
        #expect(ContentRange.parse("bytes 0-100/100") == nil)
        #expect(ContentRange.parse("items 0-1/2") == nil)
    }

    @Test func retryDelaysGrowAndHonourRetryAfter() {
        let policy = RetryPolicy(retries: 5, initialDelay: 0.25, maximumDelay: 8)
        #expect((0.18...0.32).contains(policy.delay(attempt: 1)))
        #expect((0.75...1.25).contains(policy.delay(attempt: 3)))
        #expect(policy.delay(attempt: 10) <= 10)
        #expect(policy.delay(attempt: 1, retryAfter: 3) == 3)
        #expect(policy.delay(attempt: 1, retryAfter: 3600) == 8)
    }
}
