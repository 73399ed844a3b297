import BlockyardCore
import BlockyardTestSupport
import Testing

@Suite("Blockmap codec: gzip, embedded, and bad input")
struct BlockmapCodecTests {
    static let sample: Blockmap = {
        let data = VectorInputs.randomBytes(seed: 5, count: 200_000)
        return data.withUnsafeBytes { BlockmapBuilder.build($0) }.blockmap
    }()

    @Test func gzipRoundTrip() throws {
        let bytes = BlockmapCodec.encodeGzip(Self.sample)
        #expect(Array(bytes.prefix(3)) == [0x1F, 0x8B, 0x08])
        #expect(try BlockmapCodec.decodeGzip(bytes) == Self.sample)
    }

    @Test func embeddedRoundTrip() throws {
        let tail = BlockmapCodec.embeddedTail(Self.sample)
        let trailer = Array(tail.suffix(4))
        let length = try BlockmapCodec.embeddedLength(trailer: trailer, fileSize: 200_000 + tail.count)
        #expect(length == tail.count - 4)
        // Go's and zlib's raw DEFLATE both end the stream; the JSON is what must match.
        #expect(try BlockmapCodec.decodeEmbedded(Array(tail.prefix(length))) == Self.sample)
    }

    @Test func helloWorldEmbeddedMatchesSpecJSON() throws {
        let hello = Array(String(repeating: "hello world. ", count: 1024).utf8)
        let result = hello.withUnsafeBytes { BlockmapBuilder.build($0, compat: .appBuilder) }
        let tail = BlockmapCodec.embeddedTail(result.blockmap)
        let inflated = try Zlib.decompress(Array(tail.dropLast(4)), format: .raw)
        #expect(String(decoding: inflated, as: UTF8.self) == #"{"version":"2","files":[{"name":"file","offset":0,"checksums":["gk9YMffcIDK/zN5PKnsMVapv"],"sizes":[13312]}]}"#)
    }

    @Test func plainJSONIsNotGzip() {
        let json = Array(Self.sample.json.utf8)
        #expect(throws: BlockmapError.notGzip(firstBytes: Array(json.prefix(4)))) {
            try BlockmapCodec.decodeGzip(json)
        }
        let message = BlockmapError.notGzip(firstBytes: Array(json.prefix(4))).description
        #expect(message.contains("plain JSON"))
        #expect(throws: BlockmapError.notGzip(firstBytes: [])) { try BlockmapCodec.decodeGzip([]) }
    }

    @Test func truncatedGzipAtEveryLength() {
        let bytes = BlockmapCodec.encodeGzip(Self.sample)
        // Every proper prefix fails cleanly, never crashes, never returns a blockmap.
        for cut in stride(from: 2, to: bytes.count, by: max(1, bytes.count / 300)) {
            #expect(throws: BlockmapError.self) { try BlockmapCodec.decodeGzip(Array(bytes.prefix(cut))) }
        }
        #expect(throws: BlockmapError.compression(.truncated(format: "gzip"))) {
            try BlockmapCodec.decodeGzip(Array(bytes.prefix(bytes.count / 2)))
        }
    }

    @Test func corruptGzip() {
        var bytes = BlockmapCodec.encodeGzip(Self.sample)
        bytes[bytes.count - 6] ^= 0xFF  // inside the CRC-32 trailer
        #expect(throws: BlockmapError.compression(.corrupt(format: "gzip", detail: "incorrect data check"))) {
            try BlockmapCodec.decodeGzip(bytes)
        }
        var flipped = BlockmapCodec.encodeGzip(Self.sample)
        flipped[20] ^= 0x55
        #expect(throws: BlockmapError.self) { try BlockmapCodec.decodeGzip(flipped) }
    }

    @Test func trailingGarbage() {
        let bytes = BlockmapCodec.encodeGzip(Self.sample) + [1, 2, 3]
        #expect(throws: BlockmapError.compression(.trailingData(format: "gzip", count: 3))) {
            try BlockmapCodec.decodeGzip(bytes)
        }
    }

    @Test func decompressionLimit() {
        let big = Zlib.compress([UInt8](repeating: 0, count: 1 << 20), format: .gzip)
        #expect(throws: CompressionError.tooLarge(limit: 1000)) {
            try Zlib.decompress(big, format: .gzip, limit: 1000)
        }
    }

    @Test func structuralErrors() {
        func parse(_ s: String) throws(BlockmapError) -> Blockmap { try Blockmap(json: Array(s.utf8)) }
        let c = "\"kaGkgagus/PmJi3hHxQtI0lF\""
        #expect(throws: BlockmapError.unsupportedVersion("3")) {
            try parse(#"{"version":"3","files":[]}"#)
        }
        #expect(throws: BlockmapError.missingField("version")) { try parse(#"{"files":[]}"#) }
        #expect(throws: BlockmapError.noFiles) { try parse(#"{"version":"2","files":[]}"#) }
        #expect(throws: BlockmapError.lengthMismatch(file: "file", checksums: 2, sizes: 1)) {
            try parse(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":[\#(c),\#(c)],"sizes":[5]}]}"#)
        }
        #expect(throws: BlockmapError.invalidChecksum(file: "file", index: 0, value: "abc")) {
            try parse(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":["abc"],"sizes":[5]}]}"#)
        }
        #expect(throws: BlockmapError.self) {
            try parse(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":[\#(c)],"sizes":[-5]}]}"#)
        }
        #expect(throws: BlockmapError.self) {
            try parse(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":[\#(c)],"sizes":[1.5]}]}"#)
        }
        #expect(throws: BlockmapError.self) { try parse(#"{"version":"2","files":[{"name":"file""#) }
        #expect(throws: BlockmapError.self) { try parse(#"{"version":"2","files":[]} x"#) }
        // Whitespace, key order and unknown keys are accepted.
        let relaxed = try? parse(" { \"files\" : [ { \"sizes\" : [ 5 ] , \"checksums\" : [ \(c) ], \"offset\": 0, \"name\": \"file\", \"x\": {\"y\": [1, true, null]} } ], \"version\" : \"2\" } ")
        #expect(relaxed?.files.first?.sizes == [5])
    }

    @Test func validateSizes() throws {
        let c = ChunkChecksum.empty
        let bad = Blockmap(checksums: [c, c], sizes: [0, 5])
        #expect(throws: BlockmapError.self) { try bad.validate() }
        let good = Blockmap(checksums: [c, c], sizes: [5, 0])
        try good.validate(expectedSize: 5)
        #expect(throws: BlockmapError.totalMismatch(expected: 6, actual: 5)) { try good.validate(expectedSize: 6) }
        #expect(BlockmapSummary(good).trailingZeroChunk)
    }
}
