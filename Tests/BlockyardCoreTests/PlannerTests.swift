import BlockyardCore
import Foundation
import Testing

/// Blockyard's default planner: matching, dedup, several seeds, coalescing, edge cases.
@Suite("Planner: default mode")
struct PlannerTests {
    @Test func identicalFileIsOneCopy() throws {
        let f = SynthFile(ids: [1, 2, 3, 4])
        let p = try DeltaPlanner.plan(target: f.blockmap, seeds: [f.seed()])
        #expect(p.opSummary == ["C0@0+4000"])
        #expect(p.totals.fetchBytes == 0 && p.totals.requests == 0 && p.totals.reusedFraction == 1)
        #expect(try rebuild(p, seeds: [f.bytes], new: f.bytes) == f.bytes)
    }

    @Test func emptyNewFile() throws {
        let empty = SynthFile(ids: [])
        let seed = SynthFile(ids: [1])
        let p = try DeltaPlanner.plan(target: empty.blockmap, seeds: [seed.seed()])
        #expect(p.operations.isEmpty)
        #expect(p.totals.targetSize == 0 && p.totals.fetchFraction == 0 && p.totals.wireBytes == 0)
        #expect(try rebuild(p, seeds: [seed.bytes], new: []) == [])
        // app-builder's form of an empty file: one zero-length chunk.
        let appBuilderEmpty = Blockmap(checksums: [.empty], sizes: [0])
        #expect(try DeltaPlanner.plan(target: appBuilderEmpty, seeds: [seed.seed()]).operations.isEmpty)
    }

    @Test func emptySeedMeansFetchEverything() throws {
        let new = SynthFile(ids: [1, 2])
        let empty = PlanSeedInput(path: "empty", size: 0, blockmap: Blockmap(checksums: [], sizes: []))
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [empty])
        #expect(p.opSummary == ["F@0+2000"])
        #expect(p.totals.fetchFraction == 1)
        #expect(try rebuild(p, seeds: [[]], new: new.bytes) == new.bytes)
    }

    @Test func repeatedChunksAreFetchedOnce() throws {
        // X Y X Y X: X and Y are new; the repeats copy from the bytes already written, and the
        // run of repeats is one overlapping duplicate operation (LZ77-style).
        let seed = SynthFile(ids: [100])
        let new = SynthFile(ids: [1, 2, 1, 2, 1])
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()])
        #expect(p.opSummary == ["F@0+2000", "D@0+3000"])
        #expect(p.totals.fetchBytes == 2000 && p.totals.duplicateBytes == 3000)
        #expect(try rebuild(p, seeds: [seed.bytes], new: new.bytes) == new.bytes)
        // A long run of one repeated chunk (a zero run not in any seed).
        let zeros = SynthFile(ids: Array(repeating: 9, count: 50))
        let z = try DeltaPlanner.plan(target: zeros.blockmap, seeds: [seed.seed()])
        #expect(z.opSummary == ["F@0+1000", "D@0+49000"])
        #expect(try rebuild(z, seeds: [seed.bytes], new: zeros.bytes) == zeros.bytes)
    }

    @Test func severalSeeds() throws {
        let a = SynthFile(ids: [1, 2, 3])
        let b = SynthFile(ids: [7, 4, 5])
        let new = SynthFile(ids: [1, 4, 5, 2, 6])
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [a.seed("a"), b.seed("b")])
        #expect(p.opSummary == ["C0@0+1000", "C1@1000+2000", "C0@1000+1000", "F@4000+1000"])
        #expect(p.seeds.map(\.bytesUsed) == [2000, 2000])
        #expect(p.seeds.map(\.path) == ["a", "b"])
        #expect(try rebuild(p, seeds: [a.bytes, b.bytes], new: new.bytes) == new.bytes)
        // Earlier seeds are preferred for the same chunk.
        let p2 = try DeltaPlanner.plan(target: a.blockmap, seeds: [b.seed("b"), a.seed("a")])
        #expect(p2.opSummary == ["C1@0+3000"])
    }

    @Test func copiesFollowTheSeedToStayLong() throws {
        // A occurs twice in the seed; the second occurrence continues with C, as in the new
        // file, so one copy suffices. electron-updater takes the first A and needs two.
        let seed = SynthFile(ids: [1, 2, 1, 3])
        let new = SynthFile(ids: [1, 3])
        let by = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()])
        #expect(by.opSummary == ["C0@2000+2000"])
        let eu = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()], options: PlanOptions(mode: .electronUpdater))
        #expect(eu.opSummary == ["C0@0+1000", "C0@3000+1000"])
    }

    @Test func smallGapsAreMerged() throws {
        // new: X | A (60 bytes, in the seed) | Y. Copying A costs a second range (100 bytes of
        // overhead); fetching its 60 bytes is cheaper.
        let seed = SynthFile([(1, 60), (2, 1000)])
        let new = SynthFile([(8, 1000), (1, 60), (9, 1000)])
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()])
        #expect(p.opSummary == ["F@0+2060"])
        #expect(p.totals.gapBytes == 60 && p.totals.fetchBytes == 2060)
        #expect(try rebuild(p, seeds: [seed.bytes], new: new.bytes) == new.bytes)
        // --gap 0: never trade bytes for ranges.
        let strict = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()],
                                           options: PlanOptions(costModel: PlanCostModel(gap: 0)))
        #expect(strict.opSummary == ["F@0+1000", "C0@0+60", "F@1060+1000"])
        #expect(strict.totals.gapBytes == 0)
        // A larger --gap merges larger gaps.
        let seed2 = SynthFile([(1, 5000)])
        let new2 = SynthFile([(8, 1000), (1, 5000), (9, 1000)])
        #expect(try DeltaPlanner.plan(target: new2.blockmap, seeds: [seed2.seed()]).totals.fetchRanges == 2)
        let merged = try DeltaPlanner.plan(target: new2.blockmap, seeds: [seed2.seed()],
                                           options: PlanOptions(costModel: PlanCostModel(gap: 5000)))
        #expect(merged.totals.fetchRanges == 1 && merged.totals.gapBytes == 5000)
    }

    @Test func maxOpsIsRespected() throws {
        // 200 alternating new/seed chunks = 200 operations; allow 50.
        var seedIds: [UInt64] = []
        var newIds: [UInt64] = []
        for k in 0..<100 {
            seedIds.append(UInt64(1000 + k))
            newIds.append(UInt64(5000 + k))
            newIds.append(UInt64(1000 + (k * 37) % 100))  // reordered, so copies never merge
        }
        let seed = SynthFile(ids: seedIds, size: 500)
        let new = SynthFile(ids: newIds, size: 500)
        let free = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()],
                                         options: PlanOptions(costModel: PlanCostModel(maxOps: 0)))
        #expect(free.totals.operations == 200 && free.totals.gapBytes == 0)
        let limited = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()],
                                            options: PlanOptions(costModel: PlanCostModel(maxOps: 50)))
        #expect(limited.totals.operations <= 50)
        #expect(limited.totals.fetchBytes == free.totals.fetchBytes + limited.totals.gapBytes)
        #expect(try rebuild(limited, seeds: [seed.bytes], new: new.bytes) == new.bytes)
        // The default limit (1000) keeps electron-updater in one batch.
        #expect(PlanCostModel().maxOps == 1000)
    }

    @Test func mergingToSaveARequest() throws {
        // 3 fetch ranges, 2 per request, gaps of 300 bytes: merging one gap (300 bytes minus
        // one range overhead) saves a 1000-byte request.
        let seed = SynthFile([(1, 300), (2, 300)])
        let new = SynthFile([(7, 100), (1, 300), (8, 100), (2, 300), (9, 100)])
        let model = PlanCostModel(maxRangesPerRequest: 2)
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()], options: PlanOptions(costModel: model))
        #expect(p.totals.fetchRanges == 2 && p.totals.requests == 1 && p.totals.gapBytes == 300)
        // With cheap requests it does not pay.
        let cheap = PlanCostModel(requestOverhead: 150, maxRangesPerRequest: 2)
        let q = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()], options: PlanOptions(costModel: cheap))
        #expect(q.totals.fetchRanges == 3 && q.totals.requests == 2 && q.totals.gapBytes == 0)
        #expect(p.totals.fetchBytes == 600 && p.totals.wireBytes == 600 + 2 * 100 + 1000)
    }

    @Test func totalsAddUp() throws {
        let seed = SynthFile(ids: [1, 2, 3, 4])
        let new = SynthFile(ids: [9, 2, 3, 9, 8, 1])
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()])
        let t = p.totals
        #expect(t.targetSize == 6000)
        #expect(t.fetchBytes + t.copyBytes + t.duplicateBytes == t.targetSize)
        #expect(t.reusedBytes == t.copyBytes + t.duplicateBytes)
        #expect(t.operations == t.copyOperations + t.fetchRanges + t.duplicateOperations)
        #expect(t.singleRangeRequests == t.fetchRanges)
        #expect(t.wireBytes == t.fetchBytes + t.fetchRanges * 100 + t.requests * 1000)
        #expect(abs(t.fetchFraction - Double(t.fetchBytes) / 6000) < 1e-12)
        #expect(try rebuild(p, seeds: [seed.bytes], new: new.bytes) == new.bytes)
    }

    @Test func blockmapsThatDoNotAddUp() {
        let new = SynthFile(ids: [1])
        var seed = SynthFile(ids: [1]).seed()
        seed.size = 999  // the blockmap describes 1000 bytes
        #expect(throws: PlanError.seedSizeMismatch(seed: 0, path: "seed", blockmapBytes: 1000, fileSize: 999)) {
            try DeltaPlanner.plan(target: new.blockmap, seeds: [seed])
        }
        #expect(throws: PlanError.targetSizeMismatch(expected: 1001, blockmap: 1000)) {
            try DeltaPlanner.plan(target: new.blockmap, seeds: [SynthFile(ids: [1]).seed()],
                                  options: PlanOptions(expectedTargetSize: 1001))
        }
        // Sizes summing past the largest integer.
        let huge = Blockmap(checksums: [ChunkChecksum(1, 1, 1), ChunkChecksum(2, 2, 2)], sizes: [Int.max, 5])
        #expect(throws: PlanError.sizeOverflow(which: "new blockmap")) {
            try DeltaPlanner.plan(target: huge, seeds: [SynthFile(ids: [1]).seed()])
        }
        let mismatched = Blockmap(checksums: [ChunkChecksum(1, 1, 1)], sizes: [1, 2])
        #expect(throws: PlanError.self) {
            try DeltaPlanner.plan(target: mismatched, seeds: [SynthFile(ids: [1]).seed()])
        }
        #expect(throws: PlanError.noSeeds) { try DeltaPlanner.plan(target: new.blockmap, seeds: []) }
        #expect(throws: PlanError.self) {
            try DeltaPlanner.plan(target: new.blockmap, seeds: [SynthFile(ids: [1]).seed()],
                                  options: PlanOptions(costModel: PlanCostModel(maxRangesPerRequest: 0)))
        }
    }

    @Test func planJSONRoundTrips() throws {
        let seed = SynthFile(ids: [1, 2, 3])
        let new = SynthFile(ids: [3, 9, 1, 9])
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()])
        let data = try JSONEncoder().encode(p)
        let back = try JSONDecoder().decode(DeltaPlan.self, from: data)
        #expect(back == p)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""format":"blockyard-plan""#))
        #expect(text.contains(#""kind":"duplicate""#))
        #expect(text.contains(new.checksums[0].base64.replacingOccurrences(of: "/", with: "\\/")))
        // Without chunk checksums.
        let lean = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()], options: PlanOptions(includeChunks: false))
        #expect(lean.target.chunks == nil && !lean.canVerifyChunks)
        #expect(try JSONDecoder().decode(DeltaPlan.self, from: JSONEncoder().encode(lean)) == lean)
    }

    @Test func blockmapEntryOffsets() throws {
        // A seed blockmap whose entry starts at byte 10 of the seed file.
        let content = SynthFile(ids: [1, 2])
        let seedBytes = [UInt8](repeating: 0xEE, count: 10) + content.bytes
        let seedMap = Blockmap(files: [BlockmapFile(offset: 10, checksums: content.checksums, sizes: content.sizes)])
        let seed = PlanSeedInput(path: "s", size: seedBytes.count, blockmap: seedMap)
        let new = SynthFile(ids: [2, 1])
        let p = try DeltaPlanner.plan(target: new.blockmap, seeds: [seed])
        #expect(p.opSummary == ["C0@1010+1000", "C0@10+1000"])
        #expect(try rebuild(p, seeds: [seedBytes], new: new.bytes) == new.bytes)
    }
}
