import BlockyardCore
import BlockyardIO
import BlockyardTestSupport
import Foundation
import Testing

/// Applying plans to disk: atomic, verified on disk, nothing left behind on failure.
@Suite("Apply to files")
struct ApplyFileTests {
    /// An old file, a new file made from it with edits and a repeated new block, and the plan.
    struct Case {
        let old: [UInt8]
        let new: [UInt8]
        let plan: DeltaPlan
        let dir: TemporaryDirectory
        let oldPath: String
        let newPath: String

        init(includeChunks: Bool = true, old: [UInt8]? = nil, new: [UInt8]? = nil) throws {
            let old = old ?? VectorInputs.randomBytes(seed: 11, count: 300_000)
            let fresh = VectorInputs.randomBytes(seed: 12, count: 120_000)
            let new = new ?? (Array(old[0..<90_000]) + fresh + Array(old[120_000...]) + fresh)
            self.old = old
            self.new = new
            dir = try TemporaryDirectory("blockyard-apply")
            oldPath = try dir.write("old.bin", old)
            newPath = try dir.write("new-on-server.bin", new)
            let oldMap = old.withUnsafeBytes { BlockmapBuilder.build($0).blockmap }
            let newMap = new.withUnsafeBytes { BlockmapBuilder.build($0).blockmap }
            plan = try DeltaPlanner.plan(target: newMap,
                                         seeds: [PlanSeedInput(path: oldPath, size: old.count, blockmap: oldMap)],
                                         options: PlanOptions(includeChunks: includeChunks))
        }

        var sha512: [UInt8] { SHA2Hasher.hash(.sha512, new).bytes }

        func apply(to out: String, sha512: [UInt8]? = nil, options: FileApplyOptions = FileApplyOptions()) throws -> FileApplyReport {
            try FileApplier.apply(plan: plan, source: LocalFileRangeSource(path: newPath), to: out,
                                  expectedSHA512: sha512 ?? self.sha512, options: options)
        }

        /// Files in the directory other than the inputs (temporary files would show here).
        func leftovers(except keep: Set<String> = []) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: dir.url.path)
                .filter { !["old.bin", "new-on-server.bin"].contains($0) && !keep.contains($0) }
        }
    }

    static func contents(_ path: String) throws -> [UInt8] { try FileInput.readAll(path: path) }

    @Test func appliesAndVerifies() throws {
        let c = try Case()
        #expect(c.plan.totals.duplicateBytes > 0 && c.plan.totals.copyBytes > 0 && c.plan.totals.fetchBytes > 0)
        let out = c.dir.path("new.bin")
        let report = try c.apply(to: out)
        #expect(try Self.contents(out) == c.new)
        #expect(report.sha512 == Base64.encode(c.sha512))
        #expect(report.size == c.new.count)
        #expect(report.statistics.bytesWritten == c.new.count)
        #expect(report.statistics.requests == c.plan.totals.requests)
        #expect(try c.leftovers(except: ["new.bin"]).isEmpty)
        #expect(try Self.contents(c.oldPath) == c.old)
        // With chunk verification while writing, and the hex form of the digest.
        let out2 = c.dir.path("new2.bin")
        let r2 = try c.apply(to: out2, options: FileApplyOptions(verifyChunks: true))
        #expect(r2.statistics.chunksVerified == c.plan.target.chunkCount)
        #expect(try Self.contents(out2) == c.new)
    }

    @Test func wrongDigestLeavesNothing() throws {
        let c = try Case()
        let out = c.dir.path("new.bin")
        try Data("previous version".utf8).write(to: URL(fileURLWithPath: out))
        var wrong = c.sha512
        wrong[0] ^= 1
        do {
            _ = try c.apply(to: out, sha512: wrong)
            Issue.record("a wrong SHA-512 must fail")
        } catch ApplyError.sha512Mismatch(_, let actual, let diagnosis, let checked) {
            #expect(actual == Base64.encode(c.sha512))
            // Every chunk matched the blockmap: the expected digest (or blockmap) is wrong.
            #expect(diagnosis == nil && checked)
        }
        #expect(try Self.contents(out) == Array("previous version".utf8))
        #expect(try c.leftovers(except: ["new.bin"]).isEmpty)
    }

    @Test func seedChangedAfterItsBlockmapWasMade() throws {
        let c = try Case()
        var changed = c.old
        changed[150_000] ^= 0x55  // same size, other content
        try c.dir.write("old.bin", changed)
        let out = c.dir.path("new.bin")
        do {
            _ = try c.apply(to: out)
            Issue.record("a changed seed must fail")
        } catch ApplyError.sha512Mismatch(_, _, let diagnosis, _) {
            let d = try #require(diagnosis)
            #expect(d.operation.kind == .copy)
            #expect(d.seedPath == c.oldPath)
            #expect(d.sourceOffset <= 150_000 && 150_000 < d.sourceOffset + d.size)
            #expect(d.description.contains("seed 0 (\(c.oldPath)) at offset \(d.sourceOffset)"))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try c.leftovers().isEmpty)
        // Checking chunks while writing stops at the same chunk.
        let early = #expect(throws: ApplyError.self) {
            try c.apply(to: out, options: FileApplyOptions(verifyChunks: true))
        }
        guard case .chunkMismatch(let m)? = early else {
            Issue.record("expected a chunk mismatch, got \(String(describing: early))")
            return
        }
        #expect(m.operation.kind == .copy && m.seedPath == c.oldPath)
        #expect(try c.leftovers().isEmpty)
        // Without chunk checksums in the plan, the SHA-512 still catches it.
        let lean = try Case(includeChunks: false)
        try lean.dir.write("old.bin", changed)
        let leanError = #expect(throws: ApplyError.self) { try lean.apply(to: lean.dir.path("new.bin")) }
        if case .sha512Mismatch(_, _, let diagnosis, let checked)? = leanError {
            #expect(diagnosis == nil && !checked)
        } else {
            Issue.record("expected a SHA-512 mismatch, got \(String(describing: leanError))")
        }
        #expect(try lean.leftovers().isEmpty)
    }

    @Test func seedOfAnotherSizeIsRefusedBeforeWriting() throws {
        let c = try Case()
        try c.dir.write("old.bin", Array(c.old.dropLast()))
        #expect(throws: ApplyError.seedChanged(seed: 0, path: c.oldPath, plannedSize: c.old.count, actualSize: c.old.count - 1)) {
            try c.apply(to: c.dir.path("new.bin"))
        }
        #expect(try c.leftovers().isEmpty)
        // A missing seed.
        try FileManager.default.removeItem(atPath: c.oldPath)
        let missing = #expect(throws: FileApplyError.self) { try c.apply(to: c.dir.path("new.bin")) }
        if case .seed(0, let f)? = missing {
            #expect(f.kind == .notFound)
        } else {
            Issue.record("expected a seed error, got \(String(describing: missing))")
        }
    }

    @Test func sizeAndSourceProblems() throws {
        let c = try Case()
        let out = c.dir.path("new.bin")
        #expect(throws: ApplyError.sizeMismatch(expected: 5, plan: c.new.count)) {
            try c.apply(to: out, options: FileApplyOptions(expectedSize: 5))
        }
        // A source shorter than the new file.
        try c.dir.write("new-on-server.bin", Array(c.new.prefix(1000)))
        #expect(throws: ApplyError.self) { try c.apply(to: out) }
        #expect(try c.leftovers().isEmpty)
        // An output directory that does not exist.
        let create = #expect(throws: FileApplyError.self) { try c.apply(to: c.dir.path("missing/new.bin")) }
        if case .createOutput? = create {} else { Issue.record("expected createOutput, got \(String(describing: create))") }
    }

    @Test func inPlaceUpdateOfTheSeed() throws {
        let c = try Case()
        // The seed is replaced by the new file; it stays readable through the open descriptor.
        _ = try c.apply(to: c.oldPath)
        #expect(try Self.contents(c.oldPath) == c.new)
        #expect(try c.leftovers().isEmpty)
    }

    @Test func emptyNewFile() throws {
        let c = try Case(new: [])
        #expect(c.plan.operations.isEmpty)
        let out = c.dir.path("empty.bin")
        _ = try c.apply(to: out)
        #expect(try Self.contents(out).isEmpty)
    }

    /// Repeats whose source spans the 8 MiB write buffer and what is already on disk, and
    /// several buffer flushes while the disk hasher trails the writer.
    @Test func largeRepeatsAcrossBufferFlushes() throws {
        let dir = try TemporaryDirectory("blockyard-apply")
        let block = VectorInputs.randomBytes(seed: 99, count: 3 << 20)
        let new = block + block + block + block + block + Array(block.prefix(12345))
        let chunkSize = 1 << 20
        var checksums: [ChunkChecksum] = [], sizes: [Int] = []
        var at = 0
        while at < new.count {
            let n = min(chunkSize, new.count - at)
            // Opaque identifiers instead of BLAKE2b (the plan leaves chunks out).
            let piece = new[at..<(at + n)]
            let id = UInt64(piece.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
            checksums.append(ChunkChecksum(id, UInt64(n), 0))
            sizes.append(n)
            at += n
        }
        let plan = try DeltaPlanner.plan(target: Blockmap(checksums: checksums, sizes: sizes),
                                         seeds: [PlanSeedInput(path: "none", size: 0, blockmap: Blockmap(checksums: [], sizes: []))],
                                         options: PlanOptions(includeChunks: false))
        #expect(plan.totals.fetchBytes == 3 << 20 + 12345 || plan.totals.fetchBytes == 3 << 20)
        #expect(plan.totals.duplicateBytes >= 12 << 20)
        let source = try dir.write("server.bin", new)
        let out = dir.path("out.bin")
        let report = try FileApplier.apply(plan: plan, source: LocalFileRangeSource(path: source), to: out,
                                           expectedSHA512: SHA2Hasher.hash(.sha512, new).bytes)
        #expect(report.statistics.bytesDuplicated == plan.totals.duplicateBytes)
        #expect(try Self.contents(out) == new)
    }
}
