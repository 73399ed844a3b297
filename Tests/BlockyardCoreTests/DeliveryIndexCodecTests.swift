import BlockyardCore
import Testing

/// The strict reader: every truncation, corruption and hostile value is refused with the
/// precise ``DeliveryIndexError``, never a crash or a large allocation.
@Suite("Delivery index codec")
struct DeliveryIndexCodecTests {
    /// A small index with two inner levels, raw and compressed leaves.
    static let sample: (index: DeliveryIndex, bytes: [UInt8], pack: [UInt8]) = {
        let input = DeliveryTestData.mixed(seed: 8, count: 700_000)
        let tree = TreeParameters(minFanout: 2, maxFanout: 4, mask: 0x7)
        let (index, pack) = DeliveryPacker.build(input, parameters: DeliveryParameters(tree: tree, compressionLevel: 1))
        return (index, DeliveryIndexCodec.encode(index), pack)
    }()

    static func decodeError(_ bytes: [UInt8]) -> DeliveryIndexError? {
        do {
            _ = try DeliveryIndexCodec.decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    static func patched(_ bytes: [UInt8], at offset: Int, _ value: some FixedWidthInteger) -> [UInt8] {
        var out = bytes
        withUnsafeBytes(of: value.littleEndian) { v in for (i, b) in v.enumerated() { out[offset + i] = b } }
        return out
    }

    @Test("the sample has the shape the other tests rely on")
    func sampleShape() throws {
        let (index, bytes, _) = Self.sample
        #expect(index.levels.count >= 2)
        #expect(index.storedRawCount > 0 && index.storedRawCount < index.leaves.count)
        #expect(try DeliveryIndexCodec.decode(bytes) == index)
    }

    @Test("every truncation is refused with the size the data announces")
    func truncations() throws {
        let bytes = Self.sample.bytes
        let tableEnd = 128 + 4 * Self.sample.index.levels.count
        for length in 0 ..< bytes.count {
            let expected = length < 128 ? 128 : length < tableEnd ? tableEnd : bytes.count
            #expect(Self.decodeError(Array(bytes.prefix(length))) == .truncated(expected: expected, actual: length))
        }
        #expect(Self.decodeError(bytes + [0]) == .trailingData(count: 1))
        #expect(Self.decodeError(bytes + bytes) == .trailingData(count: bytes.count))
    }

    /// Every byte but the informational compression level is checked by a structural rule or a
    /// hash (the chunker and tree parameters are part of every node's serialisation).
    @Test("every single-byte corruption is refused")
    func corruptions() throws {
        let bytes = Self.sample.bytes
        let unchecked: Set<Int> = [22]
        for i in bytes.indices where !unchecked.contains(i) {
            for flip: UInt8 in [0x01, 0x40, 0xFF] {
                var bad = bytes
                bad[i] ^= flip
                #expect(Self.decodeError(bad) != nil, "byte \(i) ^ \(flip) accepted")
            }
        }
    }

    @Test("header fields: magic, version, sizes, reserved bytes, parameters")
    func headerErrors() throws {
        let bytes = Self.sample.bytes
        #expect(Self.decodeError(Array("{\"version\":\"2\"}".utf8)) == .notAnIndex)
        #expect(Self.decodeError([0x89, 0x42, 0x00]) == .notAnIndex)
        #expect(Self.decodeError([0x89, 0x42]) == .truncated(expected: 128, actual: 2))
        #expect(Self.decodeError(Self.patched(bytes, at: 8, UInt16(2))) == .unsupportedVersion(2))
        #expect(Self.decodeError(Self.patched(bytes, at: 10, UInt16(256))) == .invalidHeader(field: "header size", detail: "256, expected 128"))
        #expect(Self.decodeError(Self.patched(bytes, at: 16, UInt32(4))) == .invalidHeader(field: "flags", detail: "4 (no flags are defined)"))
        #expect(Self.decodeError(Self.patched(bytes, at: 21, UInt8(2))) == .invalidHeader(field: "compression", detail: "2 (1 = zstd is the only one)"))
        #expect(Self.decodeError(Self.patched(bytes, at: 22, Int8(22))) == .invalidHeader(field: "compression level", detail: "22"))
        #expect(Self.decodeError(Self.patched(bytes, at: 127, UInt8(9))) == .invalidHeader(field: "reserved byte 127", detail: "9, must be 0"))
        #expect(Self.decodeError(Self.patched(bytes, at: 24, UInt32(10))) == .invalidHeader(field: "chunk minimum size", detail: "10, below the 64-byte window"))
        #expect(Self.decodeError(Self.patched(bytes, at: 28, UInt32(5 << 20)))
                == .invalidHeader(field: "chunk maximum size", detail: "\(5 << 20), above the format's limit of \(4 << 20)"))
        #expect(Self.decodeError(Self.patched(bytes, at: 40, UInt16(1))) == .invalidHeader(field: "fan-out", detail: "1 … 4 (need 2 ≤ min ≤ max)"))
        #expect(Self.decodeError(Self.patched(bytes, at: 68, UInt32(1000))) == .invalidHeader(field: "level count", detail: "1000 (1 … 40)"))
        #expect(Self.decodeError(Self.patched(bytes, at: 128, UInt32(2))) == .invalidHeader(field: "level table", detail: "the top level has 2 nodes, not 1"))
        // The root in the header must be the root node's.
        var root = bytes
        root[72] ^= 1
        guard case .invalidHeader(field: "root hash", _) = Self.decodeError(root) else {
            Issue.record("header root accepted")
            return
        }
    }

    @Test("hostile counts: a huge leaf count is a truncation, not an allocation")
    func hostileCounts() throws {
        let bytes = Self.sample.bytes
        let levels = Self.sample.index.levels.count
        let huge = Self.patched(bytes, at: 64, UInt32.max)
        let expected = 128 + 4 * levels + 64 * Self.sample.index.levels.joined().count + 64 * Int(UInt32.max)
        #expect(Self.decodeError(huge) == .truncated(expected: expected, actual: bytes.count))
        let sizes = Self.patched(bytes, at: 48, UInt64.max)
        #expect(Self.decodeError(sizes) == .invalidHeader(field: "artifact size", detail: "\(UInt64.max)"))
    }

    @Test("leaf and node records: offsets, sizes, flags, child spans and hashes")
    func recordErrors() throws {
        let (index, bytes, _) = Self.sample
        let counts = index.levels.map(\.count)
        let bottom = counts.count - 1
        let leaf0 = DeliveryIndexCodec.recordOffset(levelCounts: counts, level: counts.count, index: 0)
        let leaf1 = leaf0 + 64
        #expect(Self.decodeError(Self.patched(bytes, at: leaf1 + 32, UInt64(5)))
                == .invalidLeaf(index: 1, detail: "artifact offset 5, expected \(index.leaves[0].rawSize)"))
        #expect(Self.decodeError(Self.patched(bytes, at: leaf0 + 56, UInt32(6))) == .invalidLeaf(index: 0, detail: "unknown flags 6"))
        #expect(Self.decodeError(Self.patched(bytes, at: leaf0 + 60, UInt32(1))) == .invalidLeaf(index: 0, detail: "reserved field is not 0"))
        #expect(Self.decodeError(Self.patched(bytes, at: leaf0 + 48, UInt32(0))) == .invalidLeaf(index: 0, detail: "raw size 0 outside 1 … 32768"))
        // A compressed leaf marked raw: its stored size is not its raw size.
        let compressed = try #require(index.leaves.firstIndex { !$0.isStoredRaw })
        let at = leaf0 + 64 * compressed
        let leaf = index.leaves[compressed]
        #expect(Self.decodeError(Self.patched(bytes, at: at + 56, UInt32(1)))
                == .invalidLeaf(index: compressed, detail: "stored raw with stored size \(leaf.storedSize) ≠ raw size \(leaf.rawSize)"))
        // A leaf's hash: its parent's hash no longer matches.
        var hashed = bytes
        hashed[at] ^= 0x10
        let parent = try #require(index.levels[bottom].firstIndex { Int($0.firstChild) <= compressed && compressed < Int($0.firstChild + $0.childCount) })
        #expect(Self.decodeError(hashed) == .nodeHashMismatch(level: bottom, index: parent))
        // A node's child span.
        let node1 = DeliveryIndexCodec.recordOffset(levelCounts: counts, level: bottom, index: 1)
        #expect(Self.decodeError(Self.patched(bytes, at: node1 + 48, UInt32(0)))
                == .invalidNode(level: bottom, index: 1, detail: "first child 0, expected \(index.levels[bottom][0].childCount)"))
        #expect(Self.decodeError(Self.patched(bytes, at: node1 + 40, UInt64(1)))
                == .invalidNode(level: bottom, index: 1, detail: "raw size 1, its children hold \(index.levels[bottom][1].rawSize)"))
    }

    @Test("a tree grouped by another rule, with correct hashes, is not canonical")
    func nonCanonical() throws {
        let input = DeliveryTestData.random(seed: 4, count: 500_000)
        var (index, _) = DeliveryPacker.build(input, parameters: DeliveryParameters(
            tree: TreeParameters(minFanout: 2, maxFanout: 2, mask: 0), compressionLevel: 1))
        index.parameters.tree = TreeParameters(minFanout: 2, maxFanout: 8, mask: 0x3)
        let error = Self.decodeError(DeliveryIndexCodec.encode(index))
        guard case .nonCanonicalTree(let level, _) = error else {
            Issue.record("expected nonCanonicalTree, got \(String(describing: error))")
            return
        }
        #expect(level == index.levels.count - 1, "the lowest level already differs")
        // Structure checks alone accept it.
        #expect(try DeliveryIndexCodec.decode(DeliveryIndexCodec.encode(index), verifyHashes: false) == index)
    }

    @Test("expected root from the channel file")
    func expectedRoot() throws {
        let index = Self.sample.index
        try DeliveryVerifier.verifyTree(index, expectedRoot: index.rootHash)
        let other = DeliveryHash.sha256([1, 2, 3])
        #expect(throws: DeliveryIndexError.rootHashMismatch(expected: other.hex, actual: index.rootHash.hex)) {
            try DeliveryVerifier.verifyTree(index, expectedRoot: other)
        }
    }

    @Test("pack: size, corrupt compressed and raw chunks")
    func packErrors() throws {
        let (index, _, pack) = Self.sample
        #expect(throws: DeliveryIndexError.packSizeMismatch(expected: index.packSize, actual: index.packSize - 1)) {
            try pack.dropLast().withUnsafeBytes { try DeliveryVerifier.verifyPack(index, pack: $0) }
        }
        let raw = try #require(index.leaves.firstIndex { $0.isStoredRaw })
        var bad = pack
        bad[Int(index.leaves[raw].packOffset) + 100] ^= 1
        #expect(throws: DeliveryIndexError.chunkHashMismatch(leaf: raw)) { try DeliveryVerifier.unpackAll(index, pack: bad) }
        let compressed = try #require(index.leaves.firstIndex { !$0.isStoredRaw })
        for position in [0, 4, Int(index.leaves[compressed].storedSize) / 2, Int(index.leaves[compressed].storedSize) - 1] {
            var bad = pack
            bad[Int(index.leaves[compressed].packOffset) + position] ^= 0x55
            do {
                _ = try DeliveryVerifier.unpackAll(index, pack: bad)
                Issue.record("corrupt byte \(position) of chunk \(compressed) accepted")
            } catch {
                switch error {
                case .chunkHashMismatch(leaf: compressed), .chunkUndecodable(leaf: compressed, _): break
                default: Issue.record("unexpected \(error)")
                }
            }
        }
    }
}
