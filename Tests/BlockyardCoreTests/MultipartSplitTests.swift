@testable import BlockyardCore
import Foundation
import BlockyardTestSupport
import Testing

/// multipart/byteranges framing under arbitrary reads: header-end alignment of the encoder
/// (issue: electron-updater loses a part whose header end is split) and Blockyard's own
/// parser fed at any split position.
@Suite("multipart splits")
struct MultipartSplitTests {
    /// Random ranges of a file of `size` bytes, ascending, parts of 1 … `maxPart` bytes.
    static func randomRanges(_ rng: inout SplitMix64, size: Int, count: Int, maxPart: Int) -> [ByteRange] {
        var ranges: [ByteRange] = []
        var position = 0
        for _ in 0..<count {
            let gap = Int.random(in: 0...64, using: &rng)
            let length = Int.random(in: 1...maxPart, using: &rng)
            guard position + gap + length <= size else { break }
            ranges.append(ByteRange(offset: position + gap, length: length))
            position += gap + length
        }
        return ranges
    }

    static func body(_ encoder: MultipartByterangesEncoder, data: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        for (index, range) in encoder.ranges.enumerated() { body += encoder.partHeader(index) + data[range.range] }
        return body + encoder.closing
    }

    /// Body offsets of the first byte of every part header's closing CRLFCRLF.
    static func headerEnds(_ encoder: MultipartByterangesEncoder) -> [Int] {
        var ends: [Int] = []
        var position = 0
        for (index, range) in encoder.ranges.enumerated() {
            let header = encoder.partHeader(index).count
            ends.append(position + header - 4)
            position += header + range.length
        }
        return ends
    }

    @Test func straddleRule() {
        // "\r\n\r\n" at 1020…1023 is whole before 1024; at 1021, 1022, 1023 a cut at 1024 splits it.
        #expect(!MultipartByterangesEncoder.straddles(headerEnd: 1020, alignment: 1024))
        #expect(MultipartByterangesEncoder.straddles(headerEnd: 1021, alignment: 1024))
        #expect(MultipartByterangesEncoder.straddles(headerEnd: 1023, alignment: 1024))
        #expect(!MultipartByterangesEncoder.straddles(headerEnd: 1024, alignment: 1024))
        #expect(MultipartByterangesEncoder.straddles(headerEnd: 65_533, alignment: 1024))
    }

    /// Whatever the read origins (the body's start, the response head's start, the
    /// connection's first byte), after alignment no header end straddles a 1 KiB step from
    /// any of them, the padding is a header field ending in CRLF, the content length is exact,
    /// and only parts that needed it are padded, with the shortest padding that works.
    @Test func alignedHeaderEndsNeverStraddle() throws {
        var rng = SplitMix64(seed: 0x5eed_0015)
        let data = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var paddedCount = 0
        for round in 0..<100 {
            let ranges = Self.randomRanges(&rng, size: data.count, count: Int.random(in: 2...300, using: &rng),
                                           maxPart: round % 2 == 0 ? 2000 : 12_000)
            guard ranges.count >= 2 else { continue }
            var encoder = MultipartByterangesEncoder(boundary: MultipartByterangesEncoder.boundary(seed: UInt64(round)),
                                                     partContentType: "application/octet-stream", totalSize: data.count, ranges: ranges)
            let unpadded = encoder
            let head = Int.random(in: 200...600, using: &rng)
            let origins = [0, -head, -(head + Int.random(in: 0...5_000_000, using: &rng))]
            encoder.alignHeaderEnds(readOrigins: origins)
            let body = Self.body(encoder, data: data)
            #expect(body.count == encoder.contentLength)
            for end in Self.headerEnds(encoder) {
                #expect(Array(body[end..<(end + 4)]) == [13, 10, 13, 10])
                for origin in origins {
                    #expect(!MultipartByterangesEncoder.straddles(headerEnd: end - origin, alignment: 1024), "round \(round): header end at \(end), origin \(origin)")
                }
            }
            // Padding only where the unpadded header end (shifted by earlier padding) straddled,
            // and no shorter padding would have done.
            var shift = 0
            for index in ranges.indices {
                let plainEnd = Self.headerEnds(unpadded)[index] + shift
                let needed = origins.contains { MultipartByterangesEncoder.straddles(headerEnd: plainEnd - $0, alignment: 1024) }
                let digits = encoder.paddingDigits[index]
                #expect((digits > 0) == needed)
                if digits > 1 {
                    let shorter = plainEnd + MultipartByterangesEncoder.paddingField(digits: digits - 1).utf8.count
                    #expect(origins.contains { MultipartByterangesEncoder.straddles(headerEnd: shorter - $0, alignment: 1024) })
                }
                if digits > 0 {
                    shift += MultipartByterangesEncoder.paddingField(digits: digits).utf8.count
                    paddedCount += 1
                }
            }
            // Blockyard's parser reads padded bodies (the padding is just another field).
            var parser = try MultipartByterangesParser(contentType: encoder.contentType, expecting: ranges, totalSize: data.count)
            var received = 0
            try body.withUnsafeBytes { raw in
                try parser.feed(raw) { part, offsetInPart, bytes in
                    #expect(Array(bytes) == Array(data[(ranges[part].offset + offsetInPart)..<(ranges[part].offset + offsetInPart + bytes.count)]))
                    received += bytes.count
                }
            }
            try parser.finish()
            #expect(received == ranges.reduce(0) { $0 + $1.length })
        }
        #expect(paddedCount > 20)
    }

    /// Feeds `body` to a fresh parser in pieces cut at `cuts`; returns each part's bytes.
    static func parse(_ body: [UInt8], contentType: String, ranges: [ByteRange], totalSize: Int?, cuts: [Int]) throws -> [[UInt8]] {
        var parser = try MultipartByterangesParser(contentType: contentType, expecting: ranges, totalSize: totalSize)
        var received = ranges.map { _ in [UInt8]() }
        var start = 0
        for cut in cuts.sorted() + [body.count] where cut >= start {
            try body[start..<cut].withUnsafeBytes { raw in
                try parser.feed(raw) { part, offset, bytes in
                    #expect(offset == received[part].count)
                    received[part] += bytes
                }
            }
            start = cut
        }
        try parser.finish()
        return received
    }

    /// Blockyard's client parser accepts a split at any byte of every part header (and of the
    /// delimiters around them), and any number of random splits anywhere.
    @Test func parserAcceptsAnySplit() throws {
        var rng = SplitMix64(seed: 0xc11e_0015)
        let data = (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        for round in 0..<6 {
            let ranges = Self.randomRanges(&rng, size: data.count, count: Int.random(in: 2...16, using: &rng), maxPart: 1500)
            var encoder = MultipartByterangesEncoder(boundary: MultipartByterangesEncoder.boundary(seed: UInt64(round)),
                                                     partContentType: "application/octet-stream", totalSize: data.count, ranges: ranges)
            if round % 2 == 1 { encoder.alignHeaderEnds(readOrigins: [0, -Int.random(in: 0...100_000, using: &rng)]) }
            let body = Self.body(encoder, data: data)
            let expected = ranges.map { Array(data[$0.range]) }
            // Every single split position inside a part header or a delimiter.
            var framing: [Int] = []
            var position = 0
            for (index, range) in ranges.enumerated() {
                framing += Array(position...(position + encoder.partHeader(index).count))
                position += encoder.partHeader(index).count + range.length
            }
            framing += Array(position...body.count)
            for cut in framing {
                #expect(try Self.parse(body, contentType: encoder.contentType, ranges: ranges, totalSize: data.count, cuts: [cut]) == expected,
                        "round \(round), split at \(cut)")
            }
            // Many random splits at once, some one byte apart.
            for _ in 0..<50 {
                var cuts = (0..<Int.random(in: 1...200, using: &rng)).map { _ in Int.random(in: 0...body.count, using: &rng) }
                cuts += cuts.prefix(20).map { min($0 + 1, body.count) }
                #expect(try Self.parse(body, contentType: encoder.contentType, ranges: ranges, totalSize: data.count, cuts: cuts) == expected)
            }
            // One byte at a time.
            if round < 2 {
                #expect(try Self.parse(body, contentType: encoder.contentType, ranges: ranges, totalSize: data.count,
                                       cuts: Array(0...body.count)) == expected)
            }
        }
    }

    /// A part whose Content-Range names another total size is not the file asked for (the
    /// single-range path already checks this).
    @Test func parserChecksEachPartsTotal() throws {
        let data = (0..<100).map { UInt8($0) }
        let ranges = [ByteRange(first: 0, last: 9), ByteRange(first: 20, last: 29)]
        let encoder = MultipartByterangesEncoder(boundary: "b", partContentType: "x", totalSize: 101, ranges: ranges)
        let body = Self.body(encoder, data: data + [0])
        #expect(throws: MultipartError.wrongTotal(expected: 100, got: 101)) {
            _ = try Self.parse(body, contentType: encoder.contentType, ranges: ranges, totalSize: 100, cuts: [])
        }
        // Unknown total (`*`) and an unknown expected size are accepted.
        let starred = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "/101", with: "/*").utf8)
        #expect(try Self.parse(starred, contentType: encoder.contentType, ranges: ranges, totalSize: 100, cuts: []).count == 2)
        #expect(try Self.parse(body, contentType: encoder.contentType, ranges: ranges, totalSize: nil, cuts: []).count == 2)
        // A malformed Content-Range is refused, not prefix-matched.
        let junk = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "bytes 0-9/101", with: "bytes 0-9/10x").utf8)
        #expect(throws: MultipartError.self) {
            _ = try Self.parse(junk, contentType: encoder.contentType, ranges: ranges, totalSize: 100, cuts: [])
        }
    }
}
