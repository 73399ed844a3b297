import BlockyardCore
import Foundation
import BlockyardIO
import BlockyardTestSupport
import Testing

/// The parallel generator (mmap, windows, candidate scan + chaining, tasks on several
/// threads) gives exactly the single-threaded reference results.
@Suite("Parallel blockmap generation")
struct ParallelBlockmapTests {
    @Test(arguments: ["random-2-3145728", "zeros-1048576", "bundle-7-48-insert100", "random-3-67108864"])
    func matchesGoldenVectors(name: String) throws {
        let dir = try TemporaryDirectory()
        let expected = try SharedVectors.expected(name)
        let path = try dir.write(name, VectorInputs.generate(name)!)
        for threads in [1, 2, 3] {
            let app = try BlockmapGenerator.generate(path: path, compat: .appBuilder, threads: threads)
            #expect(app.blockmap.json == expected.blockmapJSON, "threads \(threads)")
            #expect(app.info.json == expected.infoJSON)
        }
        let eb = try BlockmapGenerator.generate(path: path, compat: .electronBuilder)
        #expect(eb.blockmap.json == expected.electronBuilderJSON)
    }

    /// Random sizes around window and chunk boundaries, compared with the streaming builder.
    @Test func randomSizesMatchStreamingBuilder() throws {
        let dir = try TemporaryDirectory()
        let window = 4 << 20
        let sizes = [1 << 20, (1 << 20) + 1, window - 1, window, window + 1, window + 8192, 2 * window + 32768, 3 * window - 12345]
        for (i, size) in sizes.enumerated() {
            let data = VectorInputs.randomBytes(seed: 1000 + UInt64(i), count: size)
            let path = try dir.write("f\(i)", data)
            for compat in BlockmapCompat.allCases {
                let reference = data.withUnsafeBytes { BlockmapBuilder.build($0, compat: compat) }
                let parallel = try BlockmapGenerator.generate(path: path, compat: compat, threads: 2)
                #expect(parallel.blockmap == reference.blockmap, "size \(size) \(compat)")
                #expect(parallel.sha512 == reference.sha512)
                // Chunking a seed without the whole-file SHA-512 gives the same chunks, and
                // reports progress for every byte.
                let counted = ByteCounter()
                let seed = try BlockmapGenerator.chunk(path: path, compat: compat, threads: 2, progress: counted.add)
                #expect(seed.blockmap == reference.blockmap, "chunk: size \(size) \(compat)")
                #expect(seed.size == size)
                #expect(counted.total == size)
            }
        }
    }

    /// Inputs that end exactly on a hash cut or a size cut (the trailing zero-chunk cases).
    @Test func endsExactlyOnCuts() throws {
        let dir = try TemporaryDirectory()
        let data = VectorInputs.randomBytes(seed: 2, count: 3_145_728)
        let ends = data.withUnsafeBytes { Chunker.chunkEnds(of: $0) }
        let zeros = [UInt8](repeating: 0, count: 32768 * 40)
        for (k, bytes) in [Array(data.prefix(ends[60])), Array(data.prefix(ends[100])), zeros].enumerated() {
            let path = try dir.write("cut\(k)", bytes)
            let reference = bytes.withUnsafeBytes { BlockmapBuilder.build($0, compat: .appBuilder) }
            let parallel = try BlockmapGenerator.generate(path: path, compat: .appBuilder, threads: 2)
            #expect(parallel.blockmap == reference.blockmap)
            #expect(parallel.blockmap.files[0].sizes.last == 0)
        }
    }

    final class ByteCounter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add(_ n: Int) { lock.withLock { count += n } }
        var total: Int { lock.withLock { count } }
    }

    @Test func scannerLanesEqualSingleLane() {
        let data = VectorInputs.randomBytes(seed: 44, count: 3_000_000)
        data.withUnsafeBufferPointer { buf in
            for (from, to) in [(64, 3_000_000), (100, 1_000_003), (5000, 5000 + 1023), (64, 64 + 1024 * 4 + 3)] {
                var a: [Int] = [], b: [Int] = []
                BoundaryScanner.scan(buf.baseAddress!, from: from, to: to, mask: 0x3FFF, into: &a)
                BoundaryScanner.scanLane(buf.baseAddress!, from: from, to: to, mask: 0x3FFF, into: &b)
                #expect(a.sorted() == b, "\(from)..<\(to)")
                #expect(a == a.sorted())
            }
        }
    }
}
