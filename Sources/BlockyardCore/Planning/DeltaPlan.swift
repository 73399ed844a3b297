/// A delta plan: how to build a new artifact from files the client already has (seeds) and
/// byte ranges it must download. A plain value: `blockyard plan --json` prints it and
/// `blockyard apply` reads it back (format in docs/PLANNER.md).
///
/// Operations are in target order and tile the new file: operation k starts where k-1 ended,
/// the first at 0, the last ends at `target.size`.
public struct DeltaPlan: Codable, Equatable, Sendable {
    public static let formatName = "blockyard-plan"
    public static let currentFormatVersion = 1

    /// Always `blockyard-plan`.
    public var format: String
    /// Version of this JSON layout (1).
    public var formatVersion: Int
    /// Which planner made it.
    public var mode: PlanMode
    /// The cost model and limits the plan was made under.
    public var costModel: PlanCostModel
    public var target: PlanTarget
    public var seeds: [PlanSeedInfo]
    public var totals: PlanTotals
    public var operations: [PlanOperation]

    public init(mode: PlanMode, costModel: PlanCostModel, target: PlanTarget, seeds: [PlanSeedInfo],
                totals: PlanTotals, operations: [PlanOperation]) {
        format = Self.formatName
        formatVersion = Self.currentFormatVersion
        self.mode = mode
        self.costModel = costModel
        self.target = target
        self.seeds = seeds
        self.totals = totals
        self.operations = operations
    }
}

/// The planner that produced a plan.
public enum PlanMode: String, Codable, Sendable, CaseIterable {
    /// Blockyard's planner: (checksum, size) matching over every seed, repeated chunks fetched
    /// once, fetch ranges coalesced under the cost model.
    case blockyard
    /// An exact reproduction of electron-updater's `computeOperations` (one seed, first
    /// occurrence wins, no coalescing beyond its two merge rules).
    case electronUpdater = "electron-updater"
}

/// What a fetch costs on the wire, and the limits a plan must respect.
///
/// The planner minimises `payload + ranges × rangeOverhead + requests × requestOverhead`
/// (with `gap` standing in for `rangeOverhead` when set), where
/// `requests = ⌈ranges / maxRangesPerRequest⌉`, subject to `operations ≤ maxOps`.
public struct PlanCostModel: Codable, Equatable, Sendable {
    /// Bytes each extra fetch range costs: the part headers of a multipart/byteranges response
    /// (boundary line, Content-Type, Content-Range) plus its share of the Range header.
    public var rangeOverhead: Int
    /// Bytes each HTTP request costs: request line and headers, response status and headers.
    public var requestOverhead: Int
    /// Overrides the break-even gap: two fetch ranges separated by at most this many locally
    /// available bytes are merged. Nil: `rangeOverhead`.
    public var gap: Int?
    /// Ranges per multi-range request (electron-updater sends up to ~500).
    public var maxRangesPerRequest: Int
    /// Upper bound on the number of operations (0: no limit). 1000 keeps electron-updater in a
    /// single batch, clear of its uncleared 10-second timer.
    public var maxOps: Int

    public static let defaultRangeOverhead = 100
    public static let defaultRequestOverhead = 1000
    public static let defaultMaxRangesPerRequest = 500
    public static let defaultMaxOps = 1000

    public init(rangeOverhead: Int = defaultRangeOverhead, requestOverhead: Int = defaultRequestOverhead,
                gap: Int? = nil, maxRangesPerRequest: Int = defaultMaxRangesPerRequest,
                maxOps: Int = defaultMaxOps) {
        self.rangeOverhead = rangeOverhead
        self.requestOverhead = requestOverhead
        self.gap = gap
        self.maxRangesPerRequest = maxRangesPerRequest
        self.maxOps = maxOps
    }

    /// The break-even gap in bytes: `gap`, or the per-range overhead.
    public var gapThreshold: Int { gap ?? rangeOverhead }

    /// Checks that every value is usable.
    public func validate() throws(PlanError) {
        guard rangeOverhead >= 0 else { throw .invalidOption("range overhead must be >= 0 (got \(rangeOverhead))") }
        guard requestOverhead >= 0 else { throw .invalidOption("request overhead must be >= 0 (got \(requestOverhead))") }
        if let gap, gap < 0 { throw .invalidOption("--gap must be >= 0 (got \(gap))") }
        guard maxRangesPerRequest >= 1 else {
            throw .invalidOption("--max-ranges-per-request must be at least 1 (got \(maxRangesPerRequest))")
        }
        guard maxOps >= 0 else { throw .invalidOption("--max-ops must be >= 0, 0 meaning no limit (got \(maxOps))") }
    }
}

/// The file the plan builds.
public struct PlanTarget: Codable, Equatable, Sendable {
    /// Size of the new file in bytes.
    public var size: Int
    /// `version` of the new blockmap.
    public var blockmapVersion: String
    /// Where the new blockmap came from (informational).
    public var blockmap: String?
    /// Offset of the blockmap's file entry: fetch operations read the range source at
    /// `sourceOffset`, which is `entryOffset + targetOffset` (electron-builder always writes 0).
    public var entryOffset: Int
    /// Number of chunks in the new blockmap.
    public var chunkCount: Int
    /// The new blockmap's chunks, so `apply` can name the exact chunk, seed and offset that
    /// does not match. Nil when the plan was made with `--no-chunk-checksums`.
    public var chunks: PlanChunkList?

    public init(size: Int, blockmapVersion: String, blockmap: String? = nil, entryOffset: Int = 0,
                chunkCount: Int, chunks: PlanChunkList? = nil) {
        self.size = size
        self.blockmapVersion = blockmapVersion
        self.blockmap = blockmap
        self.entryOffset = entryOffset
        self.chunkCount = chunkCount
        self.chunks = chunks
    }
}

/// Chunk sizes and BLAKE2b-18 checksums, in JSON as two arrays like a blockmap's
/// (`"sizes":[…],"checksums":["base64",…]`).
public struct PlanChunkList: Codable, Equatable, Sendable {
    public var sizes: [Int]
    public var checksums: [ChunkChecksum]

    public init(sizes: [Int], checksums: [ChunkChecksum]) {
        self.sizes = sizes
        self.checksums = checksums
    }

    enum CodingKeys: String, CodingKey { case sizes, checksums }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sizes = try c.decode([Int].self, forKey: .sizes)
        let texts = try c.decode([String].self, forKey: .checksums)
        var list: [ChunkChecksum] = []
        list.reserveCapacity(texts.count)
        for (i, text) in texts.enumerated() {
            guard let checksum = ChunkChecksum(base64: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .checksums, in: c,
                    debugDescription: "checksum #\(i) \"\(text.prefix(40))\" is not 24 characters of base64")
            }
            list.append(checksum)
        }
        checksums = list
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sizes, forKey: .sizes)
        try c.encode(checksums.map(\.base64), forKey: .checksums)
    }
}

/// A seed: a local file whose bytes copy operations reuse.
public struct PlanSeedInfo: Codable, Equatable, Sendable {
    /// Index used by copy operations.
    public var id: Int
    /// The file as given when planning (relative paths are relative to the planner's
    /// working directory; `apply --seed` can point elsewhere).
    public var path: String
    /// Size of the seed file when it was planned; `apply` refuses a seed of another size.
    public var size: Int
    /// The blockmap that described it, or nil when Blockyard chunked the file itself.
    public var blockmap: String?
    /// Offset of the blockmap's file entry (seed offsets in copy operations include it).
    public var entryOffset: Int
    /// Chunks in its blockmap.
    public var chunkCount: Int
    /// Bytes this plan copies from it.
    public var bytesUsed: Int

    public init(id: Int, path: String, size: Int, blockmap: String?, entryOffset: Int = 0,
                chunkCount: Int, bytesUsed: Int = 0) {
        self.id = id
        self.path = path
        self.size = size
        self.blockmap = blockmap
        self.entryOffset = entryOffset
        self.chunkCount = chunkCount
        self.bytesUsed = bytesUsed
    }
}

/// One step of a plan.
public struct PlanOperation: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// Copy `length` bytes of seed `seed` at `sourceOffset`.
        case copy
        /// Download `length` bytes of the new file at `sourceOffset` from the range source.
        case fetch
        /// Repeat `length` bytes written earlier into the new file, from `sourceOffset`
        /// (< `targetOffset`; the ranges may overlap, copied front to back like LZ77).
        case duplicate
    }

    public var kind: Kind
    /// Where the bytes go in the new file.
    public var targetOffset: Int
    public var length: Int
    /// copy: offset in the seed; fetch: offset in the new file at the range source;
    /// duplicate: an earlier offset in the new file.
    public var sourceOffset: Int
    /// copy only: the seed's id.
    public var seed: Int?

    public init(kind: Kind, targetOffset: Int, length: Int, sourceOffset: Int, seed: Int? = nil) {
        self.kind = kind
        self.targetOffset = targetOffset
        self.length = length
        self.sourceOffset = sourceOffset
        self.seed = seed
    }

    public static func copy(seed: Int, seedOffset: Int, length: Int, targetOffset: Int) -> Self {
        Self(kind: .copy, targetOffset: targetOffset, length: length, sourceOffset: seedOffset, seed: seed)
    }

    public static func fetch(targetOffset: Int, length: Int, sourceOffset: Int? = nil) -> Self {
        Self(kind: .fetch, targetOffset: targetOffset, length: length, sourceOffset: sourceOffset ?? targetOffset)
    }

    public static func duplicate(sourceOffset: Int, length: Int, targetOffset: Int) -> Self {
        Self(kind: .duplicate, targetOffset: targetOffset, length: length, sourceOffset: sourceOffset)
    }

    public var targetEnd: Int { targetOffset + length }
}

/// The numbers a plan implies.
public struct PlanTotals: Codable, Equatable, Sendable {
    /// Size of the new file.
    public var targetSize: Int
    /// Payload bytes to download (sum of fetch operations).
    public var fetchBytes: Int
    /// Bytes copied from seeds.
    public var copyBytes: Int
    /// Bytes repeated from earlier in the new file (repeated chunks fetched once).
    public var duplicateBytes: Int
    /// copyBytes + duplicateBytes.
    public var reusedBytes: Int
    /// fetchBytes / targetSize (0 for an empty file).
    public var fetchFraction: Double
    /// reusedBytes / targetSize (1 for an empty file).
    public var reusedFraction: Double
    /// Bytes that were available locally but are fetched anyway because merging fetch ranges
    /// across them was cheaper, or needed to respect maxOps. Always 0 in electron-updater mode.
    public var gapBytes: Int
    /// Chunks inside fetch operations (electron-updater logs this as "changed blocks").
    public var fetchedChunks: Int
    public var operations: Int
    public var copyOperations: Int
    public var duplicateOperations: Int
    /// Fetch operations, i.e. byte ranges to download.
    public var fetchRanges: Int
    /// Requests with multi-range support: ⌈fetchRanges / maxRangesPerRequest⌉; in
    /// electron-updater mode, one per batch of 1000 operations holding a download.
    public var requests: Int
    /// Requests for a client or server without multi-range support: one per range.
    public var singleRangeRequests: Int
    /// Estimated bytes on the wire: fetchBytes + fetchRanges × rangeOverhead +
    /// requests × requestOverhead.
    public var wireBytes: Int
    /// Whether `maxOps` forced fetching local bytes (the plan without the limit has more
    /// operations). Then most of `gapBytes` is the price of the limit.
    public var maxOpsBinding: Bool

    public init(targetSize: Int, fetchBytes: Int, copyBytes: Int, duplicateBytes: Int, gapBytes: Int,
                fetchedChunks: Int, operations: Int, copyOperations: Int, duplicateOperations: Int,
                fetchRanges: Int, requests: Int, singleRangeRequests: Int, wireBytes: Int, maxOpsBinding: Bool = false) {
        self.targetSize = targetSize
        self.fetchBytes = fetchBytes
        self.copyBytes = copyBytes
        self.duplicateBytes = duplicateBytes
        reusedBytes = copyBytes + duplicateBytes
        fetchFraction = targetSize == 0 ? 0 : Double(fetchBytes) / Double(targetSize)
        reusedFraction = targetSize == 0 ? 1 : Double(copyBytes + duplicateBytes) / Double(targetSize)
        self.gapBytes = gapBytes
        self.fetchedChunks = fetchedChunks
        self.operations = operations
        self.copyOperations = copyOperations
        self.duplicateOperations = duplicateOperations
        self.fetchRanges = fetchRanges
        self.requests = requests
        self.singleRangeRequests = singleRangeRequests
        self.wireBytes = wireBytes
        self.maxOpsBinding = maxOpsBinding
    }

    /// Sums the operations of a plan.
    public init(operations: [PlanOperation], targetSize: Int, mode: PlanMode, costModel: PlanCostModel,
                gapBytes: Int, fetchedChunks: Int, maxOpsBinding: Bool = false) {
        var fetch = 0, copy = 0, dup = 0, ranges = 0, copies = 0, dups = 0
        for op in operations {
            switch op.kind {
            case .fetch: fetch += op.length; ranges += 1
            case .copy: copy += op.length; copies += 1
            case .duplicate: dup += op.length; dups += 1
            }
        }
        let requests: Int
        switch mode {
        case .blockyard:
            requests = (ranges + costModel.maxRangesPerRequest - 1) / costModel.maxRangesPerRequest
        case .electronUpdater:
            requests = ElectronUpdaterPlanner.multiRangeRequests(operations)
        }
        let wire = fetch + ranges * costModel.rangeOverhead + requests * costModel.requestOverhead
        self.init(targetSize: targetSize, fetchBytes: fetch, copyBytes: copy, duplicateBytes: dup,
                  gapBytes: gapBytes, fetchedChunks: fetchedChunks, operations: operations.count,
                  copyOperations: copies, duplicateOperations: dups, fetchRanges: ranges,
                  requests: requests, singleRangeRequests: ranges, wireBytes: wire, maxOpsBinding: maxOpsBinding)
    }
}

/// A seed handed to the planner: a local file and the blockmap that describes it.
public struct PlanSeedInput: Sendable {
    /// The path recorded in the plan.
    public var path: String
    /// Size of the file.
    public var size: Int
    public var blockmap: Blockmap
    /// Where the blockmap came from; nil when it was computed from the file.
    public var blockmapPath: String?

    public init(path: String, size: Int, blockmap: Blockmap, blockmapPath: String? = nil) {
        self.path = path
        self.size = size
        self.blockmap = blockmap
        self.blockmapPath = blockmapPath
    }
}

/// Options for ``DeltaPlanner/plan(target:seeds:options:)``.
public struct PlanOptions: Sendable {
    public var mode: PlanMode
    public var costModel: PlanCostModel
    /// Record the new blockmap's chunks in the plan (for precise verification in apply).
    public var includeChunks: Bool
    /// The size the new file must have (e.g. `size` from latest.yml): the new blockmap must
    /// add up to it.
    public var expectedTargetSize: Int?
    /// Recorded in the plan as where the new blockmap came from.
    public var targetBlockmapPath: String?

    public init(mode: PlanMode = .blockyard, costModel: PlanCostModel = PlanCostModel(), includeChunks: Bool = true,
                expectedTargetSize: Int? = nil, targetBlockmapPath: String? = nil) {
        self.mode = mode
        self.costModel = costModel
        self.includeChunks = includeChunks
        self.expectedTargetSize = expectedTargetSize
        self.targetBlockmapPath = targetBlockmapPath
    }
}
