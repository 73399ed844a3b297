import BlockyardCore
import BlockyardTestSupport
import Testing

/// Random file pairs with random inserts, deletes, overwrites, moves and repeated content,
/// chunked with the real chunker: every plan rebuilds the new file exactly, and Blockyard
/// never fetches more than electron-updater plus its documented gap bytes.
@Suite("Planner: property tests")
struct PlannerPropertyTests {
    static func randomBytes(_ rng: inout SplitMix64, _ count: Int) -> [UInt8] {
        VectorInputs.randomBytes(seed: rng.next(), count: count)
    }

    /// A random base file, sometimes with internal repetition.
    static func base(_ rng: inout SplitMix64) -> [UInt8] {
        var f = randomBytes(&rng, Int.random(in: 20_000...300_000, using: &rng))
        if Bool.random(using: &rng) {
            let block = randomBytes(&rng, Int.random(in: 40_000...80_000, using: &rng))
            f.insert(contentsOf: block, at: Int.random(in: 0...f.count, using: &rng))
            f.insert(contentsOf: block, at: Int.random(in: 0...f.count, using: &rng))
        }
        return f
    }

    static func edited(_ base: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var f = base
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let p = Int.random(in: 0...f.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0:  // insert
                f.insert(contentsOf: randomBytes(&rng, Int.random(in: 1...20_000, using: &rng)), at: p)
            case 1:  // delete
                let n = min(f.count - p, Int.random(in: 1...30_000, using: &rng))
                f.removeSubrange(p..<(p + n))
            case 2:  // overwrite
                let n = min(f.count - p, Int.random(in: 1...5000, using: &rng))
                f.replaceSubrange(p..<(p + n), with: randomBytes(&rng, n))
            case 3:  // move a block
                let n = min(f.count - p, Int.random(in: 1000...60_000, using: &rng))
                let block = Array(f[p..<(p + n)])
                f.removeSubrange(p..<(p + n))
                f.insert(contentsOf: block, at: Int.random(in: 0...f.count, using: &rng))
            case 4:  // the same new content twice (fetched once)
                let block = randomBytes(&rng, Int.random(in: 30_000...90_000, using: &rng))
                f.insert(contentsOf: block, at: p)
                f.insert(contentsOf: block, at: Int.random(in: 0...f.count, using: &rng))
            case 5:  // a zero run (cut only by the 32 KiB maximum: repeated chunks)
                f.insert(contentsOf: [UInt8](repeating: 0, count: Int.random(in: 10_000...150_000, using: &rng)), at: p)
            default:  // copy an old block elsewhere
                let n = min(f.count - p, Int.random(in: 1000...40_000, using: &rng))
                let block = Array(f[p..<(p + n)])
                f.insert(contentsOf: block, at: Int.random(in: 0...f.count, using: &rng))
            }
        }
        return f
    }

    static func blockmap(_ bytes: [UInt8]) -> Blockmap {
        bytes.withUnsafeBytes { BlockmapBuilder.build($0).blockmap }
    }

    @Test func randomEditsRebuildExactlyAndNeverFetchMore() throws {
        var rng = SplitMix64(seed: 2026)
        for iteration in 0..<30 {
            let old = Self.base(&rng)
            let new = Self.edited(old, &rng)
            let oldMap = Self.blockmap(old), newMap = Self.blockmap(new)
            let seed = PlanSeedInput(path: "old", size: old.count, blockmap: oldMap)
            let eu = try DeltaPlanner.plan(target: newMap, seeds: [seed], options: PlanOptions(mode: .electronUpdater))
            let by = try DeltaPlanner.plan(target: newMap, seeds: [seed])
            let label = "iteration \(iteration): \(old.count) → \(new.count) bytes"

            #expect(try rebuild(eu, seeds: [old], new: new, pieceSize: 7777) == new, "\(label) (electron-updater)")
            #expect(try rebuild(by, seeds: [old], new: new, options: ApplyOptions(verifyChunks: true)) == new, "\(label)")
            #expect(by.totals.fetchBytes <= eu.totals.fetchBytes + by.totals.gapBytes, "\(label)")
            // With the default cost model gaps are whole chunks (≥ 8 KiB) and the operation
            // limit is far away: nothing local is fetched.
            #expect(by.totals.gapBytes == 0, "\(label)")
            #expect(by.totals.operations <= 1000)

            // Random cost models and limits, and small requests.
            let model = PlanCostModel(rangeOverhead: Int.random(in: 0...200, using: &rng),
                                      requestOverhead: Int.random(in: 0...5000, using: &rng),
                                      gap: Bool.random(using: &rng) ? Int.random(in: 0...40_000, using: &rng) : nil,
                                      maxRangesPerRequest: Int.random(in: 1...4, using: &rng),
                                      maxOps: Int.random(in: 0...6, using: &rng))
            let tuned = try DeltaPlanner.plan(target: newMap, seeds: [seed], options: PlanOptions(costModel: model))
            #expect(model.maxOps == 0 || tuned.totals.operations <= model.maxOps, "\(label) \(model)")
            #expect(tuned.totals.fetchBytes <= eu.totals.fetchBytes + tuned.totals.gapBytes, "\(label) \(model)")
            #expect(tuned.totals.fetchBytes - tuned.totals.gapBytes == by.totals.fetchBytes, "\(label) \(model)")
            #expect(try rebuild(tuned, seeds: [old], new: new, options: ApplyOptions(rangesPerRequest: 2), pieceSize: 1000) == new,
                    "\(label) \(model)")

            // A second, unrelated seed never makes things worse; the old file as second seed
            // gives the same fetch bytes.
            let other = Self.randomBytes(&rng, 50_000)
            let otherSeed = PlanSeedInput(path: "other", size: other.count, blockmap: Self.blockmap(other))
            let multi = try DeltaPlanner.plan(target: newMap, seeds: [otherSeed, seed])
            #expect(multi.totals.fetchBytes == by.totals.fetchBytes, "\(label)")
            #expect(try rebuild(multi, seeds: [other, old], new: new) == new, "\(label)")
        }
    }

    /// The seed chunked by the electron-builder generation, the new file by app-builder's
    /// (trailing zero-length chunk) and the other way round: plans still rebuild exactly.
    @Test func mixedBlockmapGenerations() throws {
        // 87456 bytes of random-2 end exactly at a MAX cut: app-builder adds a 0-byte chunk.
        let old = VectorInputs.randomBytes(seed: 2, count: 87456)
        let new = old + VectorInputs.randomBytes(seed: 3, count: 1000)
        let oldApp = old.withUnsafeBytes { BlockmapBuilder.build($0, compat: .appBuilder).blockmap }
        #expect(oldApp.files[0].sizes.last == 0)
        for compat in BlockmapCompat.allCases {
            let newMap = new.withUnsafeBytes { BlockmapBuilder.build($0, compat: compat).blockmap }
            for mode in PlanMode.allCases {
                let plan = try DeltaPlanner.plan(target: newMap, seeds: [PlanSeedInput(path: "o", size: old.count, blockmap: oldApp)],
                                                 options: PlanOptions(mode: mode))
                #expect(try rebuild(plan, seeds: [old], new: new) == new)
            }
        }
    }
}
