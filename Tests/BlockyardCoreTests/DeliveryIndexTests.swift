import BlockyardCore
import BlockyardTestSupport
import Testing

/// Building the delivery index and pack: exact round trips, chunk boundaries, the tree rule and
/// the locality of an edit.
@Suite("Delivery index")
struct DeliveryIndexTests {
    /// Builds, encodes, decodes, verifies and unpacks; returns the decoded index.
    @discardableResult
    static func roundTrip(_ input: [UInt8], boundaries: [Int] = [],
                          parameters: DeliveryParameters = DeliveryTestData.parameters) throws -> DeliveryIndex {
        let (index, pack) = DeliveryPacker.build(input, boundaries: boundaries, parameters: parameters)
        let bytes = DeliveryIndexCodec.encode(index)
        let decoded = try DeliveryIndexCodec.decode(bytes)
        #expect(decoded == index)
        #expect(bytes.count == DeliveryIndexCodec.headerSize + 4 * index.levels.count
                + 64 * (index.levels.reduce(0) { $0 + $1.count } + index.leaves.count))
        #expect(try DeliveryVerifier.unpackAll(decoded, pack: pack) == input)
        #expect(index.artifactSize == UInt64(input.count))
        #expect(index.packSize == UInt64(pack.count))
        // Leaves tile the artifact and the pack; chunk ends are the chunker's.
        let ends = input.withUnsafeBytes { ChunkPacker.chunkEnds($0, boundaries: boundaries, parameters: parameters.chunker) }
        #expect(index.leaves.map { Int($0.artifactRange.upperBound) } == ends)
        for leaf in index.leaves {
            #expect(leaf.isStoredRaw == (leaf.storedSize == leaf.rawSize))
            #expect(leaf.storedSize <= leaf.rawSize)
            let chunk = Array(input[Int(leaf.artifactOffset) ..< Int(leaf.artifactRange.upperBound)])
            #expect(leaf.hash == DeliveryHash.sha256(chunk))
        }
        #expect(index.levels[0].count == 1)
        return decoded
    }

    @Test("round trip: empty, one byte, sizes at the window and chunk limits, random sizes")
    func sizes() throws {
        let p = ChunkerParameters.electronBuilder
        var sizes = [0, 1, 2, 63, 64, 65, p.minSize - 1, p.minSize, p.minSize + 1, p.maxSize - 1, p.maxSize,
                     p.maxSize + 1, 2 * p.maxSize, 2 * p.maxSize + 1, 3 * p.maxSize - 1]
        var rng = SplitMix64(seed: 16)
        for _ in 0 ..< 12 { sizes.append(Int(rng.next() % 600_000)) }
        for (k, size) in sizes.enumerated() {
            for input in [DeliveryTestData.random(seed: UInt64(k), count: size),
                          DeliveryTestData.compressible(seed: UInt64(k), count: size)] {
                let index = try Self.roundTrip(input)
                #expect(index.leaves.isEmpty == (size == 0))
            }
        }
    }

    @Test("zeros cut at exactly the maximum chunk size; stored compressed")
    func maxSizeCuts() throws {
        let max = ChunkerParameters.electronBuilder.maxSize
        for count in [max, 3 * max, 3 * max + 1] {
            let index = try Self.roundTrip([UInt8](repeating: 0, count: count))
            #expect(index.leaves.prefix(count / max).allSatisfy { $0.rawSize == UInt32(max) && !$0.isStoredRaw })
            #expect(index.leaves.count == (count + max - 1) / max)
        }
    }

    @Test("random data is stored raw, text compressed; forced cuts become chunk ends")
    func storedFormsAndForcedCuts() throws {
        let input = DeliveryTestData.mixed(seed: 5, count: 400_000)
        let boundaries = [1, 4096, 100_000, 100_001, 250_000, 399_999, 400_000, 500_000]
        let index = try Self.roundTrip(input, boundaries: boundaries)
        let ends = Set(index.leaves.map { Int($0.artifactRange.upperBound) })
        for b in boundaries where b > 0 && b < input.count { #expect(ends.contains(b), "cut at \(b)") }
        #expect(index.leaves.contains { $0.isStoredRaw })
        #expect(index.leaves.contains { !$0.isStoredRaw })
    }

    /// The default parameter block, written out by hand: chunks 8192 … 32768, mask 0x3FFF;
    /// fan-out 2 … 64, mask 0x0F.
    static let parameterBlock: [UInt8] = [0x00, 0x20, 0, 0, 0x00, 0x80, 0, 0, 0xFF, 0x3F, 0, 0, 0, 0, 0, 0,
                                          2, 0, 64, 0, 0x0F, 0, 0, 0]

    @Test("empty artifact: one root without children, hash of 0x01 ‖ parameters ‖ u32 0")
    func empty() throws {
        let index = try Self.roundTrip([])
        #expect(DeliveryParameters().parameterBlock == Self.parameterBlock)
        #expect(index.levels.count == 1 && index.root.childCount == 0 && index.root.rawSize == 0)
        #expect(index.rootHash == DeliveryHash.sha256([1] + Self.parameterBlock + [0, 0, 0, 0]))
        #expect(DeliveryIndexCodec.encode(index).count == 128 + 4 + 64)
    }

    @Test("one chunk: a root with one child")
    func single() throws {
        let input = Array("hello".utf8)
        let index = try Self.roundTrip(input)
        #expect(index.levels.count == 1 && index.leaves.count == 1 && index.root.childCount == 1)
        // The node serialisation, written out by hand.
        var serial: [UInt8] = [1] + Self.parameterBlock + [1, 0, 0, 0] + DeliveryHash.sha256(input).bytes
        serial += [5, 0, 0, 0, 0, 0, 0, 0]
        #expect(index.rootHash == DeliveryHash.sha256(serial))
    }

    @Test("groups: bounds and boundaries follow the rule on random hashes")
    func groupRule() throws {
        var rng = SplitMix64(seed: 9)
        for parameters in [TreeParameters.standard, TreeParameters(minFanout: 3, maxFanout: 5, mask: 0x3)] {
            for count in [1, 2, 3, 17, 100, 1000] {
                let children = (0 ..< count).map { i in
                    DeliveryTree.Child(hash: DeliveryHash.sha256([UInt8(truncatingIfNeeded: rng.next()), UInt8(i & 0xFF), UInt8(i >> 8)]),
                                       rawSize: 1)
                }
                let sizes = DeliveryTree.groupSizes(children[...], parameters: parameters)
                #expect(sizes.reduce(0, +) == count)
                var start = 0
                for (g, size) in sizes.enumerated() {
                    let isLast = g == sizes.count - 1
                    #expect(size >= 1 && size <= parameters.maxFanout)
                    if !isLast { #expect(size >= parameters.minFanout) }
                    let closer = children[start + size - 1].hash.boundaryBits & parameters.mask == parameters.mask
                    if !isLast && size < parameters.maxFanout { #expect(closer) }
                    // No earlier child in the group could have closed it.
                    for j in stride(from: start + parameters.minFanout - 1, to: start + size - 1, by: 1) {
                        #expect(children[j].hash.boundaryBits & parameters.mask != parameters.mask)
                    }
                    start += size
                }
            }
        }
    }

    @Test("record offsets locate every node and leaf in the encoded index")
    func recordOffsets() throws {
        let input = DeliveryTestData.random(seed: 77, count: 3 << 20)
        let (index, _) = DeliveryPacker.build(input, parameters: DeliveryTestData.parameters)
        #expect(index.levels.count >= 2)
        let bytes = DeliveryIndexCodec.encode(index)
        let header = try bytes.withUnsafeBytes { try DeliveryIndexCodec.decodeHeader($0) }
        #expect(header.levelCounts == index.levels.map(\.count))
        #expect(header.indexSize == bytes.count)
        #expect(header.rootHash == index.rootHash)
        for (level, nodes) in index.levels.enumerated() {
            for (i, node) in nodes.enumerated() {
                let at = DeliveryIndexCodec.recordOffset(levelCounts: header.levelCounts, level: level, index: i)
                #expect(Array(bytes[at ..< at + 32]) == node.hash.bytes)
            }
        }
        for (i, leaf) in index.leaves.enumerated() {
            let at = DeliveryIndexCodec.recordOffset(levelCounts: header.levelCounts, level: index.levels.count, index: i)
            #expect(Array(bytes[at ..< at + 32]) == leaf.hash.bytes)
        }
    }

    /// An insertion in the middle changes the chunks around it and, above them, only the
    /// nodes on their paths: at most a few per level.
    @Test("an insertion changes only O(depth) nodes")
    func insertionLocality() throws {
        let base = DeliveryTestData.random(seed: 21, count: 24 << 20)
        var edited = base
        edited.insert(contentsOf: Array("an inserted line\n".utf8), at: 12 << 20)
        let (a, _) = DeliveryPacker.build(base, parameters: DeliveryTestData.parameters)
        let (b, _) = DeliveryPacker.build(edited, parameters: DeliveryTestData.parameters)
        #expect(a.levels.count >= 3, "deep enough to mean something")
        let oldLeaves = Set(a.leaves.map(\.hash))
        let newLeaves = b.leaves.filter { !oldLeaves.contains($0.hash) }.count
        #expect(newLeaves >= 1 && newLeaves <= 2)
        let oldNodes = Set(a.levels.joined().map(\.hash))
        var changed = 0
        for (level, nodes) in b.levels.enumerated() {
            let fresh = nodes.filter { !oldNodes.contains($0.hash) }.count
            #expect(fresh >= 1 && fresh <= 2, "level \(level): \(fresh) new nodes of \(nodes.count)")
            changed += fresh
        }
        #expect(changed <= 2 * b.levels.count)
        #expect(b.leaves.count + b.levels.joined().count > 50 * changed)
    }
}
