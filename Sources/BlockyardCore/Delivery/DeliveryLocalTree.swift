/// A chunk of the installed file, as a client cuts and hashes it to compare with a delivery
/// index: SHA-256 of its bytes, where it is, how long it is.
public struct DeliveryLocalChunk: Sendable, Equatable {
    public var hash: DeliveryHash
    public var offset: UInt64
    public var size: UInt32

    public init(hash: DeliveryHash, offset: UInt64, size: UInt32) {
        self.hash = hash
        self.offset = offset
        self.size = size
    }
}

/// What a client already has: the same content-defined tree the publisher builds
/// (``DeliveryTree``), over the installed file's chunks, as lookups from a hash to the bytes
/// of the installed file it covers. A node or chunk of the new index whose hash is found here
/// need not be downloaded; its bytes are copied from the installed file.
///
/// The chunks must have been cut with the index's chunker parameters and the tree is built
/// with its tree parameters (both from the index header): node hashes commit to them, so a
/// tree built with other parameters would simply match nothing.
public struct DeliveryLocalTree: Sendable {
    /// A span of the installed file.
    public struct Span: Sendable, Equatable {
        public var offset: UInt64
        public var size: UInt64
    }

    /// Size of the installed file (the sum of the chunks' sizes).
    public let size: UInt64
    /// Chunks by hash (the first occurrence of repeated content).
    private let chunks: [DeliveryHash: Span]
    /// Inner nodes of every level by hash (the first occurrence).
    private let nodes: [DeliveryHash: Span]
    /// The local tree's root hash.
    public let rootHash: DeliveryHash

    /// Builds the tree over `chunks` (consecutive, in file order) with `parameters`.
    public init(chunks list: [DeliveryLocalChunk], parameters: DeliveryParameters) {
        var offset: UInt64 = 0
        var leaves: [DeliveryLeaf] = []
        leaves.reserveCapacity(list.count)
        var chunks: [DeliveryHash: Span] = [:]
        chunks.reserveCapacity(list.count)
        for chunk in list {
            precondition(chunk.offset == offset && chunk.size > 0, "DeliveryLocalTree: chunks must be consecutive and non-empty")
            leaves.append(DeliveryLeaf(hash: chunk.hash, artifactOffset: offset, packOffset: 0, rawSize: chunk.size,
                                       storedSize: chunk.size, isStoredRaw: true))
            if chunks[chunk.hash] == nil { chunks[chunk.hash] = Span(offset: offset, size: UInt64(chunk.size)) }
            offset += UInt64(chunk.size)
        }
        var nodes: [DeliveryHash: Span] = [:]
        let levels = DeliveryTree.build(leaves: leaves, parameters: parameters)
        for level in levels {
            for node in level where nodes[node.hash] == nil {
                nodes[node.hash] = Span(offset: node.artifactOffset, size: node.rawSize)
            }
        }
        size = offset
        self.chunks = chunks
        self.nodes = nodes
        rootHash = levels[0][0].hash
    }

    /// Where the installed file holds a chunk with this SHA-256, if it does.
    public func chunk(_ hash: DeliveryHash) -> Span? { chunks[hash] }

    /// Where the installed file holds the content of a node with this hash, if it does.
    public func node(_ hash: DeliveryHash) -> Span? { nodes[hash] }

    /// Number of distinct chunks.
    public var distinctChunks: Int { chunks.count }
}

extension DeliveryLocalChunk {
    /// Cuts bytes held in memory with `parameters` and hashes every chunk (the file path on
    /// all cores is `DeliveryLocalScan` in BlockyardIO).
    public static func cut(_ bytes: UnsafeRawBufferPointer, parameters: ChunkerParameters) -> [DeliveryLocalChunk] {
        var start = 0
        return ChunkPacker.chunkEnds(bytes, parameters: parameters).map { end in
            defer { start = end }
            return DeliveryLocalChunk(hash: DeliveryHash.sha256(UnsafeRawBufferPointer(rebasing: bytes[start ..< end])),
                                      offset: UInt64(start), size: UInt32(end - start))
        }
    }

    public static func cut(_ bytes: [UInt8], parameters: ChunkerParameters) -> [DeliveryLocalChunk] {
        bytes.withUnsafeBytes { cut($0, parameters: parameters) }
    }
}
