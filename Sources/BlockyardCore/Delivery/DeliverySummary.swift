/// The figures `blockyard index` and `index inspect` report for an index.
public struct DeliverySummary: Equatable, Sendable, Codable {
    public var formatVersion: Int
    public var artifactSize: UInt64
    public var packSize: UInt64
    public var indexSize: Int
    public var chunks: Int
    /// Chunks stored uncompressed in the pack.
    public var chunksStoredRaw: Int
    /// Levels of the tree, leaves included.
    public var levels: Int
    /// Node counts of the inner levels, top first.
    public var levelNodes: [Int]
    public var root: String
    /// artifact size ÷ pack size (1 for an empty artifact).
    public var compressionRatio: Double
    public var chunkMinSize: Int
    public var chunkMaxSize: Int
    public var compressionLevel: Int

    public init(_ index: DeliveryIndex, indexSize: Int) {
        formatVersion = DeliveryIndexCodec.version
        artifactSize = index.artifactSize
        packSize = index.packSize
        self.indexSize = indexSize
        chunks = index.leaves.count
        chunksStoredRaw = index.storedRawCount
        levels = index.levels.count + 1
        levelNodes = index.levels.map(\.count)
        root = index.rootHash.hex
        compressionRatio = index.packSize == 0 ? 1 : Double(index.artifactSize) / Double(index.packSize)
        chunkMinSize = index.parameters.chunker.minSize
        chunkMaxSize = index.parameters.chunker.maxSize
        compressionLevel = Int(index.parameters.compressionLevel)
    }
}
