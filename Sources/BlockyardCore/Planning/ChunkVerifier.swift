/// Checks the BLAKE2b-18 of every chunk of a file fed to it in order, in pieces of any size.
/// Whole chunks inside a piece are hashed in one call; only chunks split across pieces use the
/// streaming hasher. Zero-length chunks are skipped.
public struct ChunkVerifier {
    /// A chunk that did not match.
    public struct Failure: Equatable, Sendable {
        public var chunkIndex: Int
        public var targetOffset: Int
        public var size: Int
        public var expected: ChunkChecksum
        public var actual: ChunkChecksum
        /// The `operation` value given with the chunk's first byte.
        public var operation: Int
        /// Whether later bytes of the chunk came with another `operation` value.
        public var spansOperations: Bool
    }

    private let sizes: [Int]
    private let checksums: [ChunkChecksum]
    private var chunk = 0
    private var inChunk = 0
    private var chunkStart = 0
    private var hasher: BLAKE2b?
    private var startOperation = 0
    private var spans = false
    /// Chunks checked so far.
    public private(set) var verifiedChunks = 0

    public init(_ chunks: PlanChunkList) {
        sizes = chunks.sizes
        checksums = chunks.checksums
    }

    /// Feeds the next bytes of the file, produced by operation number `operation`.
    /// - Returns: the first chunk that does not match, when one completes in these bytes.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, operation: Int) -> Failure? {
        guard var p = bytes.baseAddress else { return nil }
        var n = bytes.count
        while n > 0 {
            if inChunk == 0 {
                while chunk < sizes.count && sizes[chunk] == 0 { chunk += 1 }
                // More bytes than the chunks describe: plans are validated, so this does not
                // happen; nothing is left to check.
                guard chunk < sizes.count else { return nil }
                startOperation = operation
                spans = false
            } else if operation != startOperation {
                spans = true
            }
            let size = sizes[chunk]
            let need = size - inChunk
            let actual: ChunkChecksum
            if inChunk == 0 && n >= need {
                actual = BLAKE2b.chunkChecksum(UnsafeRawBufferPointer(start: p, count: need))
                p += need
                n -= need
            } else {
                if hasher == nil { hasher = BLAKE2b(digestLength: ChunkChecksum.byteCount) }
                let take = min(n, need)
                hasher!.update(UnsafeRawBufferPointer(start: p, count: take))
                p += take
                n -= take
                inChunk += take
                guard inChunk == size else { continue }
                actual = ChunkChecksum(bytes: hasher!.finalize())!
                hasher = nil
            }
            let expected = checksums[chunk]
            if actual != expected {
                return Failure(chunkIndex: chunk, targetOffset: chunkStart, size: size, expected: expected,
                               actual: actual, operation: startOperation, spansOperations: spans)
            }
            verifiedChunks += 1
            chunkStart += size
            chunk += 1
            inChunk = 0
        }
        return nil
    }
}

extension DeltaPlan {
    /// Describes a verifier failure with the operation and seed that produced the chunk.
    public func mismatch(_ failure: ChunkVerifier.Failure) -> ChunkMismatch {
        let op = operations[failure.operation]
        let seedPath = op.kind == .copy ? op.seed.flatMap { seed(id: $0)?.path } : nil
        return ChunkMismatch(chunkIndex: failure.chunkIndex, targetOffset: failure.targetOffset, size: failure.size,
                             expected: failure.expected, actual: failure.actual, operationIndex: failure.operation,
                             operation: op, seedPath: seedPath, spansOperations: failure.spansOperations)
    }
}
