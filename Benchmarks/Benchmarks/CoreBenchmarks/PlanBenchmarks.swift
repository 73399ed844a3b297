import Benchmark
import BlockyardCore

/// A version of `data` as an update would produce it: 4 MiB in the middle rewritten (a
/// fine-tuned tensor) and 100 bytes inserted at 16 MiB (a header edit shifting what follows).
func updatedData() -> [UInt8] {
    var new = data
    let rewritten = randomBytes(seed: 11, count: 4 << 20)
    new.replaceSubrange((40 << 20)..<(44 << 20), with: rewritten)
    new.insert(contentsOf: randomBytes(seed: 12, count: 100), at: 16 << 20)
    return new
}

/// Blockmaps at model-bundle scale without hashing 2 GiB: `count` chunks of 8–32 KiB with
/// distinct checksums; the new one rewrites 5 % in two places and shifts the rest by one
/// inserted chunk, so the planner sees long copies, fetches and a moved region.
func syntheticBlockmaps(count: Int) -> (old: Blockmap, new: Blockmap) {
    var state: UInt64 = 0x5EED
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var checksums: [ChunkChecksum] = []
    var sizes: [Int] = []
    checksums.reserveCapacity(count)
    sizes.reserveCapacity(count)
    for _ in 0..<count {
        checksums.append(ChunkChecksum(next(), next(), next() & 0xFFFF))
        sizes.append(8192 + Int(next() % 24577))
    }
    var newChecksums = checksums
    var newSizes = sizes
    for range in [(count / 10)..<(count / 10 + count / 40), (count * 7 / 10)..<(count * 7 / 10 + count / 40)] {
        for i in range {
            newChecksums[i] = ChunkChecksum(next(), next(), next() & 0xFFFF)
            newSizes[i] = 8192 + Int(next() % 24577)
        }
    }
    newChecksums.insert(ChunkChecksum(next(), next(), 1), at: count / 2)
    newSizes.insert(16384, at: count / 2)
    return (Blockmap(checksums: checksums, sizes: sizes), Blockmap(checksums: newChecksums, sizes: newSizes))
}

func planBenchmarks(blockmap: Blockmap) {
    let planning = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5),
        maxIterations: 50)

    let newBlockmap = updatedData().withUnsafeBytes { BlockmapBuilder.build($0) }.blockmap
    let seed = PlanSeedInput(path: "old", size: data.count, blockmap: blockmap)
    let chunks = newBlockmap.files[0].sizes.count

    Benchmark("Plan 64 MiB (\(chunks) chunks): Blockyard", configuration: planning) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try DeltaPlanner.plan(target: newBlockmap, seeds: [seed]))
        }
    }

    Benchmark("Plan 64 MiB (\(chunks) chunks): electron-updater computeOperations", configuration: planning) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try DeltaPlanner.plan(target: newBlockmap, seeds: [seed], options: PlanOptions(mode: .electronUpdater)))
        }
    }

    // 131,072 chunks: a 2 GiB model bundle.
    let (bigOld, bigNew) = syntheticBlockmaps(count: 131_072)
    let bigSeed = PlanSeedInput(path: "old", size: bigOld.totalSize, blockmap: bigOld)

    Benchmark("Plan 2 GiB (131k chunks, synthetic): Blockyard", configuration: planning) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try DeltaPlanner.plan(target: bigNew, seeds: [bigSeed], options: PlanOptions(includeChunks: false)))
        }
    }

    Benchmark("Plan 2 GiB (131k chunks, synthetic): electron-updater computeOperations", configuration: planning) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try DeltaPlanner.plan(target: bigNew, seeds: [bigSeed],
                                            options: PlanOptions(mode: .electronUpdater, includeChunks: false)))
        }
    }
}
