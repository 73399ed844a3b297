/// The `.byindex` file format, version 1 (every byte: docs/FORMAT.md). Little-endian,
/// fixed-size records: a 128-byte header, a level table of one `u32` node count per inner
/// level (top first), the inner levels' 64-byte node records top-down, then the 64-byte leaf
/// records. A node's children are found by offset alone (``recordOffset(levelCounts:level:index:)``),
/// so a client can read the tree a level per round trip with byte ranges.
public enum DeliveryIndexCodec {
    /// `\x89 B Y I X \r \n \x1a`: a non-ASCII first byte and the CR LF / ^Z pair catch text-mode
    /// transfers, as PNG's signature does.
    public static let magic: [UInt8] = [0x89, 0x42, 0x59, 0x49, 0x58, 0x0D, 0x0A, 0x1A]
    public static let version = 1
    public static let headerSize = 128
    public static let nodeRecordSize = 64
    public static let leafRecordSize = 64
    /// `hash algorithm` byte: SHA-256.
    public static let hashSHA256: UInt8 = 1
    /// `compression` byte: zstd.
    public static let compressionZstd: UInt8 = 1
    /// Leaf flag bit 0: the stored form is the raw bytes.
    public static let leafStoredRaw: UInt32 = 1
    /// The largest chunk maximum version 1 accepts: a reader allocates a chunk's raw size to
    /// decode it, so this bounds what a hostile index can make it allocate (electron-builder's
    /// chunker cuts at 32 KiB).
    public static let maxChunkSize = 4 << 20
    /// More inner levels than any index of at most 2³² leaves can have (each level is at most
    /// half the one below).
    public static let maxLevels = 40

    /// The fixed-size part of an index: what a client reads first.
    public struct Header: Equatable, Sendable {
        public var parameters: DeliveryParameters
        public var artifactSize: UInt64
        public var packSize: UInt64
        public var leafCount: Int
        /// Node counts of the inner levels, top first (the first is 1).
        public var levelCounts: [Int]
        public var rootHash: DeliveryHash

        /// Size of the whole index file this header announces.
        public var indexSize: Int {
            DeliveryIndexCodec.headerSize + 4 * levelCounts.count
                + DeliveryIndexCodec.nodeRecordSize * levelCounts.reduce(0, +)
                + DeliveryIndexCodec.leafRecordSize * leafCount
        }
    }

    /// Byte offset in the index of record `index` of inner level `level` (top first), or of
    /// leaf `index` when `level == levelCounts.count`.
    public static func recordOffset(levelCounts: [Int], level: Int, index: Int) -> Int {
        headerSize + 4 * levelCounts.count + nodeRecordSize * levelCounts.prefix(level).reduce(0, +)
            + (level < levelCounts.count ? nodeRecordSize : leafRecordSize) * index
    }

    // MARK: Encoding

    /// The index's bytes.
    public static func encode(_ index: DeliveryIndex) -> [UInt8] {
        let counts = index.levels.map(\.count)
        let total = headerSize + 4 * counts.count + nodeRecordSize * counts.reduce(0, +) + leafRecordSize * index.leaves.count
        var out = [UInt8](repeating: 0, count: total)
        out.withUnsafeMutableBytes { b in
            for (i, m) in magic.enumerated() { b[i] = m }
            put16(b, 8, UInt16(version))
            put16(b, 10, UInt16(headerSize))
            put16(b, 12, UInt16(nodeRecordSize))
            put16(b, 14, UInt16(leafRecordSize))
            put32(b, 16, 0)
            b[20] = hashSHA256
            b[21] = compressionZstd
            b[22] = UInt8(bitPattern: Int8(clamping: index.parameters.compressionLevel))
            for (i, byte) in index.parameters.parameterBlock.enumerated() { b[24 + i] = byte }
            put64(b, 48, index.artifactSize)
            put64(b, 56, index.packSize)
            put32(b, 64, UInt32(index.leaves.count))
            put32(b, 68, UInt32(counts.count))
            index.rootHash.append(into: b, at: 72)
            var at = headerSize
            for count in counts {
                put32(b, at, UInt32(count))
                at += 4
            }
            for level in index.levels {
                for node in level {
                    node.hash.append(into: b, at: at)
                    put64(b, at + 32, node.artifactOffset)
                    put64(b, at + 40, node.rawSize)
                    put32(b, at + 48, node.firstChild)
                    put32(b, at + 52, node.childCount)
                    put32(b, at + 56, node.firstLeaf)
                    put32(b, at + 60, node.leafCount)
                    at += nodeRecordSize
                }
            }
            for leaf in index.leaves {
                leaf.hash.append(into: b, at: at)
                put64(b, at + 32, leaf.artifactOffset)
                put64(b, at + 40, leaf.packOffset)
                put32(b, at + 48, leaf.rawSize)
                put32(b, at + 52, leaf.storedSize)
                put32(b, at + 56, leaf.isStoredRaw ? leafStoredRaw : 0)
                put32(b, at + 60, 0)
                at += leafRecordSize
            }
        }
        return out
    }

    // MARK: Decoding

    /// Reads and checks the header and level table at the start of `bytes` (which may be only
    /// a prefix of the index). Throws ``DeliveryIndexError/truncated(expected:actual:)`` when
    /// `bytes` is too short for them.
    public static func decodeHeader(_ bytes: UnsafeRawBufferPointer) throws(DeliveryIndexError) -> Header {
        for i in 0 ..< min(magic.count, bytes.count) where bytes[i] != magic[i] { throw .notAnIndex }
        guard bytes.count >= headerSize else { throw .truncated(expected: headerSize, actual: bytes.count) }
        let version = Int(get16(bytes, 8))
        guard version == Self.version else { throw .unsupportedVersion(version) }
        try expect(Int(get16(bytes, 10)) == headerSize, "header size", "\(get16(bytes, 10)), expected \(headerSize)")
        try expect(Int(get16(bytes, 12)) == nodeRecordSize, "node record size", "\(get16(bytes, 12)), expected \(nodeRecordSize)")
        try expect(Int(get16(bytes, 14)) == leafRecordSize, "leaf record size", "\(get16(bytes, 14)), expected \(leafRecordSize)")
        try expect(get32(bytes, 16) == 0, "flags", String(get32(bytes, 16), radix: 16) + " (no flags are defined)")
        try expect(bytes[20] == hashSHA256, "hash algorithm", "\(bytes[20]) (1 = SHA-256 is the only one)")
        try expect(bytes[21] == compressionZstd, "compression", "\(bytes[21]) (1 = zstd is the only one)")
        let level = Int32(Int8(bitPattern: bytes[22]))
        try expect(DeliveryParameters.compressionLevels.contains(level), "compression level", "\(level)")
        try expect(bytes[23] == 0, "reserved byte 23", "\(bytes[23]), must be 0")
        for offset in 104 ..< headerSize where bytes[offset] != 0 {
            throw .invalidHeader(field: "reserved byte \(offset)", detail: "\(bytes[offset]), must be 0")
        }
        let chunkMin = Int(get32(bytes, 24)), chunkMax = Int(get32(bytes, 28))
        try expect(chunkMin >= ChunkerParameters.window, "chunk minimum size", "\(chunkMin), below the 64-byte window")
        try expect(chunkMax > chunkMin, "chunk maximum size", "\(chunkMax), not above the minimum \(chunkMin)")
        try expect(chunkMax <= maxChunkSize, "chunk maximum size", "\(chunkMax), above the format's limit of \(maxChunkSize)")
        let tree = TreeParameters(minFanout: Int(get16(bytes, 40)), maxFanout: Int(get16(bytes, 42)), mask: get32(bytes, 44))
        try expect(tree.isValid, "fan-out", "\(tree.minFanout) … \(tree.maxFanout) (need 2 ≤ min ≤ max)")
        let parameters = DeliveryParameters(
            chunker: ChunkerParameters(minSize: chunkMin, maxSize: chunkMax, mask: get64(bytes, 32)),
            tree: tree, compressionLevel: level)
        let artifactSize = get64(bytes, 48), packSize = get64(bytes, 56)
        try expect(artifactSize <= UInt64(Int64.max), "artifact size", "\(artifactSize)")
        try expect(packSize <= UInt64(Int64.max), "pack size", "\(packSize)")
        let leafCount = Int(get32(bytes, 64))
        let levelCount = Int(get32(bytes, 68))
        try expect(levelCount >= 1 && levelCount <= maxLevels, "level count", "\(levelCount) (1 … \(maxLevels))")
        let tableEnd = headerSize + 4 * levelCount
        guard bytes.count >= tableEnd else { throw .truncated(expected: tableEnd, actual: bytes.count) }
        var counts: [Int] = []
        var below = leafCount
        for i in (0 ..< levelCount).reversed() {
            let count = Int(get32(bytes, headerSize + 4 * i))
            // Every node but an empty artifact's root has a child, so a level is never larger
            // than the one below it.
            try expect(count >= 1 && (count <= below || (below == 0 && count == 1)),
                       "level table", "level \(i) has \(count) nodes above \(below)")
            counts.append(count)
            below = count
        }
        counts.reverse()
        try expect(counts[0] == 1, "level table", "the top level has \(counts[0]) nodes, not 1")
        return Header(parameters: parameters, artifactSize: artifactSize, packSize: packSize, leafCount: leafCount,
                      levelCounts: counts, rootHash: DeliveryHash(bytes: bytes, at: 72))
    }

    /// Decodes and checks a whole index: the header, every record's bounds and the spans that
    /// tie nodes, children and leaves together, then (with `verifyHashes`, the default) every
    /// node hash and the tree rule (``DeliveryVerifier/verifyTree(_:expectedRoot:)``).
    public static func decode(_ bytes: UnsafeRawBufferPointer, verifyHashes: Bool = true) throws(DeliveryIndexError) -> DeliveryIndex {
        let header = try decodeHeader(bytes)
        let expectedSize = header.indexSize
        if bytes.count < expectedSize { throw .truncated(expected: expectedSize, actual: bytes.count) }
        if bytes.count > expectedSize { throw .trailingData(count: bytes.count - expectedSize) }

        let p = header.parameters
        var at = headerSize + 4 * header.levelCounts.count
        // Leaves first (they are last in the file): the nodes are checked against them.
        var leaves: [DeliveryLeaf] = []
        leaves.reserveCapacity(header.leafCount)
        var leafAt = recordOffset(levelCounts: header.levelCounts, level: header.levelCounts.count, index: 0)
        var artifactEnd: UInt64 = 0, packEnd: UInt64 = 0
        for i in 0 ..< header.leafCount {
            let rawSize = get32(bytes, leafAt + 48), storedSize = get32(bytes, leafAt + 52)
            let flags = get32(bytes, leafAt + 56)
            let leaf = DeliveryLeaf(hash: DeliveryHash(bytes: bytes, at: leafAt), artifactOffset: get64(bytes, leafAt + 32),
                                    packOffset: get64(bytes, leafAt + 40), rawSize: rawSize, storedSize: storedSize,
                                    isStoredRaw: flags & leafStoredRaw != 0)
            func fail(_ detail: String) -> DeliveryIndexError { .invalidLeaf(index: i, detail: detail) }
            guard flags & ~leafStoredRaw == 0 else { throw fail("unknown flags \(String(flags, radix: 16))") }
            guard get32(bytes, leafAt + 60) == 0 else { throw fail("reserved field is not 0") }
            guard rawSize >= 1 && Int(rawSize) <= p.chunker.maxSize else {
                throw fail("raw size \(rawSize) outside 1 … \(p.chunker.maxSize)")
            }
            if leaf.isStoredRaw {
                guard storedSize == rawSize else { throw fail("stored raw with stored size \(storedSize) ≠ raw size \(rawSize)") }
            } else {
                guard storedSize >= 1 && storedSize < rawSize else {
                    throw fail("compressed size \(storedSize) not in 1 … \(rawSize - 1)")
                }
            }
            guard leaf.artifactOffset == artifactEnd else { throw fail("artifact offset \(leaf.artifactOffset), expected \(artifactEnd)") }
            guard leaf.packOffset == packEnd else { throw fail("pack offset \(leaf.packOffset), expected \(packEnd)") }
            artifactEnd += UInt64(rawSize)
            packEnd += UInt64(storedSize)
            leaves.append(leaf)
            leafAt += leafRecordSize
        }
        guard artifactEnd == header.artifactSize else {
            throw .invalidHeader(field: "artifact size", detail: "\(header.artifactSize), the leaves add up to \(artifactEnd)")
        }
        guard packEnd == header.packSize else {
            throw .invalidHeader(field: "pack size", detail: "\(header.packSize), the leaves add up to \(packEnd)")
        }

        // Inner levels, bottom-up, each checked against the level below it.
        var levels = [[DeliveryNode]](repeating: [], count: header.levelCounts.count)
        for level in (0 ..< header.levelCounts.count).reversed() {
            let count = header.levelCounts[level]
            var nodes: [DeliveryNode] = []
            nodes.reserveCapacity(count)
            at = recordOffset(levelCounts: header.levelCounts, level: level, index: 0)
            let isBottom = level == header.levelCounts.count - 1
            let childCount = isBottom ? leaves.count : levels[level + 1].count
            var nextChild = 0
            var offset: UInt64 = 0
            for i in 0 ..< count {
                let node = DeliveryNode(hash: DeliveryHash(bytes: bytes, at: at), artifactOffset: get64(bytes, at + 32),
                                        rawSize: get64(bytes, at + 40), firstChild: get32(bytes, at + 48),
                                        childCount: get32(bytes, at + 52), firstLeaf: get32(bytes, at + 56),
                                        leafCount: get32(bytes, at + 60))
                func fail(_ detail: String) -> DeliveryIndexError { .invalidNode(level: level, index: i, detail: detail) }
                guard Int(node.firstChild) == nextChild else { throw fail("first child \(node.firstChild), expected \(nextChild)") }
                let isEmptyRoot = childCount == 0 && level == 0
                guard node.childCount >= 1 || isEmptyRoot else { throw fail("no children") }
                guard Int(node.childCount) <= p.tree.maxFanout else {
                    throw fail("\(node.childCount) children, more than the maximum \(p.tree.maxFanout)")
                }
                let end = nextChild + Int(node.childCount)
                guard end <= childCount else { throw fail("children \(nextChild) ..< \(end) beyond the \(childCount) of the level below") }
                guard node.artifactOffset == offset else { throw fail("artifact offset \(node.artifactOffset), expected \(offset)") }
                // The spans the node inherits from its children.
                var rawSize: UInt64 = 0, firstLeaf = 0, leafCount = 0
                if isBottom {
                    for leaf in leaves[nextChild ..< end] { rawSize += UInt64(leaf.rawSize) }
                    firstLeaf = nextChild
                    leafCount = end - nextChild
                } else {
                    let children = levels[level + 1][nextChild ..< end]
                    for child in children {
                        rawSize += child.rawSize
                        leafCount += Int(child.leafCount)
                    }
                    firstLeaf = children.first.map { Int($0.firstLeaf) } ?? 0
                }
                guard node.rawSize == rawSize else { throw fail("raw size \(node.rawSize), its children hold \(rawSize)") }
                guard Int(node.firstLeaf) == firstLeaf && Int(node.leafCount) == leafCount else {
                    throw fail("leaves \(node.firstLeaf) +\(node.leafCount), its children hold \(firstLeaf) +\(leafCount)")
                }
                nodes.append(node)
                nextChild = end
                offset += rawSize
                at += nodeRecordSize
            }
            guard nextChild == childCount else {
                throw .invalidNode(level: level, index: count - 1, detail: "children end at \(nextChild), the level below has \(childCount)")
            }
            levels[level] = nodes
        }
        guard levels[0][0].hash == header.rootHash else {
            throw .invalidHeader(field: "root hash", detail: "\(header.rootHash.hex) differs from the root node's \(levels[0][0].hash.hex)")
        }
        let index = DeliveryIndex(parameters: p, artifactSize: header.artifactSize, packSize: header.packSize,
                                  levels: levels, leaves: leaves)
        if verifyHashes { try DeliveryVerifier.verifyTree(index) }
        return index
    }

    public static func decode(_ bytes: [UInt8], verifyHashes: Bool = true) throws(DeliveryIndexError) -> DeliveryIndex {
        let result = bytes.withUnsafeBytes { b in Result { () throws(DeliveryIndexError) in try decode(b, verifyHashes: verifyHashes) } }
        return try result.get()
    }

    // MARK: Little-endian fields

    private static func expect(_ condition: Bool, _ field: String, _ detail: @autoclosure () -> String) throws(DeliveryIndexError) {
        if !condition { throw .invalidHeader(field: field, detail: detail()) }
    }

    static func get16(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt16 { b.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian }
    static func get32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 { b.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
    static func get64(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
    static func put16(_ b: UnsafeMutableRawBufferPointer, _ at: Int, _ v: UInt16) { b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt16.self) }
    static func put32(_ b: UnsafeMutableRawBufferPointer, _ at: Int, _ v: UInt32) { b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self) }
    static func put64(_ b: UnsafeMutableRawBufferPointer, _ at: Int, _ v: UInt64) { b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt64.self) }
}
