/// Builds a ``DeliveryIndex`` from packed chunks appended in artifact order: the leaves'
/// offsets follow from the sizes, the tree from the leaves.
public struct DeliveryIndexBuilder: Sendable {
    public let parameters: DeliveryParameters
    public private(set) var leaves: [DeliveryLeaf] = []
    /// Artifact bytes appended so far.
    public private(set) var artifactSize: UInt64 = 0
    /// Pack bytes appended so far.
    public private(set) var packSize: UInt64 = 0

    public init(parameters: DeliveryParameters) {
        precondition(parameters.tree.isValid, "DeliveryIndexBuilder: invalid tree parameters")
        self.parameters = parameters
    }

    /// Adds the next chunk.
    public mutating func append(_ chunk: PackedChunk) {
        precondition(chunk.rawSize > 0 && chunk.rawSize <= parameters.chunker.maxSize, "DeliveryIndexBuilder: chunk size out of range")
        precondition(leaves.count < Int(UInt32.max), "DeliveryIndexBuilder: too many chunks")
        leaves.append(DeliveryLeaf(hash: chunk.hash, artifactOffset: artifactSize, packOffset: packSize,
                                   rawSize: UInt32(chunk.rawSize), storedSize: UInt32(chunk.storedSize),
                                   isStoredRaw: chunk.isStoredRaw))
        artifactSize += UInt64(chunk.rawSize)
        packSize += UInt64(chunk.storedSize)
    }

    /// The finished index.
    public func finish() -> DeliveryIndex {
        DeliveryIndex(parameters: parameters, artifactSize: artifactSize, packSize: packSize,
                      levels: DeliveryTree.build(leaves: leaves, parameters: parameters), leaves: leaves)
    }
}

/// The index and pack of an artifact held in memory, on one thread (the file path in
/// BlockyardIO produces the same bytes on all cores).
public enum DeliveryPacker {
    public static func build(_ artifact: UnsafeRawBufferPointer, boundaries: [Int] = [],
                             parameters: DeliveryParameters = DeliveryParameters()) -> (index: DeliveryIndex, pack: [UInt8]) {
        let compressor = ZstdCompressor(level: parameters.compressionLevel)
        var builder = DeliveryIndexBuilder(parameters: parameters)
        var pack: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: ChunkPacker.outputCapacity(rawSize: parameters.chunker.maxSize))
        var start = 0
        for end in ChunkPacker.chunkEnds(artifact, boundaries: boundaries, parameters: parameters.chunker) {
            let chunk = UnsafeRawBufferPointer(rebasing: artifact[start ..< end])
            let packed = scratch.withUnsafeMutableBytes { ChunkPacker.pack(chunk, compressor: compressor, into: $0) }
            pack.append(contentsOf: scratch[0 ..< packed.storedSize])
            builder.append(packed)
            start = end
        }
        return (builder.finish(), pack)
    }

    public static func build(_ artifact: [UInt8], boundaries: [Int] = [],
                             parameters: DeliveryParameters = DeliveryParameters()) -> (index: DeliveryIndex, pack: [UInt8]) {
        artifact.withUnsafeBytes { build($0, boundaries: boundaries, parameters: parameters) }
    }
}
