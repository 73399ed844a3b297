/// An exact reproduction of electron-updater 6.8.9's `computeOperations`
/// (`differentialDownloader/downloadPlanBuilder.ts`) and the checks around it in
/// `DifferentialDownloader.doDownload`, so its numbers can be compared with Blockyard's.
///
/// * The versions of both blockmaps must be equal ("version is different …").
/// * Only `new.files[0]` is planned; its `name` must exist in the old blockmap. As in the
///   JavaScript `Map`s, the **last** entry with that name wins on both sides, while the
///   starting offset of the new walk is `files[0].offset`.
/// * The old index maps each checksum (alone) to its **first** occurrence's offset and size;
///   later duplicates are ignored.
/// * A new block is COPY when its checksum is in the index and its size equals the indexed
///   size, else DOWNLOAD. A DOWNLOAD extends the previous operation when that is a DOWNLOAD
///   ending at this block's new offset; a COPY extends the previous operation only when that
///   is a COPY ending at this block's old offset. Zero-length blocks are walked too, so
///   zero-length operations can occur, exactly as in electron-updater.
public enum ElectronUpdaterPlanner {
    /// electron-updater executes operations in batches of this many (multi-range mode).
    public static let batchSize = 1000

    public static func plan(target: Blockmap, seed: PlanSeedInput, options: PlanOptions) throws(PlanError) -> DeltaPlan {
        let old = seed.blockmap
        if old.version != target.version { throw .versionMismatch(old: old.version, new: target.version) }
        guard let blockMapFile = target.files.first else { throw .noFiles(which: "new blockmap") }
        let name = blockMapFile.name
        guard let oldEntry = old.files.last(where: { $0.name == name }) else { throw .noFileInOldBlockmap(name: name) }
        let newFile = target.files.last(where: { $0.name == name })!
        try DeltaPlanner.checkSeed(seed, id: 0, file: oldEntry)
        let newTotal = try DeltaPlanner.checkedTotal(newFile, which: "new blockmap")
        guard blockMapFile.offset >= 0, blockMapFile.offset <= DeltaPlanner.maxFileSize - newTotal else {
            throw .sizeOverflow(which: "new blockmap")
        }
        if let expected = options.expectedTargetSize, expected != newTotal {
            // electron-updater: "Internal error, size mismatch: downloadSize …, copySize …, newSize …"
            throw .targetSizeMismatch(expected: expected, blockmap: newTotal)
        }

        // buildChecksumMap: checksum → first (offset, size).
        var index = ChunkKeyTable(capacity: oldEntry.checksums.count)
        var oldOffsets: [Int] = []
        var oldSizes: [Int] = []
        oldOffsets.reserveCapacity(oldEntry.checksums.count)
        oldSizes.reserveCapacity(oldEntry.checksums.count)
        var offset = oldEntry.offset
        for (checksum, size) in zip(oldEntry.checksums, oldEntry.sizes) {
            if index.insertIfAbsent(checksum, size: 0).inserted {
                oldOffsets.append(offset)
                oldSizes.append(size)
            }
            offset += size
        }

        var ops: [PlanOperation] = []
        var changedBlockCount = 0
        var newOffset = blockMapFile.offset
        var position = 0
        for (checksum, blockSize) in zip(newFile.checksums, newFile.sizes) {
            var oldOffset: Int? = nil
            let e = index.find(checksum, size: 0)
            if e >= 0 && oldSizes[e] == blockSize { oldOffset = oldOffsets[e] }
            if let oldOffset {
                if let last = ops.last, last.kind == .copy, last.sourceOffset + last.length == oldOffset {
                    ops[ops.count - 1].length += blockSize
                } else {
                    ops.append(.copy(seed: 0, seedOffset: oldOffset, length: blockSize, targetOffset: position))
                }
            } else {
                changedBlockCount += 1
                if let last = ops.last, last.kind == .fetch, last.sourceOffset + last.length == newOffset {
                    ops[ops.count - 1].length += blockSize
                } else {
                    ops.append(.fetch(targetOffset: position, length: blockSize, sourceOffset: newOffset))
                }
            }
            newOffset += blockSize
            position += blockSize
        }

        let copied = ops.reduce(0) { $0 + ($1.kind == .copy ? $1.length : 0) }
        let targetInfo = PlanTarget(
            size: newTotal, blockmapVersion: target.version, blockmap: options.targetBlockmapPath,
            entryOffset: blockMapFile.offset, chunkCount: newFile.sizes.count,
            chunks: options.includeChunks ? PlanChunkList(sizes: newFile.sizes, checksums: newFile.checksums) : nil)
        let totals = PlanTotals(operations: ops, targetSize: newTotal, mode: .electronUpdater, costModel: options.costModel,
                                gapBytes: 0, fetchedChunks: changedBlockCount)
        return DeltaPlan(mode: .electronUpdater, costModel: options.costModel, target: targetInfo,
                         seeds: [DeltaPlanner.seedInfo(seed, id: 0, file: oldEntry, bytesUsed: copied)],
                         totals: totals, operations: ops)
    }

    /// Requests electron-updater makes in multi-range mode: operations go in batches of 1000;
    /// a batch with one DOWNLOAD makes a single-range request, with two or more one
    /// multi-range request, with none no request.
    public static func multiRangeRequests(_ operations: [PlanOperation]) -> Int {
        var requests = 0
        var start = 0
        while start < operations.count {
            let end = min(operations.count, start + batchSize)
            if operations[start..<end].contains(where: { $0.kind == .fetch }) { requests += 1 }
            start = end
        }
        return requests
    }

    /// The `Range` header values electron-updater's multi-range mode sends for `operations`
    /// (`bytes=a-b, c-d, …`), in request order: one per batch of operations with two or more
    /// DOWNLOADs (a batch with one sends a single short range).
    public static func multiRangeHeaders(_ operations: [PlanOperation]) -> [String] {
        var headers: [String] = []
        var start = 0
        while start < operations.count {
            let end = min(operations.count, start + batchSize)
            let fetches = operations[start..<end].filter { $0.kind == .fetch && $0.length > 0 }
            if fetches.count >= 2 {
                headers.append(RangeHeader.value(for: fetches.map { ByteRange(offset: $0.sourceOffset, length: $0.length) }))
            }
            start = end
        }
        return headers
    }
}
