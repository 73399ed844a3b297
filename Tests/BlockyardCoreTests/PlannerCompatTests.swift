import BlockyardCore
import Testing

/// `--compat electron-updater`: computeOperations reproduced rule by rule
/// (shared/specs/electron-updater.md, "computeOperations").
@Suite("Planner: electron-updater computeOperations")
struct PlannerCompatTests {
    let compat = PlanOptions(mode: .electronUpdater)

    func plan(_ old: [(id: UInt64, size: Int)], _ new: [(id: UInt64, size: Int)],
              mode: PlanMode = .electronUpdater) throws -> DeltaPlan {
        try DeltaPlanner.plan(target: opaqueBlockmap(new), seeds: [opaqueSeed(old)], options: PlanOptions(mode: mode))
    }

    @Test func firstOccurrenceWins() throws {
        // A occurs at 0 and 300; electron-updater indexes the first one only.
        let p = try plan([(1, 100), (2, 200), (1, 100)], [(1, 100)])
        #expect(p.opSummary == ["C0@0+100"])
    }

    @Test func checksumMatchWithOtherSizeIsDownloaded() throws {
        // Same checksum, different size: electron-updater warns and downloads.
        let p = try plan([(1, 100)], [(1, 200)])
        #expect(p.opSummary == ["F@0+200"])
        // Blockyard matches on (checksum, size) too, so it downloads as well.
        #expect(try plan([(1, 100)], [(1, 200)], mode: .blockyard).opSummary == ["F@0+200"])
    }

    @Test func onlyTheFirstOccurrencesSizeCounts() throws {
        // The old file has the checksum twice, first with size 100, then with 200. The new
        // chunk (checksum, 200) is downloaded by electron-updater (it compares with the first
        // occurrence's size only) and copied by Blockyard (which indexes every occurrence).
        let old: [(id: UInt64, size: Int)] = [(1, 100), (2, 50), (1, 200)]
        let eu = try plan(old, [(1, 200)])
        #expect(eu.opSummary == ["F@0+200"])
        let by = try plan(old, [(1, 200)], mode: .blockyard)
        #expect(by.opSummary == ["C0@150+200"])
        #expect(by.totals.fetchBytes < eu.totals.fetchBytes)
    }

    @Test func copiesMergeOnlyWhenContiguousInTheOldFile() throws {
        let old: [(id: UInt64, size: Int)] = [(1, 100), (2, 100), (3, 100)]
        #expect(try plan(old, [(2, 100), (3, 100)]).opSummary == ["C0@100+200"])
        #expect(try plan(old, [(1, 100), (3, 100)]).opSummary == ["C0@0+100", "C0@200+100"])
        // Reordered content: ops stay in new-file order with old-file offsets.
        #expect(try plan(old, [(3, 100), (1, 100), (2, 100)]).opSummary == ["C0@200+100", "C0@0+200"])
    }

    @Test func downloadsAlwaysMerge() throws {
        let p = try plan([(1, 100)], [(7, 100), (8, 50), (1, 100), (9, 10)])
        #expect(p.opSummary == ["F@0+150", "C0@0+100", "F@250+10"])
        #expect(p.totals.fetchedChunks == 3)   // electron-updater's "changed blocks"
        #expect(p.operations.map(\.targetOffset) == [0, 150, 250])
    }

    @Test func repeatedNewChunksAreDownloadedEachTime() throws {
        // electron-updater has no dedup: X is downloaded twice. Blockyard fetches it once.
        let eu = try plan([(1, 100)], [(5, 100), (1, 100), (5, 100)])
        #expect(eu.opSummary == ["F@0+100", "C0@0+100", "F@200+100"])
        let by = try plan([(1, 100)], [(5, 100), (1, 100), (5, 100)], mode: .blockyard)
        #expect(by.opSummary == ["F@0+100", "C0@0+100", "D@0+100"])
        #expect(by.totals.fetchBytes == 100 && eu.totals.fetchBytes == 200)
    }

    @Test func zeroLengthChunksMakeZeroLengthOperations() throws {
        // app-builder's trailing zero-length chunk: found in the old blockmap at its end, it
        // becomes a 0-byte COPY after a DOWNLOAD, exactly as in electron-updater.
        let p = try plan([(1, 100), (0, 0)], [(2, 100), (0, 0)])
        #expect(p.opSummary == ["F@0+100", "C0@100+0"])
        #expect(p.totals.operations == 2)
        // Following a copy that ends there, it merges.
        #expect(try plan([(1, 100), (0, 0)], [(1, 100), (0, 0)]).opSummary == ["C0@0+100"])
        // Blockyard skips zero-length chunks: nothing to write.
        #expect(try plan([(1, 100), (0, 0)], [(2, 100), (0, 0)], mode: .blockyard).opSummary == ["F@0+100"])
    }

    @Test func versionMismatchIsRefused() {
        let seed = PlanSeedInput(path: "old", size: 100, blockmap: opaqueBlockmap([(1, 100)], version: "1"))
        #expect(throws: PlanError.versionMismatch(old: "1", new: "2")) {
            try DeltaPlanner.plan(target: opaqueBlockmap([(1, 100)]), seeds: [seed], options: compat)
        }
        #expect(PlanError.versionMismatch(old: "1", new: "2").description.hasPrefix("version is different (1 - 2), full download is required"))
        // Blockyard mode compares checksums and sizes and does not need equal versions.
        #expect((try? DeltaPlanner.plan(target: opaqueBlockmap([(1, 100)]), seeds: [seed]))?.opSummary == ["C0@0+100"])
    }

    @Test func fileNameMustExistInTheOldBlockmap() {
        let old = opaqueBlockmap([(1, 100)], name: "other")
        let seed = PlanSeedInput(path: "old", size: 100, blockmap: old)
        #expect(throws: PlanError.noFileInOldBlockmap(name: "file")) {
            try DeltaPlanner.plan(target: opaqueBlockmap([(1, 100)]), seeds: [seed], options: compat)
        }
    }

    @Test func lastEntryWithTheNameWins() throws {
        // JavaScript Map semantics: a later file entry with the same name replaces the first.
        var old = opaqueBlockmap([(1, 100)])
        old.files.append(BlockmapFile(name: "file", offset: 0, checksums: [ChunkChecksum(9, 9, 9)], sizes: [100]))
        let seed = PlanSeedInput(path: "old", size: 100, blockmap: old)
        let p = try DeltaPlanner.plan(target: opaqueBlockmap([(1, 100)]), seeds: [seed], options: compat)
        #expect(p.opSummary == ["F@0+100"])
    }

    @Test func exactlyOneSeed() {
        #expect(throws: PlanError.compatNeedsOneSeed(count: 2)) {
            try DeltaPlanner.plan(target: opaqueBlockmap([(1, 100)]), seeds: [opaqueSeed([(1, 100)]), opaqueSeed([(2, 5)])],
                                  options: compat)
        }
    }

    @Test func requestsFollowTheBatchesOf1000Operations() {
        func ops(_ kinds: String) -> [PlanOperation] {
            var pos = 0
            return kinds.map { k in
                defer { pos += 1 }
                return k == "F" ? .fetch(targetOffset: pos, length: 1) : .copy(seed: 0, seedOffset: 0, length: 1, targetOffset: pos)
            }
        }
        #expect(ElectronUpdaterPlanner.multiRangeRequests(ops("")) == 0)
        #expect(ElectronUpdaterPlanner.multiRangeRequests(ops("CCC")) == 0)
        #expect(ElectronUpdaterPlanner.multiRangeRequests(ops("FCF")) == 1)
        // 1000 copies, then a download: only the second batch makes a request.
        #expect(ElectronUpdaterPlanner.multiRangeRequests(ops(String(repeating: "C", count: 1000) + "F")) == 1)
        #expect(ElectronUpdaterPlanner.multiRangeRequests(ops(String(repeating: "FC", count: 1001))) == 3)
    }

    @Test func expectedSizeIsChecked() {
        var options = compat
        options.expectedTargetSize = 99
        #expect(throws: PlanError.targetSizeMismatch(expected: 99, blockmap: 100)) {
            try DeltaPlanner.plan(target: opaqueBlockmap([(1, 100)]), seeds: [opaqueSeed([(1, 100)])], options: options)
        }
    }
}
