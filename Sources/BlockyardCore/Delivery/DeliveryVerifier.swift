/// Checks an index's hashes and, given the pack, every chunk.
public enum DeliveryVerifier {
    /// Rebuilds the tree from the leaves with the index's parameters and compares it with
    /// the stored levels, bottom-up: a node whose children are grouped differently is
    /// ``DeliveryIndexError/nonCanonicalTree(level:index:)``, one whose hash differs is
    /// ``DeliveryIndexError/nodeHashMismatch(level:index:)``. With `expectedRoot` (from the
    /// channel file), the root must be that hash.
    public static func verifyTree(_ index: DeliveryIndex, expectedRoot: DeliveryHash? = nil) throws(DeliveryIndexError) {
        let rebuilt = DeliveryTree.build(leaves: index.leaves, parameters: index.parameters)
        let stored = index.levels
        // Align the levels at the bottom (the leaves); report stored level numbers.
        for depth in 0 ..< min(stored.count, rebuilt.count) {
            let level = stored.count - 1 - depth
            let mine = stored[level], theirs = rebuilt[rebuilt.count - 1 - depth]
            for i in 0 ..< max(mine.count, theirs.count) {
                guard i < mine.count, i < theirs.count else { throw .nonCanonicalTree(level: level, index: min(i, mine.count - 1)) }
                let a = mine[i], b = theirs[i]
                if a.firstChild != b.firstChild || a.childCount != b.childCount { throw .nonCanonicalTree(level: level, index: i) }
                if a.hash != b.hash { throw .nodeHashMismatch(level: level, index: i) }
            }
        }
        if stored.count != rebuilt.count { throw .nonCanonicalTree(level: 0, index: 0) }
        if let expectedRoot, expectedRoot != index.rootHash {
            throw .rootHashMismatch(expected: expectedRoot.hex, actual: index.rootHash.hex)
        }
    }

    /// Checks that `pack` is the index's pack: its size, and every chunk's stored form decodes
    /// to bytes with the leaf's hash. `onChunk`, if given, receives each chunk's raw bytes in
    /// order (to reassemble the artifact).
    public static func verifyPack(_ index: DeliveryIndex, pack: UnsafeRawBufferPointer,
                                  onChunk: ((UnsafeRawBufferPointer) -> Void)? = nil) throws(DeliveryIndexError) {
        guard UInt64(pack.count) == index.packSize else {
            throw .packSizeMismatch(expected: index.packSize, actual: UInt64(pack.count))
        }
        let decompressor = ZstdDecompressor()
        let largest = index.leaves.reduce(1) { max($0, Int($1.rawSize)) }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: largest, alignment: 64)
        defer { scratch.deallocate() }
        for (i, leaf) in index.leaves.enumerated() {
            let stored = UnsafeRawBufferPointer(rebasing: pack[Int(leaf.packOffset) ..< Int(leaf.packOffset) + Int(leaf.storedSize)])
            let output = UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< Int(leaf.rawSize)])
            try ChunkPacker.unpack(stored, leaf: leaf, leafIndex: i, decompressor: decompressor, into: output)
            onChunk?(UnsafeRawBufferPointer(output))
        }
    }

    /// The artifact rebuilt from a verified pack.
    public static func unpackAll(_ index: DeliveryIndex, pack: [UInt8]) throws(DeliveryIndexError) -> [UInt8] {
        var artifact: [UInt8] = []
        artifact.reserveCapacity(Int(index.artifactSize))
        let result = pack.withUnsafeBytes { p in
            Result { () throws(DeliveryIndexError) in try verifyPack(index, pack: p) { artifact.append(contentsOf: $0) } }
        }
        try result.get()
        return artifact
    }
}
