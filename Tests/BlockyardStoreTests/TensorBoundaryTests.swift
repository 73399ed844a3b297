import BlockyardCore
@testable import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("Tensor boundaries (safetensors, GGUF)")
struct TensorBoundaryTests {
    final class MemoryStream: ByteStream {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            let n = min(buffer.count, bytes.count - position, 1000) // short reads on purpose
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: n) }
            position += n
            return n
        }
    }

    static func detect(_ bytes: [UInt8], size: Int? = nil) throws -> TensorBoundaries.Result? {
        let stream = PeekableStream(MemoryStream(bytes))
        let result = try TensorBoundaries.detect(stream, size: size ?? bytes.count)
        // Detection only peeks: the stream still yields every byte.
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { break }
            all += buffer[0..<n]
        }
        #expect(all == bytes)
        return result
    }

    @Test func safetensorsOffsets() throws {
        let tensors = [("a", [UInt8](repeating: 1, count: 100)), ("b", [UInt8](repeating: 2, count: 0)),
                       ("c", [UInt8](repeating: 3, count: 5000))]
        let file = StoreFixtures.safetensors(tensors)
        let headerLength = file.withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let start = 8 + headerLength
        let result = try #require(try Self.detect(file))
        #expect(result.format == .safetensors)
        // Data start, a|b boundary (b is empty, so it coincides with b|c); c ends the file.
        #expect(result.offsets == [start, start + 100])
    }

    @Test func ggufOffsets() throws {
        let tensors = (0..<4).map { i in ("blk.\(i).weight", VectorInputs.randomBytes(seed: UInt64(i), count: 4 * (300 + 77 * i))) }
        let (file, dataStart, starts) = StoreFixtures.gguf(tensors, alignment: 64)
        let result = try #require(try Self.detect(file))
        #expect(result.format == .gguf)
        #expect(result.offsets == Array(Set([dataStart] + starts)).sorted())
        #expect(dataStart % 64 == 0)
    }

    @Test func ggufWithLargeMetadataIsReadProgressively() throws {
        // A 2 MiB token puts the tensor infos beyond the first MiB: detection must read further.
        let long = String(repeating: "x", count: 2 << 20)
        var built: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { built.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { built.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); built += Array(s.utf8) }
        built += Array("GGUF".utf8); u32(3); u64(1); u64(1)
        str("tokenizer.ggml.tokens"); u32(9); u32(8); u64(1); str(long)
        str("t0"); u32(1); u64(64); u32(0); u64(0)
        while built.count % 32 != 0 { built.append(0) }
        let dataStart = built.count
        built += VectorInputs.randomBytes(seed: 1, count: 256) + VectorInputs.randomBytes(seed: 2, count: 100)
        let result = try #require(try Self.detect(built))
        #expect(result.offsets == [dataStart])
    }

    @Test func nonModelFilesHaveNoBoundaries() throws {
        #expect(try Self.detect(VectorInputs.randomBytes(seed: 5, count: 100_000)) == nil)
        #expect(try Self.detect([UInt8](repeating: 0, count: 100)) == nil)
        #expect(try Self.detect(Array("GGUF garbage".utf8)) == nil)
        // A safetensors header whose offsets run past the file is not trusted.
        let file = StoreFixtures.safetensors([("a", [UInt8](repeating: 1, count: 1000))])
        #expect(try Self.detect(Array(file.dropLast(10))) == nil)
        // Header length announced but the JSON is not valid.
        var broken = file
        broken[12] = UInt8(ascii: "}")
        #expect(try Self.detect(broken) == nil)
    }
}
