/// Plans how to build a new file from seeds and downloaded ranges (docs/PLANNER.md).
///
/// Blockyard mode:
/// 1. Every chunk of every seed is indexed by (checksum, size); a chunk matches only when
///    both are equal.
/// 2. The new file's chunks are walked in order. A chunk continues the current copy when the
///    next chunk of the same seed matches (so copies stay long); otherwise it is copied from
///    a seed (the candidate whose following chunk also matches the following new chunk, else
///    the first occurrence); otherwise, if the same chunk already occurred earlier in the new
///    file, it is repeated from there (fetched at most once); otherwise it must be fetched.
/// 3. ``FetchRangeOptimizer`` decides which local runs to fetch anyway (small gaps, the
///    operation limit, saved requests).
///
/// electron-updater mode reproduces `computeOperations` exactly (``ElectronUpdaterPlanner``).
public enum DeltaPlanner {
    /// Largest file a plan describes: 2^53 bytes, the largest integer electron-updater's
    /// JavaScript numbers (and JSON readers in general) represent exactly.
    public static let maxFileSize = 1 << 53
    /// How many earlier occurrences of a repeated seed chunk are tried to keep copies long.
    static let candidateLimit = 32

    /// Makes a plan for the file `target` describes.
    public static func plan(target: Blockmap, seeds: [PlanSeedInput],
                            options: PlanOptions = PlanOptions()) throws(PlanError) -> DeltaPlan {
        try options.costModel.validate()
        guard !seeds.isEmpty else { throw .noSeeds }
        switch options.mode {
        case .electronUpdater:
            guard seeds.count == 1 else { throw .compatNeedsOneSeed(count: seeds.count) }
            return try ElectronUpdaterPlanner.plan(target: target, seed: seeds[0], options: options)
        case .blockyard:
            return try planBlockyard(target: target, seeds: seeds, options: options)
        }
    }

    // MARK: - Validation shared by both modes

    /// Total bytes of a file entry, checked against overflow and the size limit.
    static func checkedTotal(_ file: BlockmapFile, which: String) throws(PlanError) -> Int {
        guard file.checksums.count == file.sizes.count else {
            throw .malformedBlockmap(which: which, reason: "file \"\(file.name)\" has \(file.checksums.count) checksums but \(file.sizes.count) sizes")
        }
        guard file.offset >= 0 else { throw .malformedBlockmap(which: which, reason: "negative offset \(file.offset)") }
        var total = 0
        for (i, size) in file.sizes.enumerated() {
            guard size >= 0 else { throw .malformedBlockmap(which: which, reason: "size #\(i) is negative (\(size))") }
            let (sum, overflow) = total.addingReportingOverflow(size)
            guard !overflow, sum <= maxFileSize else { throw .sizeOverflow(which: which) }
            total = sum
        }
        guard file.offset <= maxFileSize - total else { throw .sizeOverflow(which: which) }
        return total
    }

    /// Checks that a seed's blockmap entry describes a file of the seed's size.
    static func checkSeed(_ seed: PlanSeedInput, id: Int, file: BlockmapFile) throws(PlanError) {
        let total = try checkedTotal(file, which: "seed \(id) (\(seed.path)) blockmap")
        guard file.offset + total == seed.size else {
            throw .seedSizeMismatch(seed: id, path: seed.path, blockmapBytes: file.offset + total, fileSize: seed.size)
        }
    }

    static func seedInfo(_ seed: PlanSeedInput, id: Int, file: BlockmapFile, bytesUsed: Int) -> PlanSeedInfo {
        PlanSeedInfo(id: id, path: seed.path, size: seed.size, blockmap: seed.blockmapPath,
                     entryOffset: file.offset, chunkCount: file.sizes.count, bytesUsed: bytesUsed)
    }

    // MARK: - Blockyard mode

    /// A run of the new file before range optimisation.
    struct RunRecord {
        var sourceOffset: Int
        var targetOffset: Int
        var length: Int
        var seed: Int32
        var chunks: Int32
        var kind: PlanOperation.Kind
    }

    static func planBlockyard(target: Blockmap, seeds: [PlanSeedInput], options: PlanOptions) throws(PlanError) -> DeltaPlan {
        guard let tfile = target.files.first else { throw .noFiles(which: "new blockmap") }
        let targetSize = try checkedTotal(tfile, which: "new blockmap")
        if let expected = options.expectedTargetSize, expected != targetSize {
            throw .targetSizeMismatch(expected: expected, blockmap: targetSize)
        }

        // 1. Index every seed chunk: entry numbers are global across seeds, in seed order.
        var seedFiles: [BlockmapFile] = []
        var totalSeedChunks = 0
        for (id, seed) in seeds.enumerated() {
            guard let file = seed.blockmap.files.first else { throw .noFiles(which: "seed \(id) (\(seed.path)) blockmap") }
            try checkSeed(seed, id: id, file: file)
            seedFiles.append(file)
            totalSeedChunks += file.sizes.count
        }
        var seedTable = ChunkKeyTable(capacity: totalSeedChunks)
        var seedOffsets = [Int]()
        seedOffsets.reserveCapacity(totalSeedChunks)
        var seedOf = [Int32]()
        seedOf.reserveCapacity(totalSeedChunks)
        var seedEnds = [Int]()
        for (id, file) in seedFiles.enumerated() {
            var offset = file.offset
            file.checksums.withUnsafeBufferPointer { cs in
                file.sizes.withUnsafeBufferPointer { sz in
                    for k in 0..<cs.count {
                        seedTable.append(cs[k], size: sz[k], index: sz[k] > 0)
                        seedOffsets.append(offset)
                        seedOf.append(Int32(id))
                        offset += sz[k]
                    }
                }
            }
            seedEnds.append(seedTable.count)
        }

        // 2. Assign every chunk of the new file.
        var runs: [RunRecord] = []
        var targetTable = ChunkKeyTable(capacity: 1024)
        var firstOffset: [Int] = []
        var firstIndex: [Int32] = []
        tfile.checksums.withUnsafeBufferPointer { tcs in
            tfile.sizes.withUnsafeBufferPointer { tsz in
                let n = tcs.count
                var prevKind: PlanOperation.Kind? = nil
                var prevSeedEntry = -1
                var prevTargetChunk = -1
                var pos = 0
                for i in 0..<n {
                    let size = tsz[i]
                    if size == 0 { continue }
                    let c = tcs[i]
                    defer { pos += size }
                    // Continue the current copy or repeat.
                    if prevKind == .copy {
                        let g = prevSeedEntry + 1
                        if g < seedEnds[Int(seedOf[prevSeedEntry])] && seedTable.matches(g, c, size: size) {
                            runs[runs.count - 1].length += size
                            runs[runs.count - 1].chunks += 1
                            prevSeedEntry = g
                            continue
                        }
                    } else if prevKind == .duplicate {
                        let j = prevTargetChunk + 1
                        if j < i && tsz[j] == size && tcs[j] == c {
                            runs[runs.count - 1].length += size
                            runs[runs.count - 1].chunks += 1
                            prevTargetChunk = j
                            continue
                        }
                    }
                    let head = seedTable.find(c, size: size)
                    if head >= 0 {
                        var chosen = head
                        if i + 1 < n && tsz[i + 1] > 0 {
                            let nc = tcs[i + 1], ns = tsz[i + 1]
                            var e = head
                            var tries = 0
                            while e >= 0 && tries < candidateLimit {
                                let g = e + 1
                                if g < seedEnds[Int(seedOf[e])] && seedTable.matches(g, nc, size: ns) {
                                    chosen = e
                                    break
                                }
                                e = seedTable.nextSameKey(e)
                                tries += 1
                            }
                        }
                        runs.append(RunRecord(sourceOffset: seedOffsets[chosen], targetOffset: pos, length: size,
                                              seed: seedOf[chosen], chunks: 1, kind: .copy))
                        prevKind = .copy
                        prevSeedEntry = chosen
                        continue
                    }
                    let earlier = targetTable.find(c, size: size)
                    if earlier >= 0 {
                        runs.append(RunRecord(sourceOffset: firstOffset[earlier], targetOffset: pos, length: size,
                                              seed: -1, chunks: 1, kind: .duplicate))
                        prevKind = .duplicate
                        prevTargetChunk = Int(firstIndex[earlier])
                        continue
                    }
                    targetTable.append(c, size: size)
                    firstOffset.append(pos)
                    firstIndex.append(Int32(truncatingIfNeeded: i))
                    if prevKind == .fetch {
                        runs[runs.count - 1].length += size
                        runs[runs.count - 1].chunks += 1
                    } else {
                        runs.append(RunRecord(sourceOffset: pos, targetOffset: pos, length: size,
                                              seed: -1, chunks: 1, kind: .fetch))
                    }
                    prevKind = .fetch
                }
            }
        }

        // 3. Decide which local runs to fetch anyway.
        let optimized = FetchRangeOptimizer.optimize(
            runs.map { FetchRangeOptimizer.Run(isLocal: $0.kind != .fetch, length: $0.length) },
            costModel: options.costModel)

        // 4. Emit operations, merging adjacent fetches.
        var ops: [PlanOperation] = []
        ops.reserveCapacity(optimized.operations)
        var fetchedChunks = 0
        var used = [Int](repeating: 0, count: seeds.count)
        for (k, run) in runs.enumerated() {
            if optimized.fetched[k] {
                fetchedChunks += Int(run.chunks)
                if let last = ops.last, last.kind == .fetch, last.targetEnd == run.targetOffset {
                    ops[ops.count - 1].length += run.length
                } else {
                    ops.append(.fetch(targetOffset: run.targetOffset, length: run.length,
                                      sourceOffset: tfile.offset + run.targetOffset))
                }
            } else if run.kind == .copy {
                used[Int(run.seed)] += run.length
                ops.append(.copy(seed: Int(run.seed), seedOffset: run.sourceOffset, length: run.length,
                                 targetOffset: run.targetOffset))
            } else {
                ops.append(.duplicate(sourceOffset: run.sourceOffset, length: run.length, targetOffset: run.targetOffset))
            }
        }

        let targetInfo = PlanTarget(
            size: targetSize, blockmapVersion: target.version, blockmap: options.targetBlockmapPath,
            entryOffset: tfile.offset, chunkCount: tfile.sizes.count,
            chunks: options.includeChunks ? PlanChunkList(sizes: tfile.sizes, checksums: tfile.checksums) : nil)
        let seedInfos = seeds.enumerated().map { id, seed in
            seedInfo(seed, id: id, file: seedFiles[id], bytesUsed: used[id])
        }
        let totals = PlanTotals(operations: ops, targetSize: targetSize, mode: .blockyard, costModel: options.costModel,
                                gapBytes: optimized.gapBytes, fetchedChunks: fetchedChunks,
                                maxOpsBinding: optimized.method != .unconstrained)
        return DeltaPlan(mode: .blockyard, costModel: options.costModel, target: targetInfo, seeds: seedInfos,
                         totals: totals, operations: ops)
    }
}
