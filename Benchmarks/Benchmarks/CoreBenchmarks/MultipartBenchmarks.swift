import Benchmark
import BlockyardCore

/// 500 ranges of 16 KiB spread over the 64 MiB buffer: one full multi-range request of
/// electron-updater's (a batch of 1000 operations).
let multipartRanges: [ByteRange] = (0..<500).map { ByteRange(offset: $0 * 131_072 + 4096, length: 16_384) }

/// The body nginx would send for those ranges.
func multipartBody(_ encoder: MultipartByterangesEncoder) -> [UInt8] {
    var body: [UInt8] = []
    body.reserveCapacity(encoder.contentLength)
    data.withUnsafeBytes { bytes in
        for (i, range) in encoder.ranges.enumerated() {
            body += encoder.partHeader(i)
            body += UnsafeRawBufferPointer(rebasing: bytes[range.range])
        }
    }
    body += encoder.closing
    return body
}

func multipartBenchmarks() {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        maxDuration: .seconds(5),
        maxIterations: 200)
    let encoder = MultipartByterangesEncoder(boundary: MultipartByterangesEncoder.boundary(seed: 1),
                                             partContentType: "application/octet-stream",
                                             totalSize: data.count, ranges: multipartRanges)

    Benchmark("Multipart encode 500 ranges × 16 KiB", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(multipartBody(encoder)) }
    }

    let body = multipartBody(encoder)
    let contentType = encoder.contentType
    Benchmark("Multipart parse 500 ranges × 16 KiB (fed in 64 KiB reads)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations {
            var parser = try MultipartByterangesParser(contentType: contentType, expecting: multipartRanges)
            var received = 0
            try body.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let end = min(bytes.count, offset + 65_536)
                    try parser.feed(UnsafeRawBufferPointer(rebasing: bytes[offset..<end])) { _, _, piece in
                        received += piece.count
                    }
                    offset = end
                }
            }
            try parser.finish()
            blackHole(received)
        }
    }
}
