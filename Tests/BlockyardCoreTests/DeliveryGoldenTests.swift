import BlockyardCore
import BlockyardTestSupport
import Testing

/// Pins format version 1 (docs/FORMAT.md). Inputs are regenerated from their shared-vector
/// names. The constants were computed once by this implementation when the format was
/// defined: if one of them changes, the bytes of the format (or its tree rule, hashing or
/// chunking) changed, which needs a new format version, not a new constant.
///
/// The index records each chunk's compressed size, which depends on libzstd's output (not
/// part of the format), so whole-index bytes are pinned only for incompressible inputs, where
/// every chunk is stored raw; the root, which covers only raw bytes, is pinned for all.
@Suite("Delivery format golden vectors")
struct DeliveryGoldenTests {
    struct Golden {
        let name: String
        let root: String
        /// SHA-256 of the `.byindex` bytes (default parameters, level 1), when every chunk is raw.
        let indexSHA256: String?
        let chunks: Int
        let levels: [Int]
    }

    static let vectors = [
        Golden(name: "empty", root: "ROOT_EMPTY", indexSHA256: "IDX_EMPTY", chunks: 0, levels: [1]),
        Golden(name: "hello-world", root: "ROOT_HELLO", indexSHA256: nil, chunks: 1, levels: [1]),
        Golden(name: "random-1-32767", root: "ROOT_R32767", indexSHA256: "IDX_R32767", chunks: -1, levels: []),
        Golden(name: "random-3-5000000", root: "ROOT_R5M", indexSHA256: "IDX_R5M", chunks: -1, levels: []),
        Golden(name: "bundle-7-3-base", root: "ROOT_BUNDLE", indexSHA256: nil, chunks: -1, levels: []),
    ]

    @Test("index bytes and roots of shared-vector inputs", arguments: vectors.map(\.name))
    func golden(name: String) throws {
        let golden = try #require(Self.vectors.first { $0.name == name })
        let input = try #require(VectorInputs.generate(name))
        let (index, pack) = DeliveryPacker.build(input)
        let bytes = DeliveryIndexCodec.encode(index)
        print("GOLDEN \(name) root=\(index.rootHash.hex) index=\(DeliveryHash.sha256(bytes).hex) chunks=\(index.leaves.count) levels=\(index.levels.map(\.count)) raw=\(index.storedRawCount)")
        #expect(index.rootHash.hex == golden.root)
        #expect(index.leaves.count == golden.chunks)
        #expect(index.levels.map(\.count) == golden.levels)
        if let sha = golden.indexSHA256 {
            #expect(index.storedRawCount == index.leaves.count)
            #expect(DeliveryHash.sha256(bytes).hex == sha)
        }
        #expect(try DeliveryVerifier.unpackAll(DeliveryIndexCodec.decode(bytes), pack: pack) == input)
    }
}
