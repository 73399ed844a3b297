/// Reads bytes of the seeds a plan copies from.
public protocol SeedReader {
    /// Fills all of `buffer` with the bytes of seed `seed` starting at `offset`; throws if the
    /// seed has fewer bytes there.
    func read(seed: Int, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws
}

/// Where fetch operations get their bytes: a local file here; an HTTP server sending one
/// multi-range request per call later.
public protocol RangeSource {
    /// Delivers the bytes of `ranges` — non-empty, in plan order (ascending for plans made by
    /// Blockyard), at most the executor's ranges-per-request — **concatenated in that order**,
    /// to `receive`, in pieces of any size. One call is one request. Delivering fewer or more
    /// bytes than the ranges add up to fails the apply.
    func fetch(_ ranges: [ByteRange], receive: (UnsafeRawBufferPointer) throws -> Void) throws
}

/// Where the new file is written, strictly front to back.
public protocol ApplyOutput: AnyObject {
    /// A writable buffer of 1...`maxCount` bytes at the current end of the output. The
    /// executor fills a prefix of it and calls ``commitAppend(_:)`` before asking again.
    func appendBuffer(maxCount: Int) throws -> UnsafeMutableRawBufferPointer
    /// The first `count` bytes of the last append buffer are now part of the output.
    func commitAppend(_ count: Int) throws
    /// Reads bytes already committed (for duplicate operations). May be called while an
    /// append buffer is outstanding and must not invalidate it.
    func readBack(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws
}

/// Options of ``PlanExecutor/execute(_:seeds:source:output:options:)``.
public struct ApplyOptions {
    /// Check every chunk's BLAKE2b-18 against the plan as it is written and stop at the first
    /// mismatch (needs a plan with chunk checksums of a version-2 blockmap).
    public var verifyChunks: Bool
    /// Ranges per ``RangeSource/fetch(_:receive:)`` call; nil: the plan's
    /// `maxRangesPerRequest`.
    public var rangesPerRequest: Int?
    /// Largest single read from a seed or write to the output.
    public var bufferSize: Int
    /// Called with the number of bytes each time some are written.
    public var progress: ((Int) -> Void)?

    public init(verifyChunks: Bool = false, rangesPerRequest: Int? = nil, bufferSize: Int = 4 << 20,
                progress: ((Int) -> Void)? = nil) {
        self.verifyChunks = verifyChunks
        self.rangesPerRequest = rangesPerRequest
        self.bufferSize = bufferSize
        self.progress = progress
    }
}

/// What an apply did.
public struct ApplyStatistics: Codable, Equatable, Sendable {
    public var bytesWritten = 0
    public var bytesCopied = 0
    public var bytesFetched = 0
    public var bytesDuplicated = 0
    /// Calls to the range source (requests).
    public var requests = 0
    public var ranges = 0
    /// Chunks whose BLAKE2b-18 was checked while writing.
    public var chunksVerified = 0

    public init() {}
}

/// Executes a plan: writes the new file front to back from seeds, the output itself
/// (repeats) and fetched ranges. Pure: all I/O goes through the three protocols.
///
/// Fetch operations are grouped into requests of up to `rangesPerRequest` ranges; while a
/// request's bytes stream in, the copy and duplicate operations between its ranges are
/// executed in order, so the output is written strictly sequentially (what an HTTP
/// multipart response needs).
public enum PlanExecutor {
    public static func execute<Seeds: SeedReader, Source: RangeSource, Output: ApplyOutput>(
        _ plan: DeltaPlan, seeds: Seeds, source: Source, output: Output, options: ApplyOptions = ApplyOptions()
    ) throws -> ApplyStatistics {
        try plan.validate()
        let run = Execution(plan: plan, seeds: seeds, source: source, output: output, options: options)
        try run.run()
        return run.stats
    }

    /// Re-reads a written file (through `read`) and returns the first chunk that does not
    /// match the plan's checksums, with the operation that produced it; nil when all match
    /// or the plan cannot be checked (``DeltaPlan/canVerifyChunks``).
    public static func diagnose(_ plan: DeltaPlan, bufferSize: Int = 4 << 20,
                                read: (_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) throws -> Void) throws -> ChunkMismatch? {
        guard plan.canVerifyChunks, let chunks = plan.target.chunks else { return nil }
        var verifier = ChunkVerifier(chunks)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bufferSize), alignment: 64)
        defer { buffer.deallocate() }
        for (i, op) in plan.operations.enumerated() {
            var done = 0
            while done < op.length {
                let n = min(buffer.count, op.length - done)
                let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                try read(op.targetOffset + done, piece)
                if let failure = verifier.feed(UnsafeRawBufferPointer(piece), operation: i) {
                    return plan.mismatch(failure)
                }
                done += n
            }
        }
        return nil
    }
}

/// The state of one execution.
private final class Execution<Seeds: SeedReader, Source: RangeSource, Output: ApplyOutput> {
    let plan: DeltaPlan
    let ops: [PlanOperation]
    let seeds: Seeds
    let source: Source
    let output: Output
    let options: ApplyOptions
    let bufferSize: Int
    let perRequest: Int
    var verifier: ChunkVerifier?
    var stats = ApplyStatistics()

    init(plan: DeltaPlan, seeds: Seeds, source: Source, output: Output, options: ApplyOptions) {
        self.plan = plan
        ops = plan.operations
        self.seeds = seeds
        self.source = source
        self.output = output
        self.options = options
        bufferSize = max(1, options.bufferSize)
        perRequest = max(1, options.rangesPerRequest ?? plan.costModel.maxRangesPerRequest)
        if options.verifyChunks, plan.canVerifyChunks, let chunks = plan.target.chunks {
            verifier = ChunkVerifier(chunks)
        }
    }

    func run() throws {
        var i = 0
        while i < ops.count {
            if ops[i].kind != .fetch || ops[i].length == 0 {
                try local(i)
                i += 1
                continue
            }
            i = try request(from: i)
        }
        if let verifier { stats.chunksVerified = verifier.verifiedChunks }
    }

    /// One request: the next `perRequest` non-empty fetch operations starting at `first`,
    /// executing the local operations between them as the bytes arrive. Returns the index
    /// after the last fetch operation of the request.
    private func request(from first: Int) throws -> Int {
        var ranges: [ByteRange] = []
        var lastFetch = first
        var j = first
        var total = 0
        while j < ops.count && ranges.count < perRequest {
            let op = ops[j]
            if op.kind == .fetch && op.length > 0 {
                ranges.append(ByteRange(offset: op.sourceOffset, length: op.length))
                total += op.length
                lastFetch = j
            }
            j += 1
        }
        var cursor = first
        var current = -1
        var remaining = 0
        var delivered = 0
        try source.fetch(ranges) { piece in
            guard piece.count <= total - delivered else { throw ApplyError.sourceExcess(expected: total) }
            delivered += piece.count
            guard var p = piece.baseAddress else { return }
            var n = piece.count
            while n > 0 {
                if remaining == 0 {
                    while !(ops[cursor].kind == .fetch && ops[cursor].length > 0) {
                        try local(cursor)
                        cursor += 1
                    }
                    current = cursor
                    remaining = ops[cursor].length
                    cursor += 1
                }
                let take = min(n, remaining)
                try append(from: UnsafeRawBufferPointer(start: p, count: take), operation: current)
                stats.bytesFetched += take
                p += take
                n -= take
                remaining -= take
            }
        }
        guard delivered == total else { throw ApplyError.sourceShort(delivered: delivered, expected: total) }
        stats.requests += 1
        stats.ranges += ranges.count
        return lastFetch + 1
    }

    /// A copy, duplicate or empty operation.
    private func local(_ index: Int) throws {
        let op = ops[index]
        var done = 0
        switch op.kind {
        case .copy:
            let seed = op.seed!
            while done < op.length {
                let buffer = try output.appendBuffer(maxCount: min(bufferSize, op.length - done))
                try seeds.read(seed: seed, at: op.sourceOffset + done, into: buffer)
                try commit(buffer, operation: index)
                done += buffer.count
                stats.bytesCopied += buffer.count
            }
        case .duplicate:
            // Front to back in pieces no longer than the distance, so every byte read was
            // written before (overlapping ranges repeat like LZ77).
            let distance = op.targetOffset - op.sourceOffset
            while done < op.length {
                let buffer = try output.appendBuffer(maxCount: min(bufferSize, op.length - done, distance))
                try output.readBack(at: op.sourceOffset + done, into: buffer)
                try commit(buffer, operation: index)
                done += buffer.count
                stats.bytesDuplicated += buffer.count
            }
        case .fetch:
            precondition(op.length == 0)
        }
    }

    private func append(from bytes: UnsafeRawBufferPointer, operation: Int) throws {
        var done = 0
        while done < bytes.count {
            let buffer = try output.appendBuffer(maxCount: bytes.count - done)
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[done..<(done + buffer.count)]))
            try commit(buffer, operation: operation)
            done += buffer.count
        }
    }

    private func commit(_ buffer: UnsafeMutableRawBufferPointer, operation: Int) throws {
        if verifier != nil, let failure = verifier!.feed(UnsafeRawBufferPointer(buffer), operation: operation) {
            throw ApplyError.chunkMismatch(plan.mismatch(failure))
        }
        try output.commitAppend(buffer.count)
        stats.bytesWritten += buffer.count
        options.progress?(buffer.count)
    }
}

// MARK: - In-memory implementations

/// Seeds held in memory, by id.
public struct MemorySeeds: SeedReader {
    public var seeds: [Int: [UInt8]]

    public init(_ seeds: [Int: [UInt8]]) { self.seeds = seeds }
    public init(_ list: [[UInt8]]) {
        seeds = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($0.offset, $0.element) })
    }

    public func read(seed: Int, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard let bytes = seeds[seed], offset >= 0, offset + buffer.count <= bytes.count else {
            throw ApplyError.seedTruncated(seed: seed, path: "memory", offset: seeds[seed]?.count ?? 0)
        }
        bytes.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + buffer.count)]))
        }
    }
}

/// The new file in memory as a range source; records the requests it served.
public final class MemoryRangeSource: RangeSource {
    public let bytes: [UInt8]
    /// Largest piece handed to `receive` (to exercise piecewise delivery).
    public let pieceSize: Int
    public private(set) var requests: [[ByteRange]] = []

    public init(_ bytes: [UInt8], pieceSize: Int = 1 << 20) {
        self.bytes = bytes
        self.pieceSize = max(1, pieceSize)
    }

    public func fetch(_ ranges: [ByteRange], receive: (UnsafeRawBufferPointer) throws -> Void) throws {
        requests.append(ranges)
        for range in ranges {
            guard range.offset >= 0, range.length >= 0, range.end <= bytes.count else {
                throw ApplyError.sourceRange(offset: range.offset, length: range.length, sourceSize: bytes.count)
            }
            try bytes.withUnsafeBytes { all in
                var at = range.offset
                while at < range.end {
                    let n = min(pieceSize, range.end - at)
                    try receive(UnsafeRawBufferPointer(rebasing: all[at..<(at + n)]))
                    at += n
                }
            }
        }
    }
}

/// An output that collects the new file in memory.
public final class MemoryApplyOutput: ApplyOutput {
    public private(set) var bytes: [UInt8] = []
    private var scratch: UnsafeMutableRawBufferPointer
    private var outstanding = false

    public init(capacity: Int = 0, bufferSize: Int = 1 << 20) {
        bytes.reserveCapacity(capacity)
        scratch = .allocate(byteCount: max(1, bufferSize), alignment: 64)
    }

    deinit { scratch.deallocate() }

    public func appendBuffer(maxCount: Int) throws -> UnsafeMutableRawBufferPointer {
        outstanding = true
        return UnsafeMutableRawBufferPointer(rebasing: scratch[0..<min(maxCount, scratch.count)])
    }

    public func commitAppend(_ count: Int) throws {
        precondition(outstanding && count <= scratch.count)
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
        outstanding = false
    }

    public func readBack(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(offset >= 0 && offset + buffer.count <= bytes.count, "read back beyond the written bytes")
        bytes.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + buffer.count)]))
        }
    }
}
