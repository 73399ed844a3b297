import BlockyardCore
import BlockyardTestSupport
import Testing

@Suite("Rabin fingerprint and chunker")
struct RabinChunkerTests {
    @Test func tablesMatchSharedFile() throws {
        let rows = try SharedVectors.rabinTables()
        #expect(rows.count == 256)
        let tables = RabinTables.standard
        for (i, push, pop) in rows {
            #expect(tables.push[i] == push, "push[\(i)]")
            #expect(tables.pop[i] == pop, "pop[\(i)]")
        }
    }

    @Test func windowFingerprintsFromSpec() {
        let t = RabinTables.standard
        #expect(t.fingerprint([UInt8](repeating: 0, count: 64)) == 0)
        #expect(t.fingerprint([UInt8](repeating: 0, count: 63) + [1]) == 1)
        #expect(t.fingerprint([1] + [UInt8](repeating: 0, count: 63)) == 0x7f73212393268de0)
        #expect(t.fingerprint([UInt8](repeating: 0xFF, count: 64)) == 0x68624a696913dea4)
        let hello = Array(String(repeating: "hello world. ", count: 5).utf8.prefix(64))
        #expect(t.fingerprint(hello) == 0x29332f2a4ab55154)
    }

    @Test func workedChunksOfRandom2() {
        let data = VectorInputs.randomBytes(seed: 2, count: 3_145_728)
        #expect(Array(data.prefix(4)) == [0xce, 0x56, 0x97, 0x1c])
        let ends = data.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        #expect(Array(ends.prefix(4)) == [14771, 31527, 54688, 87456])
        #expect(ends.count == 152)
        let first = data.withUnsafeBytes { ChunkChecksum(of: UnsafeRawBufferPointer(rebasing: $0[0..<14771])) }
        #expect(first.base64 == "RlCvZNOxvyDX4vfTl5neZosG")
    }

    /// Feeding the input in random pieces gives exactly the one-shot cuts.
    @Test(arguments: [1, 2, 3, 4])
    func incrementalEqualsOneShot(seed: UInt64) {
        let data = VectorInputs.randomBytes(seed: 100 + seed, count: 600_000 + Int(seed) * 7919)
        let expected = data.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        var rng = SplitMix(seed: seed)
        for round in 0..<4 {
            var chunker = Chunker()
            var ends: [Int] = []
            var i = 0
            while i < data.count {
                // Mix tiny, window-sized and large pieces.
                let scale = [3, 70, 5000, 70_000][Int(rng.next() % 4)]
                let n = min(data.count - i, 1 + Int(rng.next() % UInt64(scale)))
                data[i..<(i + n)].withUnsafeBytes { chunker.feed($0) { ends.append($0) } }
                i += n
            }
            if let last = chunker.finish() { ends.append(last) }
            #expect(ends == expected, "round \(round)")
        }
    }

    @Test func sizesAreWithinBoundsAndSumToInput() {
        let data = VectorInputs.randomBytes(seed: 77, count: 2_000_000)
        let ends = data.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        var previous = 0
        for (k, end) in ends.enumerated() {
            let size = end - previous
            if k < ends.count - 1 { #expect((8192...32768).contains(size)) }
            #expect(size > 0)
            previous = end
        }
        #expect(previous == data.count)
    }

    @Test func zerosAreCutOnlyByMaxSize() {
        let zeros = [UInt8](repeating: 0, count: 100_000)
        let ends = zeros.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        #expect(ends == [32768, 65536, 98304, 100_000])
    }

    /// An insertion near the start changes only the first chunks; cuts resynchronise.
    @Test func insertionResynchronises() {
        let base = VectorInputs.randomBytes(seed: 9, count: 1_500_000)
        var edited = base
        edited.insert(contentsOf: [1, 2, 3, 4, 5, 6, 7], at: 5000)
        let a = base.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        let b = edited.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        let shiftedB = Set(b.map { $0 - 7 })
        let common = a.filter { shiftedB.contains($0) }
        // All but the first two or three cuts are shared (shifted by the 7 inserted bytes).
        #expect(common.count >= a.count - 3)
        #expect(a.count > 50)
    }
}

/// SplitMix64 for deterministic test randomness.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
