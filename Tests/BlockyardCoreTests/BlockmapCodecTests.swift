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

    /// A reader over `bytes` in 64 KiB pieces that counts what was read.
    final class CountingReader {
        let bytes: [UInt8]
        var consumed = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func read(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
            let n = min(buffer.count, 64 << 10, bytes.count - consumed)
            buffer.copyBytes(from: bytes[consumed..<(consumed + n)])
            consumed += n
            return n
        }
    }

    static let checksum = #""kaGkgagus/PmJi3hHxQtI0lF""#

    /// `{"version":"2","files":[{…}]}` with the file's members in the given order.
    static func json(sizes: String, checksums: String, sizesFirst: Bool = false) -> [UInt8] {
        let members = sizesFirst
            ? #""sizes":[\#(sizes)],"checksums":[\#(checksums)]"#
            : #""checksums":[\#(checksums)],"sizes":[\#(sizes)]"#
        return Array(#"{"version":"2","files":[{"name":"file","offset":0,\#(members)}]}"#.utf8)
    }

    @Test func zeroLengthChunksBeforeTheLastAreRefusedAtOnce() throws {
        // electron-builder never writes a zero-length chunk; app-builder only as the last one.
        let count = 1_000_000
        let zeros = Array(repeating: "0", count: count).joined(separator: ",")
        let checksums = Array(repeating: Self.checksum, count: count).joined(separator: ",")
        let refused = BlockmapError.invalidSize(file: "file", index: 0, value: "0, before the last chunk")
        let gz = Zlib.compress(Self.json(sizes: zeros, checksums: checksums), format: .gzip, level: 1)
        #expect(throws: refused) { try BlockmapCodec.decodeGzip(gz) }
        // With the sizes first, the decoder stops at the second size, long before the end
        // (stored gzip, so that bytes read measure how far it got).
        let early = Zlib.compress(Self.json(sizes: zeros, checksums: checksums, sizesFirst: true), format: .gzip, level: 0)
        let reader = CountingReader(early)
        #expect(throws: refused) { try BlockmapCodec.decodeGzip(reading: reader.read) }
        #expect(reader.consumed <= 2 << 20, "read \(reader.consumed) of \(early.count) bytes")
        #expect(early.count > 4 << 20)
        // app-builder's trailing zero-length chunk is still valid.
        let trailing = try Blockmap(json: Self.json(sizes: "5,0", checksums: Self.checksum + "," + Self.checksum))
        #expect(trailing.files[0].sizes == [5, 0])
    }

    @Test func invalidJSONIsRefusedAtItsFirstBadByte() throws {
        // 20 MiB of stored (uncompressed) gzip whose JSON goes wrong at byte 64: refused after
        // the first pieces, never inflated whole.
        let prefix = Array(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":["#.utf8)
        for filler: UInt8 in [UInt8(ascii: "x"), UInt8(ascii: "\""), UInt8(ascii: "[")] {
            let gz = Zlib.compress(prefix + [UInt8](repeating: filler, count: 20 << 20), format: .gzip, level: 0)
            let reader = CountingReader(gz)
            #expect(throws: BlockmapError.self) { try BlockmapCodec.decodeGzip(reading: reader.read) }
            #expect(reader.consumed <= 2 << 20, "read \(reader.consumed) of \(gz.count) bytes")
        }
        // A never-ending string is not collected: refused after a few dozen characters.
        let endless = Zlib.compress(prefix + Array("\"".utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: 20 << 20), format: .gzip, level: 0)
        let reader = CountingReader(endless)
        #expect {
            try BlockmapCodec.decodeGzip(reading: reader.read)
        } throws: { error in
            guard case BlockmapError.invalidChecksum(_, 0, let value) = error else { return false }
            return value.count < 100
        }
        #expect(reader.consumed <= 2 << 20)
    }

    @Test func streamingAndInMemoryDecodingAgree() throws {
        let gz = BlockmapCodec.encodeGzip(Self.sample)
        let reader = CountingReader(gz)
        #expect(try BlockmapCodec.decodeGzip(reading: reader.read) == Self.sample)
        let tail = BlockmapCodec.embeddedTail(Self.sample)
        let embedded = CountingReader(Array(tail.dropLast(4)))
        #expect(try BlockmapCodec.decodeEmbedded(reading: embedded.read) == Self.sample)
        // Errors of the stream are the in-memory decoder's.
        let truncated = CountingReader(Array(gz.prefix(gz.count / 2)))
        #expect(throws: BlockmapError.compression(.truncated(format: "gzip"))) { try BlockmapCodec.decodeGzip(reading: truncated.read) }
        let trailing = CountingReader(gz + [1, 2, 3])
        #expect(throws: BlockmapError.compression(.trailingData(format: "gzip", count: 3))) { try BlockmapCodec.decodeGzip(reading: trailing.read) }
        #expect(throws: BlockmapError.notGzip(firstBytes: [0x7B, 0x22])) { try BlockmapCodec.decodeGzip(reading: CountingReader(Array(#"{""#.utf8)).read) }
    }

    @Test func deepNestingIsRefusedNotRecursed() {
        let deep = Array(#"{"version":"2","x":"#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect { try Blockmap(json: deep) } throws: { error in
            guard case BlockmapError.invalidJSON(_, let reason) = error else { return false }
            return reason.contains("nested")
        }
    }
}
