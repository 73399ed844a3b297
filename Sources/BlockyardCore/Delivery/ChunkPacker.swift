/// One chunk as the pack stores it: its hash, raw size and stored form.
public struct PackedChunk: Sendable, Equatable {
    /// SHA-256 of the raw bytes.
    public var hash: DeliveryHash
    public var rawSize: Int
    /// Length of the stored form: the zstd frame, or `rawSize` when ``isStoredRaw``.
    public var storedSize: Int
    /// The stored form is the raw bytes (the frame was not smaller).
    public var isStoredRaw: Bool

    public init(hash: DeliveryHash, rawSize: Int, storedSize: Int, isStoredRaw: Bool) {
        self.hash = hash
        self.rawSize = rawSize
        self.storedSize = storedSize
        self.isStoredRaw = isStoredRaw
    }
}

/// Turns one chunk into its stored form, and back.
public enum ChunkPacker {
    /// Room ``pack(_:compressor:into:)`` needs for a chunk of `rawSize` bytes.
    public static func outputCapacity(rawSize: Int) -> Int { ZstdCompressor.bound(rawSize) }

    /// Hashes `chunk` and writes its stored form at the start of `output` (at least
    /// ``outputCapacity(rawSize:)`` bytes): its zstd frame if that is smaller than the chunk,
    /// else the chunk's bytes.
    public static func pack(_ chunk: UnsafeRawBufferPointer, compressor: ZstdCompressor,
                            into output: UnsafeMutableRawBufferPointer) -> PackedChunk {
        precondition(chunk.count > 0, "ChunkPacker: empty chunk")
        let hash = DeliveryHash.sha256(chunk)
        let frameLength = compressor.compress(chunk, into: output)
        if frameLength < chunk.count {
            return PackedChunk(hash: hash, rawSize: chunk.count, storedSize: frameLength, isStoredRaw: false)
        }
        output.copyMemory(from: chunk)
        return PackedChunk(hash: hash, rawSize: chunk.count, storedSize: chunk.count, isStoredRaw: true)
    }

    /// Decodes the stored form of `leaf` into `output` (exactly `leaf.rawSize` bytes) and checks
    /// the result's SHA-256. `leafIndex` only names the chunk in errors.
    public static func unpack(_ stored: UnsafeRawBufferPointer, leaf: DeliveryLeaf, leafIndex: Int,
                              decompressor: ZstdDecompressor,
                              into output: UnsafeMutableRawBufferPointer) throws(DeliveryIndexError) {
        precondition(output.count == Int(leaf.rawSize), "ChunkPacker.unpack: output must be the chunk's size")
        guard stored.count == Int(leaf.storedSize) else {
            throw .packTruncated(leaf: leafIndex, expected: Int(leaf.storedSize), actual: stored.count)
        }
        if leaf.isStoredRaw {
            output.copyMemory(from: stored)
        } else {
            do {
                try decompressor.decompress(stored, into: output)
            } catch {
                throw .chunkUndecodable(leaf: leafIndex, reason: error)
            }
        }
        guard DeliveryHash.sha256(UnsafeRawBufferPointer(output)) == leaf.hash else {
            throw .chunkHashMismatch(leaf: leafIndex)
        }
    }

    /// The chunk ends (exclusive offsets; the last is the input's size) of a `size`-byte input
    /// whose bytes are at `base`, with forced cuts at `boundaries` (tensor or archive member
    /// boundaries; see ``SegmentedCutFinder``).
    public static func chunkEnds(_ bytes: UnsafeRawBufferPointer, boundaries: [Int] = [],
                                 parameters: ChunkerParameters) -> [Int] {
        var finder = SegmentedCutFinder(totalSize: bytes.count, boundaries: boundaries, parameters: parameters)
        var ends: [Int] = []
        ends.reserveCapacity(bytes.count / parameters.minSize + 1)
        if let base = bytes.baseAddress, bytes.count > 0 {
            finder.advance(base.assumingMemoryBound(to: UInt8.self), origin: 0, count: bytes.count) { ends.append($0) }
        }
        return ends
    }
}
