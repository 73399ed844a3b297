@testable import BlockyardIO
import BlockyardTestSupport
import Foundation
import Testing

/// ``WriteBehind``: writeback starts behind the writer, and the cache of what lies more than a
/// window behind — and is released — is dropped, without changing a byte of the file.
@Suite("Write-behind")
struct WriteBehindTests {
    @Test func dropsTheCacheBehindTheWindowAndKeepsTheBytes() throws {
        let dir = try TemporaryDirectory("write-behind")
        let path = dir.path("big.bin")
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        let block = VectorInputs.randomBytes(seed: 5, count: 512 << 10)
        var behind = WriteBehind(descriptor: fd, window: 1 << 20)
        var written = 0
        for _ in 0..<16 {
            let n = block.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(written)) }
            #expect(n == block.count)
            written += n
            // A verifier that trails by two blocks releases only what it has read.
            behind.written(upTo: written, releasableUpTo: max(0, written - 2 * block.count))
            #expect(behind.started == written)
            #expect(behind.dropped == max(0, min(written - 2 * block.count, written - (1 << 20))) / WriteBehind.granule * WriteBehind.granule)
        }
        #expect(behind.dropped == 6 << 20)
        if PageCache.canDrop(in: dir.url.path) {
            let dropped = try #require(PageCache.residentPages(path, from: 0, to: behind.dropped))
            #expect(dropped.resident == 0, "\(dropped.resident) of \(dropped.total) dropped pages still cached")
        }
        // The file is intact.
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(data.count == 8 << 20)
        for k in 0..<16 {
            #expect(Array(data[(k * block.count)..<((k + 1) * block.count)]) == block)
        }
    }

    @Test func nothingIsDroppedWhileNothingIsReleased() throws {
        let dir = try TemporaryDirectory("write-behind")
        let fd = open(dir.path("f"), O_RDWR | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let bytes = [UInt8](repeating: 7, count: 4 << 20)
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) } == bytes.count)
        var behind = WriteBehind(descriptor: fd, window: 0)
        behind.written(upTo: bytes.count, releasableUpTo: 0)
        #expect(behind.started == bytes.count && behind.dropped == 0)
        behind.written(upTo: bytes.count, releasableUpTo: WriteBehind.granule - 1)
        #expect(behind.dropped == 0, "only whole 2 MiB steps")
        behind.written(upTo: bytes.count, releasableUpTo: WriteBehind.granule + 1)
        #expect(behind.dropped == WriteBehind.granule)
    }
}
