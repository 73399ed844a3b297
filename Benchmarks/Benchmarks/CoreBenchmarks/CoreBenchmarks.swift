import Benchmark
import BlockyardCore

/// Deterministic pseudo-random bytes (SplitMix64), the same stream as the shared vectors.
func randomBytes(seed: UInt64, count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: (count + 7) / 8 * 8)
    out.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        var x = seed
        for i in 0..<words.count {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words[i] = (z ^ (z >> 31)).littleEndian
        }
    }
    return Array(out.prefix(count))
}

let mebibytes = 64
let data = randomBytes(seed: 3, count: mebibytes << 20)

let benchmarks: @Sendable () -> Void = {
    let throughput = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        scalingFactor: .one,
        maxDuration: .seconds(5),
        maxIterations: 20)

    Benchmark("SHA-512 64 MiB (OpenSSL EVP)", configuration: throughput) { benchmark in
        data.withUnsafeBytes { bytes in
            let hasher = SHA2Hasher(.sha512)
            hasher.update(bytes)
            blackHole(hasher.finalize())
        }
    }

    Benchmark("SHA-256 64 MiB (OpenSSL EVP)", configuration: throughput) { benchmark in
        data.withUnsafeBytes { bytes in
            let hasher = SHA2Hasher(.sha256)
            hasher.update(bytes)
            blackHole(hasher.finalize())
        }
    }

    Benchmark("BLAKE2b-18 64 MiB in 16 KiB chunks", configuration: throughput) { benchmark in
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                blackHole(BLAKE2b.chunkChecksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 16384)])))
                offset += 16384
            }
        }
    }

    Benchmark("Rabin cuts 64 MiB (sequential chunker)", configuration: throughput) { benchmark in
        data.withUnsafeBytes { bytes in
            blackHole(Chunker.chunkEnds(of: bytes))
        }
    }

    Benchmark("Rabin candidates 64 MiB (4-lane scanner)", configuration: throughput) { benchmark in
        data.withUnsafeBufferPointer { bytes in
            var candidates: [Int] = []
            BoundaryScanner.scan(bytes.baseAddress!, from: 64, to: bytes.count, mask: 0x3FFF, into: &candidates)
            blackHole(candidates)
        }
    }

    Benchmark("Blockmap 64 MiB single thread (chunk + BLAKE2b + SHA-512)", configuration: throughput) { benchmark in
        data.withUnsafeBytes { bytes in
            blackHole(BlockmapBuilder.build(bytes))
        }
    }

    let blockmap = data.withUnsafeBytes { BlockmapBuilder.build($0) }.blockmap
    let json = blockmap.jsonBytes()
    let gzip = BlockmapCodec.encodeGzip(blockmap)

    Benchmark("Blockmap JSON encode (3200 chunks)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(blockmap.jsonBytes()) }
    }

    Benchmark("Blockmap JSON parse (3200 chunks)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Blockmap(json: json)) }
    }

    Benchmark("Blockmap gzip decode + parse (3200 chunks)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try BlockmapCodec.decodeGzip(gzip)) }
    }

    planBenchmarks(blockmap: blockmap)
    multipartBenchmarks()
}
