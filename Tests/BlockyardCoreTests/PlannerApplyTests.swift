import BlockyardCore
import Testing

/// The pure apply engine: batching, streaming, verification, invalid plans.
@Suite("Planner: apply engine")
struct PlannerApplyTests {
    static let seed = SynthFile(ids: [1, 2, 3, 4, 5, 6])
    static let new = SynthFile(ids: [10, 2, 3, 11, 5, 12, 10, 6])

    static func plan(_ options: PlanOptions = PlanOptions()) throws -> DeltaPlan {
        try DeltaPlanner.plan(target: new.blockmap, seeds: [seed.seed()], options: options)
    }

    @Test func batchesFollowRangesPerRequest() throws {
        // Requests cost 500 bytes here: merging the 1000-byte gap to save one is not worth it.
        let plan = try Self.plan(PlanOptions(costModel: PlanCostModel(requestOverhead: 500, maxRangesPerRequest: 2)))
        #expect(plan.totals.fetchRanges == 3 && plan.totals.requests == 2)
        let source = MemoryRangeSource(Self.new.bytes, pieceSize: 333)
        let output = MemoryApplyOutput(bufferSize: 100)
        let stats = try PlanExecutor.execute(plan, seeds: MemorySeeds([Self.seed.bytes]), source: source, output: output)
        #expect(output.bytes == Self.new.bytes)
        #expect(source.requests.map(\.count) == [2, 1])
        #expect(source.requests.flatMap { $0 }.map(\.description) == ["0-999", "3000-3999", "5000-5999"])
        #expect(stats.requests == 2 && stats.ranges == 3)
        #expect(stats.bytesFetched == 3000 && stats.bytesCopied == 4000 && stats.bytesDuplicated == 1000)
        #expect(stats.bytesWritten == 8000)
    }

    @Test func verifiesChunksAndNamesTheSeed() throws {
        let plan = try Self.plan()
        var changed = Self.seed.bytes
        changed[4321] ^= 0xFF  // inside seed chunk #4 (id 5), used by the new file's chunk #4
        let output = MemoryApplyOutput()
        do {
            _ = try PlanExecutor.execute(plan, seeds: MemorySeeds([changed]), source: MemoryRangeSource(Self.new.bytes),
                                         output: output, options: ApplyOptions(verifyChunks: true))
            Issue.record("a changed seed must be detected")
        } catch ApplyError.chunkMismatch(let m) {
            #expect(m.chunkIndex == 4 && m.targetOffset == 4000 && m.size == 1000)
            #expect(m.operation.kind == .copy && m.operation.seed == 0)
            #expect(m.sourceOffset == 4000)
            #expect(m.description.contains("copied from seed 0 (seed) at offset 4000"))
            #expect(m.expected == Self.new.checksums[4])
        }
        // It stopped at the bad chunk: nothing after it was written.
        #expect(output.bytes.count <= 5000)
        // The same corruption found afterwards by re-reading the output.
        let written = try rebuild(plan, seeds: [changed], new: Self.new.bytes)
        let found = try PlanExecutor.diagnose(plan, bufferSize: 300) { offset, buffer in
            written.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)])) }
        }
        #expect(found?.chunkIndex == 4 && found?.operation.kind == .copy)
        // A wrong range source is named as such.
        var wrongNew = Self.new.bytes
        wrongNew[10] ^= 1
        #expect(throws: ApplyError.self) {
            _ = try rebuild(plan, seeds: [Self.seed.bytes], new: wrongNew, options: ApplyOptions(verifyChunks: true))
        }
    }

    @Test func sourceDeliveringTooLittleOrTooMuch() throws {
        let plan = try Self.plan()
        struct Short: RangeSource {
            func fetch(_ ranges: [ByteRange], receive: (UnsafeRawBufferPointer) throws -> Void) throws {
                try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try receive($0) }
            }
        }
        struct Long: RangeSource {
            func fetch(_ ranges: [ByteRange], receive: (UnsafeRawBufferPointer) throws -> Void) throws {
                let total = ranges.reduce(0) { $0 + $1.length }
                try [UInt8](repeating: 1, count: total + 1).withUnsafeBytes { try receive($0) }
            }
        }
        #expect(throws: ApplyError.sourceShort(delivered: 10, expected: 3000)) {
            try PlanExecutor.execute(plan, seeds: MemorySeeds([Self.seed.bytes]), source: Short(), output: MemoryApplyOutput())
        }
        #expect(throws: ApplyError.sourceExcess(expected: 3000)) {
            try PlanExecutor.execute(plan, seeds: MemorySeeds([Self.seed.bytes]), source: Long(), output: MemoryApplyOutput())
        }
        #expect(throws: ApplyError.self) {
            try PlanExecutor.execute(plan, seeds: MemorySeeds([Self.seed.bytes]), source: MemoryRangeSource(Array(Self.new.bytes.prefix(4000))),
                                     output: MemoryApplyOutput())
        }
    }

    @Test func invalidPlansAreRejectedBeforeWriting() throws {
        let good = try Self.plan()
        func rejects(_ edit: (inout DeltaPlan) -> Void) -> PlanFormatError? {
            var p = good
            edit(&p)
            do { try p.validate(); return nil } catch { return error }
        }
        #expect(rejects { _ in } == nil)
        #expect(rejects { $0.format = "other" } == .notAPlan(format: "other"))
        #expect(rejects { $0.formatVersion = 9 } == .unsupportedFormatVersion(9))
        #expect(rejects { $0.operations[1].targetOffset += 1 } == .notContiguous(operation: 1, expected: 1000, found: 1001))
        #expect(rejects { $0.operations[1].seed = 5 } == .unknownSeed(operation: 1, seed: 5))
        #expect(rejects { $0.operations[1].sourceOffset = 5500 }
                == .seedRangeOutOfBounds(operation: 1, seed: 0, offset: 5500, length: 2000, seedSize: 6000))
        #expect(rejects { $0.target.size += 1 } == .sizeMismatch(operationsEnd: 8000, targetSize: 8001))
        #expect(rejects { $0.operations[$0.operations.count - 1].length = -1 } == .negativeValue(field: "operations[6].length"))
        let dup = good.operations.firstIndex { $0.kind == .duplicate }!
        #expect(rejects { $0.operations[dup].sourceOffset = $0.operations[dup].targetOffset }
                == .duplicateSourceNotEarlier(operation: dup, sourceOffset: 6000, targetOffset: 6000))
        #expect(rejects { $0.target.chunks!.sizes[0] += 1 } != nil)
        #expect(throws: PlanFormatError.self) {
            var p = good
            p.operations.removeLast()
            _ = try rebuild(p, seeds: [Self.seed.bytes], new: Self.new.bytes)
        }
    }

    @Test func expectedDigestForms() throws {
        let digest = SHA2Hasher.hash(.sha512, [1, 2, 3])
        #expect(try ExpectedDigest.sha512(digest.base64) == digest.bytes)
        #expect(try ExpectedDigest.sha512(digest.hex) == digest.bytes)
        #expect(try ExpectedDigest.sha512(" \(digest.base64)\n") == digest.bytes)
        #expect(throws: ApplyError.self) { try ExpectedDigest.sha512("abc") }
        #expect(throws: ApplyError.self) { try ExpectedDigest.sha512(String(digest.base64.dropLast(2))) }
    }
}
