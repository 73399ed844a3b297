import BlockyardRelease
import Foundation
import Testing

@Suite("Channel file YAML")
struct ChannelFileYAMLTests {
    let sha = "XlZmjzaCV2cEmZ25BUyiojREAc9JFGc6a441IVU6mquZ9AowjZ4vUTW3fzWFpaVBLcGctdub13D126CmcY/dwQ=="
    let sha2 = "+xzVmlzdsmqbXu6QDpSjGZiR3bgZxHrKMvrqiRjB1ZmG8FrU8EK8/xEHtrvQsRpAlNGIEpyg70BG/gciTYj4Lw=="

    var sample: UpdateInfo {
        UpdateInfo(version: "1.2.0",
                   files: [UpdateFileInfo(url: "releases/1.2.0/MyApp-1.2.0-mac.zip", sha512: sha, size: 2_000_000),
                           UpdateFileInfo(url: "releases/1.2.0/MyApp-1.2.0.AppImage", sha512: sha2, size: 1_500_107, blockMapSize: 101)],
                   path: "releases/1.2.0/MyApp-1.2.0-mac.zip", sha512: sha,
                   releaseName: "Spring", releaseNotes: .text("Fixes:\n- crash on start\n"),
                   stagingPercentage: 10, releaseDate: "2026-01-02T03:04:05.678Z")
    }

    @Test func fieldNamesOrderAndFormats() {
        let yaml = ChannelFileYAML.encode(sample)
        #expect(yaml == """
            version: 1.2.0
            files:
            - url: releases/1.2.0/MyApp-1.2.0-mac.zip
              sha512: \(sha)
              size: 2000000
            - url: releases/1.2.0/MyApp-1.2.0.AppImage
              sha512: \(sha2)
              size: 1500107
              blockMapSize: 101
            path: releases/1.2.0/MyApp-1.2.0-mac.zip
            sha512: \(sha)
            releaseName: Spring
            releaseNotes: |
              Fixes:
              - crash on start
            stagingPercentage: 10
            releaseDate: '2026-01-02T03:04:05.678Z'

            """)
    }

    @Test func roundTripsThroughOwnReader() throws {
        let info = sample
        let document = try ChannelDocument(text: ChannelFileYAML.encode(info))
        #expect(document.info == info)
        #expect(document.warnings.isEmpty)
    }

    var delivery: DeliveryReference {
        // All digits: a YAML reader would take it for a number unless it is quoted.
        DeliveryReference(index: "releases/1.2.0/MyApp-1.2.0-mac.zip.byindex", indexSize: 4_160,
                          pack: "releases/1.2.0/MyApp-1.2.0-mac.zip.bypack", packSize: 1_234_567,
                          root: String(repeating: "1234", count: 16))
    }

    @Test func deliveryKeysRoundTripAndPythonReadsThem() throws {
        var info = sample
        info.files[0].delivery = delivery
        let yaml = ChannelFileYAML.encode(info)
        let document = try ChannelDocument(text: yaml)
        #expect(document.info == info)
        #expect(document.warnings.isEmpty)
        let files = try #require(try pythonSafeLoad(yaml)["files"] as? [[String: Any]])
        #expect(files[0]["blockyardRoot"] as? String == delivery.root)
        #expect(files[0]["blockyardIndexSize"] as? Int == 4_160)
        #expect(files[0]["blockyardPack"] as? String == delivery.pack)
        #expect(files[1]["blockyardIndex"] == nil)
    }

    @Test func malformedDeliveryKeysAreIgnoredWithAWarning() throws {
        let base = "version: 1.2.0\nfiles:\n- url: a.exe\n  sha512: \(sha)\n  size: 10\n"
        let root = String(repeating: "ab", count: 32)
        func keys(packSize: String = "5", root: String) -> String {
            "  blockyardIndex: a.exe.byindex\n  blockyardIndexSize: 10\n  blockyardPack: a.exe.bypack\n  blockyardPackSize: \(packSize)\n  blockyardRoot: \(root)\n"
        }
        let cases = [
            "  blockyardIndex: a.exe.byindex\n",   // incomplete
            keys(packSize: "-1", root: root),
            keys(root: String(root.dropLast())),
            keys(root: String(repeating: "zz", count: 32)),
        ]
        for extra in cases {
            let document = try ChannelDocument(text: base + extra)
            #expect(document.info.files[0].delivery == nil, "\(extra)")
            #expect(document.warnings.contains { $0.contains("delivery files are ignored") }, "\(extra)")
            #expect(document.info.files[0].size == 10)
        }
        let good = try ChannelDocument(text: base + keys(root: root.uppercased()))
        #expect(good.info.files[0].delivery == DeliveryReference(index: "a.exe.byindex", indexSize: 10, pack: "a.exe.bypack", packSize: 5, root: root))
    }

    @Test func pythonSafeLoadReadsTheSameValues() throws {
        var info = sample
        // Strings a YAML reader could take for something else must stay strings.
        info.releaseName = "1.10"
        info.releaseNotes = .perVersion([ReleaseNoteInfo(version: "1.2.0", note: "yes"), ReleaseNoteInfo(version: "1.1.0", note: nil)])
        info.files.append(UpdateFileInfo(url: "releases/1.2.0/My App: ünïcode #1.exe", sha512: sha, size: 0, isAdminRightsRequired: true))
        let object = try pythonSafeLoad(ChannelFileYAML.encode(info))
        #expect(object["version"] as? String == "1.2.0")
        #expect(object["releaseName"] as? String == "1.10")
        #expect(object["releaseDate"] as? String == "2026-01-02T03:04:05.678Z")
        #expect(object["stagingPercentage"] as? Int == 10)
        #expect(object["path"] as? String == "releases/1.2.0/MyApp-1.2.0-mac.zip")
        #expect(object["sha512"] as? String == sha)
        let files = try #require(object["files"] as? [[String: Any]])
        #expect(files.count == 3)
        #expect(files[1]["sha512"] as? String == sha2)
        #expect(files[1]["size"] as? Int == 1_500_107)
        #expect(files[1]["blockMapSize"] as? Int == 101)
        #expect(files[0]["blockMapSize"] == nil)
        #expect(files[2]["url"] as? String == "releases/1.2.0/My App: ünïcode #1.exe")
        #expect(files[2]["isAdminRightsRequired"] as? Bool == true)
        let notes = try #require(object["releaseNotes"] as? [[String: Any]])
        #expect(notes[0]["note"] as? String == "yes")
        #expect(notes[1]["note"] is NSNull)
        #expect(Set(object.keys) == ["version", "files", "path", "sha512", "releaseName", "releaseNotes", "stagingPercentage", "releaseDate"])
    }

    @Test func readsElectronBuilderOutput() throws {
        // As electron-builder 26 writes it (js-yaml dump: indented sequences, sha2 for NSIS).
        let text = """
            version: 1.0.1
            files:
              - url: MyApp-Setup-1.0.1.exe
                sha512: \(sha)
                size: 123456
                isAdminRightsRequired: true
            path: MyApp-Setup-1.0.1.exe
            sha512: \(sha)
            sha2: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
            releaseDate: '2026-01-01T00:00:00.000Z'

            """
        let document = try ChannelDocument(text: text)
        #expect(document.info.version == "1.0.1")
        #expect(document.info.files == [UpdateFileInfo(url: "MyApp-Setup-1.0.1.exe", sha512: sha, size: 123_456, isAdminRightsRequired: true)])
        #expect(document.info.releaseDate == "2026-01-01T00:00:00.000Z")
        // Editing the staging percentage keeps the fields the model does not know (sha2).
        let staged = try document.settingStagingPercentage(25)
        let object = try pythonSafeLoad(staged)
        #expect(object["sha2"] as? String == "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        #expect(object["stagingPercentage"] as? Int == 25)
        #expect(object["releaseDate"] as? String == "2026-01-01T00:00:00.000Z")
        #expect(staged.components(separatedBy: "\n").firstIndex(of: "stagingPercentage: 25")! < staged.components(separatedBy: "\n").firstIndex(of: "releaseDate: '2026-01-01T00:00:00.000Z'")!)
        let cleared = try ChannelDocument(text: staged).settingStagingPercentage(nil)
        #expect(try pythonSafeLoad(cleared)["stagingPercentage"] == nil)
        #expect(try ChannelDocument(text: cleared).info == document.info)
    }

    @Test func legacyOnlyFilesAndJSON() throws {
        let json = #"{"version":"2.0.0","path":"a.exe","sha512":"\#(sha)","releaseDate":"2026-01-01T00:00:00.000Z"}"#
        let info = try ChannelDocument(text: json).info
        #expect(info.files.isEmpty)
        #expect(info.effectiveFiles == [UpdateFileInfo(url: "a.exe", sha512: sha)])
    }

    @Test func rejectsWhatElectronUpdaterRejects() {
        expectReleaseError(.invalidData) { () throws(ReleaseError) in try ChannelDocument(text: "files: []\n") }
        // js-yaml reads an unquoted 1.10 as the number 1.1.
        expectReleaseError(.invalidData) { () throws(ReleaseError) in
            try ChannelDocument(text: "version: 1.10\npath: a.exe\nsha512: x\n")
        }
        expectReleaseError(.invalidData) { () throws(ReleaseError) in
            try ChannelDocument(text: "version: 1.0\npath: a.exe\nsha512: x\n")
        }
        expectReleaseError(.invalidData) { () throws(ReleaseError) in
            try ChannelDocument(text: "version: '1.0.0'\nfiles:\n- url: a.exe\n")
        }
        expectReleaseError(.invalidData) { () throws(ReleaseError) in
            try ChannelDocument(text: "version: '1.0.0'\nfiles:\n- url: a.exe\n  sha512: x\n  size: -1\n")
        }
        expectReleaseError(.invalidData) { () throws(ReleaseError) in try ChannelDocument(text: "version: [1\n") }
    }

    @Test func stagingPercentageIsReadLikeParseInt() throws {
        func staged(_ value: String) throws -> ChannelDocument {
            try ChannelDocument(text: "version: 1.0.0\nfiles:\n- url: a.exe\n  sha512: \(sha)\n  size: 1\nstagingPercentage: \(value)\n")
        }
        #expect(try staged("10").info.stagingPercentage == 10)
        #expect(try staged("10").warnings.isEmpty)
        let fraction = try staged("0.5")
        #expect(fraction.info.stagingPercentage == 0)
        #expect(fraction.warnings.count == 1)
        #expect(fraction.warnings.first?.contains("truncates it to 0") == true)
        #expect(try staged("'12.9'").info.stagingPercentage == 12)
        let junk = try staged("abc")
        #expect(junk.info.stagingPercentage == nil)
        #expect(junk.warnings.first?.contains("everyone") == true)
    }

    @Test func hexSHA512AndMissingSizeAreWarnedAbout() throws {
        let hex = String(repeating: "ab", count: 64)
        let document = try ChannelDocument(text: "version: 1.0.0\nfiles:\n- url: a.exe\n  sha512: \(hex)\n")
        #expect(document.warnings.count == 2)
    }
}

@Suite("Release timestamps")
struct ReleaseTimestampTests {
    @Test func formatsLikeToISOString() {
        #expect(ReleaseTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(ReleaseTimestamp.format(Date(timeIntervalSince1970: 1_767_323_045.678)) == "2026-01-02T03:04:05.678Z")
        #expect(ReleaseTimestamp.format(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
    }

    @Test func parses() {
        #expect(ReleaseTimestamp.milliseconds("2026-01-02T03:04:05.678Z") == 1_767_323_045_678)
        #expect(ReleaseTimestamp.milliseconds("2026-01-02T03:04:05Z") == 1_767_323_045_000)
        #expect(ReleaseTimestamp.milliseconds("2026-01-02T04:04:05.678+01:00") == 1_767_323_045_678)
        #expect(ReleaseTimestamp.milliseconds("1970-01-01T00:00:00.000Z") == 0)
        #expect(ReleaseTimestamp.milliseconds("2026-13-02T03:04:05Z") == nil)
        #expect(ReleaseTimestamp.milliseconds("yesterday") == nil)
        for seconds in [0.0, 1_000_000_000.123, 1_767_323_045.678, 4_102_444_800.999] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(ReleaseTimestamp.milliseconds(ReleaseTimestamp.format(date)) == Int64((seconds * 1000).rounded(.down)))
        }
    }
}
