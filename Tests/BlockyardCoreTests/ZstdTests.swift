import BlockyardCore
import BlockyardTestSupport
import Testing

/// ``ZstdCompressor`` / ``ZstdDecompressor``: exact round trips and a precise error for every
/// kind of bad frame.
@Suite("Zstd")
struct ZstdTests {
    @Test("round trip at several levels and sizes, empty included")
    func roundTrip() throws {
        var rng = SplitMix64(seed: 11)
        let decompressor = ZstdDecompressor()
        for level: Int32 in [-1, 1, 3, 9] {
            let compressor = ZstdCompressor(level: level)
            for size in [0, 1, 2, 63, 64, 4096, 16_383, 16_384, 32_768, 100_000] {
                let input = DeliveryTestData.compressible(seed: rng.next(), count: size)
                let frame = compressor.compress(input)
                #expect(frame.count <= ZstdCompressor.bound(size))
                #expect(try decompressor.decompress(frame, size: size) == input)
                if size >= 4096 { #expect(frame.count < size / 2, "text-like data compresses") }
            }
        }
    }

    @Test("a size other than the frame's is refused")
    func wrongSize() throws {
        let frame = ZstdCompressor(level: 3).compress(DeliveryTestData.compressible(seed: 1, count: 5000))
        let decompressor = ZstdDecompressor()
        #expect(throws: ZstdError.sizeMismatch(expected: 4999, actual: 5000)) { try decompressor.decompress(frame, size: 4999) }
        #expect(throws: ZstdError.sizeMismatch(expected: 5001, actual: 5000)) { try decompressor.decompress(frame, size: 5001) }
    }

    /// A frame whose header does not declare its size (written by hand, RFC 8878: magic, frame
    /// header descriptor 0 = no content size, window 1 KiB, one raw last block of 100 bytes).
    @Test("a frame without a declared size decodes only into exactly its size")
    func undeclaredSize() throws {
        let content = (0 ..< 100).map { UInt8($0) }
        let blockHeader = UInt32(1) | UInt32(0) << 1 | UInt32(content.count) << 3
        let frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x00,
                              UInt8(blockHeader & 0xFF), UInt8(blockHeader >> 8 & 0xFF), UInt8(blockHeader >> 16)] + content
        let decompressor = ZstdDecompressor()
        #expect(try decompressor.decompress(frame, size: 100) == content)
        #expect(throws: ZstdError.exceedsSize(expected: 50)) { try decompressor.decompress(frame, size: 50) }
        #expect(throws: ZstdError.sizeMismatch(expected: 150, actual: 100)) { try decompressor.decompress(frame, size: 150) }
    }

    @Test("trailing bytes, truncation, garbage and empty input are refused")
    func badFrames() throws {
        let input = DeliveryTestData.compressible(seed: 2, count: 20_000)
        let frame = ZstdCompressor(level: 3).compress(input)
        let decompressor = ZstdDecompressor()
        #expect(throws: ZstdError.trailingData(count: 3)) { try decompressor.decompress(frame + [1, 2, 3], size: input.count) }
        for cut in [1, 4, 5, frame.count / 2, frame.count - 1] {
            #expect(throws: ZstdError.self) { try decompressor.decompress(Array(frame.prefix(cut)), size: input.count) }
            do {
                _ = try decompressor.decompress(Array(frame.prefix(cut)), size: input.count)
            } catch {
                guard case .corrupt = error else { Issue.record("prefix \(cut): \(error)"); continue }
            }
        }
        #expect(throws: ZstdError.corrupt(detail: "empty input")) { try decompressor.decompress([], size: 0) }
        #expect(throws: ZstdError.self) { try decompressor.decompress(Array("not a zstd frame".utf8), size: 16) }
    }

    @Test("every single-byte corruption of a frame is an error or the exact bytes, never a crash")
    func corruption() throws {
        let input = DeliveryTestData.compressible(seed: 3, count: 3000)
        let frame = ZstdCompressor(level: 3).compress(input)
        let decompressor = ZstdDecompressor()
        for i in frame.indices {
            for flip: UInt8 in [0x01, 0x80] {
                var bad = frame
                bad[i] ^= flip
                // Without a checksum a flipped literal can decode to other bytes of the same
                // size: the delivery format's SHA-256 per chunk catches those.
                if let out = try? decompressor.decompress(bad, size: input.count) { #expect(out.count == input.count) }
            }
        }
    }
}
