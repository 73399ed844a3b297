/// Statistics and semantic checks of a decoded blockmap, for `blockyard blockmap inspect`.
public struct BlockmapSummary: Equatable, Sendable, Codable {
    public var version: String
    public var files: Int
    public var chunks: Int
    public var totalSize: Int
    public var minChunkSize: Int
    public var maxChunkSize: Int
    public var averageChunkSize: Double
    /// Whether `files[0]` ends with app-builder's zero-length chunk.
    public var trailingZeroChunk: Bool
    /// Distinct (checksum, size) pairs in `files[0]`.
    public var distinctChunks: Int

    public init(_ blockmap: Blockmap) {
        version = blockmap.version
        files = blockmap.files.count
        let file = blockmap.files.first
        let sizes = file?.sizes ?? []
        chunks = sizes.count
        totalSize = sizes.reduce(0, +)
        let nonZero = sizes.filter { $0 > 0 }
        minChunkSize = nonZero.min() ?? 0
        maxChunkSize = sizes.max() ?? 0
        averageChunkSize = nonZero.isEmpty ? 0 : Double(totalSize) / Double(nonZero.count)
        trailingZeroChunk = sizes.last == 0
        distinctChunks = file.map(Self.distinctChunks) ?? 0
    }

    /// Distinct (checksum, size) pairs, counted by sorting 4-byte indices (a set of the
    /// chunks would take about 50 bytes per chunk on top of the blockmap).
    static func distinctChunks(of file: BlockmapFile) -> Int {
        let count = min(file.checksums.count, file.sizes.count)
        guard count > 0 else { return 0 }
        let checksums = file.checksums, sizes = file.sizes
        var order = (0..<UInt32(count)).map { $0 }
        order.sort { a, b in
            let ca = checksums[Int(a)], cb = checksums[Int(b)]
            return ca != cb ? ca < cb : sizes[Int(a)] < sizes[Int(b)]
        }
        var distinct = 1
        for k in 1..<count {
            let a = Int(order[k - 1]), b = Int(order[k])
            if checksums[a] != checksums[b] || sizes[a] != sizes[b] { distinct += 1 }
        }
        return distinct
    }
}

extension Blockmap {
    /// Checks what the JSON reader cannot: a zero-length chunk only at the end (app-builder's
    /// trailing chunk), and, when known, that the chunk sizes add up to the artifact size.
    public func validate(expectedSize: Int? = nil) throws(BlockmapError) {
        for file in files {
            for (index, size) in file.sizes.enumerated() where size == 0 && index != file.sizes.count - 1 {
                throw .invalidSize(file: file.name, index: index, value: "0, before the last chunk")
            }
        }
        if let expectedSize, totalSize != expectedSize {
            throw .totalMismatch(expected: expectedSize, actual: totalSize)
        }
    }
}
