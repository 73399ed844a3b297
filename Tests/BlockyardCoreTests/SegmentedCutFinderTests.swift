import BlockyardCore
import BlockyardTestSupport
import Testing

/// ``SegmentedCutFinder`` (scanner + chainer per segment) finds exactly the cuts of the
/// sequential ``Chunker`` with ``Chunker/cutHere()`` at the same boundaries.
@Suite("Segmented cut finder")
struct SegmentedCutFinderTests {
    struct Result: Equatable {
        var cuts: [Int]
        var forced: Int
        var endsOnCut: Bool
    }

    /// The store's original algorithm: feed up to each boundary, then `cutHere()`.
    static func sequential(_ data: [UInt8], boundaries: [Int]) -> Result {
        var chunker = Chunker()
        var cuts: [Int] = []
        var forced = 0
        let stops = Array(Set(boundaries.filter { $0 > 0 && $0 < data.count })).sorted() + [data.count]
        var at = 0
        data.withUnsafeBytes { raw in
            for stop in stops {
                chunker.feed(UnsafeRawBufferPointer(rebasing: raw[at..<stop])) { cuts.append($0) }
                at = stop
                if stop < data.count, let end = chunker.cutHere() {
                    cuts.append(end)
                    forced += 1
                }
            }
        }
        if let end = chunker.finish() {
            cuts.append(end)
            return Result(cuts: cuts, forced: forced, endsOnCut: false)
        }
        return Result(cuts: cuts, forced: forced, endsOnCut: true)
    }

    /// The finder fed in pieces of random sizes, with the bytes before the current chunk
    /// made unreachable (as in the store's slots, which keep only the unfinished chunk).
    static func segmented(_ data: [UInt8], boundaries: [Int], seed: UInt64) -> Result {
        var finder = SegmentedCutFinder(totalSize: data.count, boundaries: boundaries)
        var cuts: [Int] = []
        var rng = SplitMix64(seed: seed)
        var at = 0
        while at < data.count {
            let piece = min(data.count - at, 1 + Int(rng.next() % 200_000))
            // A copy holding only [chunkStart, at + piece): what the caller must keep.
            let origin = finder.chunkStart
            let window = Array(data[origin..<(at + piece)])
            window.withUnsafeBufferPointer { buffer in
                finder.advance(buffer.baseAddress!, origin: origin, count: piece) { cuts.append($0) }
            }
            at += piece
        }
        #expect(finder.isFinished)
        return Result(cuts: cuts, forced: finder.forcedCuts, endsOnCut: finder.endsOnCut)
    }

    @Test func matchesTheSequentialChunker() {
        var rng = SplitMix64(seed: 99)
        let sizes = [0, 1, 100, 8191, 8192, 8193, 32768, 65536, 300_000, 1_048_576, 2_500_000]
        for (k, size) in sizes.enumerated() {
            let data = VectorInputs.randomBytes(seed: 500 + UInt64(k), count: size)
            let natural = data.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
            var boundarySets: [[Int]] = [[], [size], [0, size]]
            if size > 2 {
                boundarySets.append((0..<6).map { _ in Int(rng.next() % UInt64(size)) })
                boundarySets.append([size / 2, size / 2 + 1, size / 2 + 100])
                // Boundaries exactly on natural cuts (no forced cut there) and just after them.
                boundarySets.append(natural.prefix(5).flatMap { [$0, $0 + 1] })
                boundarySets.append(stride(from: 4096, to: size, by: 40_000).map { $0 })
            }
            for (b, boundaries) in boundarySets.enumerated() {
                let expected = Self.sequential(data, boundaries: boundaries)
                let got = Self.segmented(data, boundaries: boundaries, seed: UInt64(k * 100 + b))
                #expect(got == expected, "size \(size), boundaries #\(b)")
            }
        }
    }

    @Test func zerosAndMaxSizeCuts() {
        // Zeros never hit the mask: only size cuts, and forced cuts between them.
        let data = [UInt8](repeating: 0, count: 200_000)
        for boundaries in [[], [32768], [10_000, 70_000, 131_072]] {
            #expect(Self.segmented(data, boundaries: boundaries, seed: 1) == Self.sequential(data, boundaries: boundaries))
        }
    }
}
