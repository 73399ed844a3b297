@testable import BlockyardHTTP
import BlockyardCore
import BlockyardRelease
import Foundation
import Testing

@Suite("serve: request paths")
struct ServerRequestPathTests {
    @Test func decodesOnceAndSplitsTheQuery() throws {
        let path = try RequestPath(target: "/releases/1.2.0/My%20App%25.exe?noCache=abc&x=%2F")
        #expect(path.segments == ["releases", "1.2.0", "My App%.exe"])
        #expect(path.query == "noCache=abc&x=%2F")
        #expect(path.relativePath == "releases/1.2.0/My App%.exe")
        #expect(!path.trailingSlash)
        // Double encoding is decoded once: "%252e%252e" is the literal name "%2e%2e".
        #expect(try RequestPath(target: "/%252e%252e/x").segments == ["%2e%2e", "x"])
    }

    @Test func mergesSlashesAndKeepsTheTrailingSlash() throws {
        let path = try RequestPath(target: "//releases///1.0.0/")
        #expect(path.segments == ["releases", "1.0.0"])
        #expect(path.trailingSlash)
        #expect(try RequestPath(target: "/").segments.isEmpty)
        #expect(try RequestPath(target: "/?a=b").query == "a=b")
    }

    @Test(arguments: [
        ("/../etc/passwd", RequestPath.Failure.dotSegment),
        ("/releases/../../etc/passwd", .dotSegment),
        ("/%2e%2e/%2e%2e/etc/passwd", .dotSegment),
        ("/%2E%2e/x", .dotSegment),
        ("/./latest.yml", .dotSegment),
        ("/%2e/latest.yml", .dotSegment),
        ("/..%2f..%2fetc%2fpasswd", .forbiddenCharacter),
        ("/a%2Fb", .forbiddenCharacter),
        ("/a%00b", .forbiddenCharacter),
        ("/a%0d%0aSet-Cookie:x", .forbiddenCharacter),
        ("/a\\b", .forbiddenCharacter),
        ("/a%5c..%5cb", .forbiddenCharacter),
        ("/%zz", .badPercentEncoding),
        ("/abc%2", .badPercentEncoding),
        ("/abc%", .badPercentEncoding),
        ("/%ff%fe", .notUTF8),
        ("http://example.com/latest.yml", .notOriginForm),
        ("*", .notOriginForm),
        ("", .notOriginForm),
    ])
    func rejects(_ target: String, _ failure: RequestPath.Failure) {
        #expect(throws: failure) { try RequestPath(target: target) }
    }

    @Test func rejectsOverlongTargets() {
        #expect(throws: RequestPath.Failure.tooLong(RequestPath.maxTargetLength)) {
            try RequestPath(target: "/" + String(repeating: "a", count: RequestPath.maxTargetLength))
        }
    }

    @Test func hiddenSegments() throws {
        #expect(try RequestPath(target: "/.git/config").isHidden)
        #expect(try RequestPath(target: "/releases/1.0.0/.release.json.tmp").isHidden)
        #expect(try !RequestPath(target: "/latest.yml.sig").isHidden)
    }

    @Test func classifiesTheReleaseLayout() {
        #expect(PathClass(["latest.yml"]) == .channel(name: "latest.yml"))
        #expect(PathClass(["beta-linux-arm64.yml"]) == .channel(name: "beta-linux-arm64.yml"))
        #expect(PathClass(["latest.yml.sig"]) == .channel(name: "latest.yml"))
        #expect(PathClass(["releases", "1.0.0", "A.exe"]) == .artifact(version: "1.0.0", name: "A.exe"))
        #expect(PathClass(["releases", "1.0.0", "A.exe.blockmap"]) == .blockmap(version: "1.0.0", name: "A.exe.blockmap"))
        #expect(PathClass(["releases", "1.0.0", "release.json"]) == .metadata)
        #expect(PathClass(["releases", "1.0.0", "SHA256SUMS"]) == .metadata)
        #expect(PathClass(["notes.txt"]) == .other)
        #expect(PathClass(["Latest.yml"]) == .other)
        #expect(PathClass(["releases", "1.0.0", "sub", "A.exe"]) == .other)
        #expect(PathClass(["releases", "1.0.0", "A.exe"]).cacheControl == "public, max-age=31536000, immutable")
        #expect(PathClass(["latest.yml"]).cacheControl == "no-cache")
    }
}

@Suite("serve: conditional requests and ranges")
struct ServerConditionalRangeTests {
    let etag = "\"abc\""
    let modified: Int64 = 1_767_225_600

    func decide(_ headers: ConditionalHeaders, size: Int = 1000) -> RangeDecision {
        ConditionalRange.decide(headers: headers, size: size, etag: etag, lastModified: modified, limits: RangeLimits())
    }

    @Test func ranges() {
        var h = ConditionalHeaders()
        #expect(decide(h) == .full)
        h.range = ["bytes=0-9, 20-29"]
        #expect(decide(h) == .partial([ByteRange(first: 0, last: 9), ByteRange(first: 20, last: 29)]))
        h.range = ["bytes=2000-"]
        #expect(decide(h) == .unsatisfiable(reason: nil))
        h.range = ["bytes=9-1"]
        if case .unsatisfiable(let reason?) = decide(h) { #expect(reason.contains("reversed")) } else { Issue.record("reversed range accepted") }
        h.range = ["lines=1-2"]
        #expect(decide(h) == .full)
        h.range = ["bytes=0-1", "bytes=2-3"]
        #expect(decide(h) == .badRequest("several Range header fields"))
    }

    @Test func ifRange() {
        var h = ConditionalHeaders(range: ["bytes=0-9"])
        h.ifRange = etag
        #expect(decide(h) == .partial([ByteRange(first: 0, last: 9)]))
        h.ifRange = "W/\"abc\""
        #expect(decide(h) == .full)
        h.ifRange = "\"other\""
        #expect(decide(h) == .full)
        h.ifRange = HTTPDate.format(modified)
        #expect(decide(h) == .partial([ByteRange(first: 0, last: 9)]))
        h.ifRange = HTTPDate.format(modified + 1)
        #expect(decide(h) == .full)
        h.ifRange = "garbage"
        #expect(decide(h) == .full)
    }

    @Test func preconditions() {
        #expect(decide(ConditionalHeaders(ifMatch: "\"x\", \"abc\"")) == .full)
        #expect(decide(ConditionalHeaders(ifMatch: "*")) == .full)
        #expect(decide(ConditionalHeaders(ifMatch: "W/\"abc\"")) == .preconditionFailed)
        #expect(decide(ConditionalHeaders(ifMatch: "\"x\"")) == .preconditionFailed)
        #expect(decide(ConditionalHeaders(ifNoneMatch: "W/\"abc\"")) == .notModified)
        #expect(decide(ConditionalHeaders(ifNoneMatch: "\"x\"")) == .full)
        #expect(decide(ConditionalHeaders(ifModifiedSince: HTTPDate.format(modified))) == .notModified)
        #expect(decide(ConditionalHeaders(ifModifiedSince: HTTPDate.format(modified - 1))) == .full)
        #expect(decide(ConditionalHeaders(ifUnmodifiedSince: HTTPDate.format(modified - 1))) == .preconditionFailed)
        // If-None-Match wins over If-Modified-Since.
        #expect(decide(ConditionalHeaders(ifNoneMatch: "\"x\"", ifModifiedSince: HTTPDate.format(modified))) == .full)
    }

    @Test func entityTagLists() {
        #expect(ConditionalRange.entityTags(#""a", W/"b,c" , *"#) == ["\"a\"", "W/\"b,c\"", "*"])
    }

    @Test func httpDates() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(HTTPDate.parse(HTTPDate.format(1_767_225_600)) == 1_767_225_600)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 UTC") == nil)
    }
}

@Suite("serve: staged rollout rule")
struct ServerStagingRuleTests {
    @Test func bucketIsTheLastEightHexDigits() {
        #expect(StagedRollout.bucket(userID: "00000000-0000-0000-0000-000000000000") == 0)
        #expect(StagedRollout.bucket(userID: "9f0c6a0e-3b1f-5c1a-9e21-6a3c2a51d7c4") == 0x2a51d7c4)
        #expect(StagedRollout.bucket(userID: "9F0C6A0E-3B1F-5C1A-9E21-6A3CFFFFFFFF") == 0xffffffff)
        for bad in ["", "9f0c6a0e3b1f5c1a9e216a3c2a51d7c4", "9f0c6a0e-3b1f-5c1a-9e21-6a3c2a51d7c", "9f0c6a0e-3b1f-5c1a-9e21-6a3c2a51d7cg",
                    "{9f0c6a0e-3b1f-5c1a-9e21-6a3c2a51d7c4}", "9f0c6a0e_3b1f-5c1a-9e21-6a3c2a51d7c4"] {
            #expect(StagedRollout.bucket(userID: bad) == nil, "\(bad)")
        }
    }

    @Test func electronUpdatersComparison() {
        // val / 0xffffffff < percentage / 100, in doubles.
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-00007fffffff", percentage: 50) == true)
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-000080000000", percentage: 50) == false)
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-000000000000", percentage: 0) == false)
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-000000000000", percentage: 1) == true)
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-0000fffffffe", percentage: 100) == true)
        // electron-updater leaves out the one id whose last 32 bits are all ones even at 100.
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-0000ffffffff", percentage: 100) == false)
        #expect(StagedRollout.isIncluded(userID: "not-a-uuid", percentage: 50) == nil)
        // 10 %: the boundary is 0x1999999a (0x19999999 / 0xffffffff < 0.1).
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-000019999999", percentage: 10) == true)
        #expect(StagedRollout.isIncluded(userID: "00000000-0000-0000-0000-00001999999a", percentage: 10) == false)
    }

    @Test func previousReleaseOfAChannelFile() throws {
        func manifest(_ version: String, channel: String, names: [String]) -> ReleaseManifest {
            ReleaseManifest(version: version, channel: channel, createdAt: "2026-01-01T00:00:00.000Z", artifacts: names.map {
                ReleaseArtifact(name: $0, os: ReleaseTarget.detectOS(fileName: $0)!, arch: nil, size: 1, sha512: "x", sha256: "y")
            })
        }
        let manifests = [
            manifest("1.0.0", channel: "latest", names: ["A-1.0.0.exe", "A-1.0.0-mac.zip"]),
            manifest("1.1.0", channel: "latest", names: ["A-1.1.0.exe"]),
            manifest("1.2.0-beta.1", channel: "beta", names: ["A-1.2.0-beta.1.exe", "A-1.2.0-beta.1-mac.zip"]),
            manifest("1.2.0", channel: "latest", names: ["A-1.2.0.exe", "A-1.2.0-mac.zip"]),
        ]
        let snapshot = ReleaseCatalog.Snapshot(manifests: Dictionary(uniqueKeysWithValues: manifests.map { ($0.version, $0) }), problems: [])
        #expect(StagedFallback.previousRelease(channelFile: "latest.yml", currentVersion: "1.2.0", newestFirst: snapshot.newestFirst)?.manifest.version == "1.1.0")
        // 1.1.0 has no mac artifact: the mac channel file falls back to 1.0.0.
        #expect(StagedFallback.previousRelease(channelFile: "latest-mac.yml", currentVersion: "1.2.0", newestFirst: snapshot.newestFirst)?.manifest.version == "1.0.0")
        // A beta release is not offered on latest, but is the previous release on beta.
        #expect(StagedFallback.previousRelease(channelFile: "beta.yml", currentVersion: "1.2.0", newestFirst: snapshot.newestFirst)?.manifest.version == "1.2.0-beta.1")
        #expect(StagedFallback.previousRelease(channelFile: "latest.yml", currentVersion: "1.0.0", newestFirst: snapshot.newestFirst) == nil)
        #expect(StagedFallback.previousRelease(channelFile: "latest-linux.yml", currentVersion: "1.2.0", newestFirst: snapshot.newestFirst) == nil)
        let text = try #require(StagedFallback.channelFile(of: manifests[1], suffix: ""))
        let document = try ChannelDocument(text: text)
        #expect(document.info.version == "1.1.0")
        #expect(document.info.stagingPercentage == nil)
        #expect(document.info.files.map(\.url) == ["releases/1.1.0/A-1.1.0.exe"])
    }
}
