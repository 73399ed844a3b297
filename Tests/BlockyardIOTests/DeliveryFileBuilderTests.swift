import BlockyardCore
import BlockyardIO
import BlockyardTestSupport
import Foundation
import Testing

/// The parallel file path writes exactly the bytes of the in-memory ``DeliveryPacker``, for
/// any thread count, across its 16 MiB windows, with forced cuts.
@Suite("Delivery file builder")
struct DeliveryFileBuilderTests {
    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test("same bytes as the in-memory builder on 1–3 threads, across windows")
    func matchesPacker() throws {
        let dir = try TemporaryDirectory()
        // 40 MiB: random stretches with text between them, so both stored forms occur in every window.
        var input = VectorInputs.randomBytes(seed: 31, count: 40 << 20)
        let text = Array(String(repeating: "tensor.weight = 0.0125; ", count: 4000).utf8)
        for at in stride(from: 1 << 20, to: input.count - text.count, by: 3 << 20) {
            input.replaceSubrange(at ..< at + text.count, with: text)
        }
        let path = try dir.write("model.bin", input)
        let boundaries = [4096, 16 << 20, (16 << 20) + 1, 33_554_431]
        let parameters = DeliveryParameters(compressionLevel: 1)
        let (index, pack) = DeliveryPacker.build(input, boundaries: boundaries, parameters: parameters)
        #expect(index.storedRawCount > 0 && index.storedRawCount < index.leaves.count)
        for threads in [1, 2, 3] {
            let output = try DeliveryFileBuilder.build(inputPath: path, indexPath: dir.path("i\(threads)"), packPath: dir.path("p\(threads)"),
                                                       parameters: parameters, boundaries: boundaries, threads: threads)
            #expect(output.index == index)
            #expect(try Self.read(dir.path("i\(threads)")) == DeliveryIndexCodec.encode(index))
            #expect(try Self.read(dir.path("p\(threads)")) == pack)
            try DeliveryPackFile.verify(index, packPath: dir.path("p\(threads)"))
        }
    }

    @Test("an empty file, a directory and a missing file")
    func edges() throws {
        let dir = try TemporaryDirectory()
        let empty = try dir.write("empty", [])
        let output = try DeliveryFileBuilder.build(inputPath: empty, indexPath: dir.path("e.byindex"), packPath: dir.path("e.bypack"))
        #expect(output.index.leaves.isEmpty)
        #expect(try Self.read(dir.path("e.bypack")).isEmpty)
        #expect(throws: FileError.self) {
            try DeliveryFileBuilder.build(inputPath: dir.path("missing"), indexPath: dir.path("m.byindex"), packPath: dir.path("m.bypack"))
        }
        #expect(throws: FileError.self) {
            try DeliveryFileBuilder.build(inputPath: dir.url.path, indexPath: dir.path("d.byindex"), packPath: dir.path("d.bypack"))
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted()
        #expect(names == ["e.byindex", "e.bypack", "empty"])
    }

    @Test("the combined pass's blockmap and SHA-512 are the blockmap generator's, at random sizes")
    func combinedBlockmap() throws {
        let dir = try TemporaryDirectory()
        var rng = SplitMix64(seed: 20261203)
        // Edges (empty, one byte, one chunk, the window) and random sizes up to 40 MiB, half
        // of them with compressible stretches.
        var sizes = [0, 1, 8191, 8192, 1 << 20, (16 << 20) - 1, (16 << 20) + 1]
        for _ in 0 ..< 5 { sizes.append(Int(rng.next() % UInt64(40 << 20))) }
        let text = Array(String(repeating: "layer.norm.bias 0.5 ", count: 3000).utf8)
        for (k, size) in sizes.enumerated() {
            var input = VectorInputs.randomBytes(seed: UInt64(100 + k), count: size)
            if k % 2 == 1 {
                for at in stride(from: 4096, to: max(4096, size - text.count), by: 2 << 20) {
                    input.replaceSubrange(at ..< at + text.count, with: text)
                }
            }
            let path = try dir.write("f\(k)", input)
            let expected = try BlockmapGenerator.generate(path: path)
            for threads in [1, 2] {
                var progressed = 0
                let output = try DeliveryFileBuilder.build(inputPath: path, indexPath: dir.path("f\(k).byindex"),
                                                           packPath: dir.path("f\(k).bypack"), threads: threads,
                                                           blockmap: true, progress: { progressed += $0 })
                let combined = try #require(output.blockmap)
                #expect(combined.blockmap == expected.blockmap, "size \(size), \(threads) threads")
                #expect(combined.sha512 == expected.sha512, "size \(size), \(threads) threads")
                #expect(combined.size == size && progressed == size)
                #expect(BlockmapCodec.encodeGzip(combined.blockmap) == BlockmapCodec.encodeGzip(expected.blockmap))
            }
        }
    }
}
