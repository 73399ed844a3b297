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
        Golden(name: "empty", root: "fcd08d241fb211568c20a2550514d867c74bdd34c17389b0e10359e1f7a49cf6",
               indexSHA256: "643671465636cd31af68327c7d70839baa09a77663facc75312615a1132b104b", chunks: 0, levels: [1]),
        Golden(name: "hello-world", root: "548092db8ad10ae6cf95dd850493b6b4fe779e8bdfcc139b9066d80b15072b88",
               indexSHA256: nil, chunks: 1, levels: [1]),
        Golden(name: "random-1-32767", root: "6de8e8559cd0661a73466064903f6e4acde580e37cc44ba12e31e9cfda63bf7f",
               indexSHA256: "497b5b4f9c4d2710e4b072393320748c1c337fa36a7d4f98507a5cf902668ca6", chunks: 3, levels: [1, 2]),
        Golden(name: "random-3-5000000", root: "5ae5312eef7207381ebaa73d10e2d640df86cdf3cca2dfb470b82ca5538d8409",
               indexSHA256: "113a329f59e17884796a9d2c40c89790622700b23a96566aff1b1eac777649f2", chunks: 230, levels: [1, 10]),
        Golden(name: "random-5-12000000", root: "4ca9bbc2f3afcb43337e7b6c03a80cab0a915489d9e9166aaee4ec0d904367ed",
               indexSHA256: "24d8ee9eaefa8c16f3721c117f883c4d00dcecbb266dc23c9db91ade6adb4fbf", chunks: 579, levels: [1, 5, 34]),
        // The 4 KiB text header's chunk is compressed, the tensors' are raw: root only.
        Golden(name: "bundle-7-3-base", root: "102f34c97cb8c9c22e256d7ef47d523c4d80f7578ecfce21982f836f19ddf66c",
               indexSHA256: nil, chunks: 153, levels: [1, 7]),
    ]

    @Test("index bytes and roots of shared-vector inputs", arguments: vectors.map(\.name))
    func golden(name: String) throws {
        let golden = try #require(Self.vectors.first { $0.name == name })
        let input = try #require(VectorInputs.generate(name))
        let (index, pack) = DeliveryPacker.build(input)
        let bytes = DeliveryIndexCodec.encode(index)
        #expect(index.rootHash.hex == golden.root)
        #expect(index.leaves.count == golden.chunks)
        #expect(index.levels.map(\.count) == golden.levels)
        if let sha = golden.indexSHA256 {
            #expect(index.storedRawCount == index.leaves.count)
            #expect(DeliveryHash.sha256(bytes).hex == sha)
        }
        // The input was regenerated correctly (shared vectors record its SHA-256).
        if let vector = try? SharedVectors.expected(name) { #expect(SHA2Hasher.hash(.sha256, input).hex == vector.sha256) }
        #expect(try DeliveryVerifier.unpackAll(DeliveryIndexCodec.decode(bytes), pack: pack) == input)
    }
}
