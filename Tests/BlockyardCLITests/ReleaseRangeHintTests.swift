import BlockyardTestSupport
import Foundation
import Testing

/// `release create` (and `publish`) say when electron-updater's multi-range requests for a
/// release will need more than nginx's default 8 KiB request line: behind such a proxy every
/// client would fall back to a full download.
@Suite("release: Range header hint")
struct ReleaseRangeHintTests {
    @Test func hintWhenAnUpdateNeedsLongRangeHeaders() throws {
        let dir = try TemporaryDirectory("range-hint")
        let base = VectorInputs.randomBytes(seed: 8192, count: 32 << 20)
        try dir.write("MyApp-Setup-1.0.0.exe", base)
        // A scattered edit every 40 KB: about 800 changed chunks with unchanged ones between
        // them, so electron-updater asks for some 500 ranges in one request.
        var scattered = base
        for offset in stride(from: 10_000, to: scattered.count - 8, by: 40_000) {
            scattered.replaceSubrange(offset..<(offset + 8), with: [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, UInt8(truncatingIfNeeded: offset >> 8)])
        }
        try dir.write("MyApp-Setup-1.1.0.exe", scattered)
        // A small update: a few changed chunks.
        var small = scattered
        small.replaceSubrange(5_000_000..<5_000_100, with: [UInt8](repeating: 7, count: 100))
        try dir.write("MyApp-Setup-1.2.0.exe", small)

        let first = try CommandRunner.run(["release", "create", "--version", "1.0.0", "--out", "site", "MyApp-Setup-1.0.0.exe"],
                                          currentDirectory: dir.url.path)
        #expect(first.status == 0)
        #expect(!first.stderr.contains("hint:"), "nothing to update from yet")

        let scatteredRelease = try CommandRunner.run(["release", "create", "--version", "1.1.0", "--out", "site", "--json", "MyApp-Setup-1.1.0.exe"],
                                                     currentDirectory: dir.url.path)
        #expect(scatteredRelease.status == 0)
        let hint = scatteredRelease.stderr
        #expect(hint.contains("hint: updating MyApp-Setup-1.1.0.exe from 1.0.0 sends Range headers of up to "), "\(hint)")
        #expect(hint.contains("large_client_header_buffers"))
        // stdout stays JSON.
        #expect((try? JSONSerialization.jsonObject(with: Data(scatteredRelease.stdoutBytes))) != nil)
        let bytes = try #require(hint.split(separator: "up to ").last?.split(separator: " ").first.flatMap { Int($0) })
        #expect(bytes > 8192 && bytes < 16_384)

        let smallRelease = try CommandRunner.run(["release", "create", "--version", "1.2.0", "--out", "site", "MyApp-Setup-1.2.0.exe"],
                                                 currentDirectory: dir.url.path)
        #expect(smallRelease.status == 0)
        #expect(!smallRelease.stderr.contains("hint:"), "\(smallRelease.stderr)")
    }
}
