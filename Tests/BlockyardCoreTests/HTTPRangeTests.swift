import BlockyardCore
import Testing

@Suite("HTTP ranges and multipart/byteranges")
struct HTTPRangeTests {
    func ranges(_ header: String, size: Int = 1000) -> RangeRequest {
        RangeRequest.evaluate(header, size: size)
    }

    @Test func singleAndSuffixAndOpenRanges() {
        #expect(ranges("bytes=0-99") == .ranges([ByteRange(first: 0, last: 99)]))
        #expect(ranges("bytes=900-") == .ranges([ByteRange(first: 900, last: 999)]))
        #expect(ranges("bytes=-100") == .ranges([ByteRange(first: 900, last: 999)]))
        #expect(ranges("bytes=-5000") == .ranges([ByteRange(first: 0, last: 999)]))
        #expect(ranges("bytes=990-5000") == .ranges([ByteRange(first: 990, last: 999)]))
        #expect(ranges("Bytes = 1-2") == .ranges([ByteRange(first: 1, last: 2)]))
    }

    @Test func electronUpdaterStyleListKeepsOrderAndNeverMerges() {
        #expect(ranges("bytes=0-9, 10-19, 5-7") == .ranges([
            ByteRange(first: 0, last: 9), ByteRange(first: 10, last: 19), ByteRange(first: 5, last: 7),
        ]))
        #expect(ranges("bytes=100-199,0-9") == .ranges([ByteRange(first: 100, last: 199), ByteRange(first: 0, last: 9)]))
    }

    @Test func thousandRangesAccepted() {
        let list = (0..<1000).map { "\($0 * 10)-\($0 * 10 + 4)" }.joined(separator: ", ")
        guard case .ranges(let parsed) = ranges("bytes=" + list, size: 20_000) else {
            Issue.record("1000 ranges rejected")
            return
        }
        #expect(parsed.count == 1000)
        #expect(RangeHeader.value(for: parsed) == "bytes=" + list)
    }

    @Test func unsatisfiableAndOtherUnits() {
        #expect(ranges("bytes=1000-1001") == .unsatisfiable)
        #expect(ranges("bytes=5000-") == .unsatisfiable)
        #expect(ranges("bytes=-0") == .unsatisfiable)
        #expect(ranges("bytes=0-0", size: 0) == .unsatisfiable)
        #expect(ranges("items=0-5") == .full)
        // Partly satisfiable lists keep the satisfiable ranges.
        #expect(ranges("bytes=2000-3000, 0-1") == .ranges([ByteRange(first: 0, last: 1)]))
    }

    @Test func hostileHeadersAreInvalidNotFullBody() {
        for header in ["bytes=5-3", "bytes=abc", "bytes=1-2-3", "bytes=", "bytes=,", "bytes=-", "bytes=+1-2", "nonsense", "bytes=0x10-20"] {
            guard case .invalid = ranges(header) else {
                Issue.record("\(header) should be invalid, got \(ranges(header))")
                continue
            }
        }
        let tooMany = "bytes=" + (0..<10_000).map { "\($0)-\($0)" }.joined(separator: ",")
        guard case .invalid = ranges(tooMany, size: 100_000) else { Issue.record("10 000 ranges accepted"); return }
        // Overlapping ranges that would amplify the response.
        let overlapping = "bytes=" + Array(repeating: "0-", count: 500).joined(separator: ",")
        guard case .invalid = ranges(overlapping, size: 10_000_000) else { Issue.record("amplification accepted"); return }
        // A few overlaps within the allowance are served as asked.
        guard case .ranges(let two) = ranges("bytes=0-,0-", size: 10_000_000) else { Issue.record("overlap rejected"); return }
        #expect(two.count == 2)
        // Huge numbers saturate instead of overflowing.
        #expect(ranges("bytes=0-99999999999999999999999999") == .ranges([ByteRange(first: 0, last: 999)]))
        #expect(ranges("bytes=99999999999999999999999999-") == .unsatisfiable)
    }

    @Test func encoderFramesLikeNginx() {
        let data = Array("0123456789abcdefghij".utf8)
        let encoder = MultipartByterangesEncoder(boundary: "00000000000000000001", partContentType: "application/octet-stream",
                                                 totalSize: data.count, ranges: [ByteRange(first: 0, last: 2), ByteRange(first: 10, last: 11)])
        var body: [UInt8] = []
        for (i, r) in encoder.ranges.enumerated() {
            body += encoder.partHeader(i)
            body += data[r.range]
        }
        body += encoder.closing
        let expected = "\r\n--00000000000000000001\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-2/20\r\n\r\n012"
            + "\r\n--00000000000000000001\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 10-11/20\r\n\r\nab"
            + "\r\n--00000000000000000001--\r\n"
        #expect(String(decoding: body, as: UTF8.self) == expected)
        #expect(encoder.contentLength == body.count)
        #expect(encoder.contentType == "multipart/byteranges; boundary=00000000000000000001")
    }

    /// Encode then parse in every split position: each part's bytes come back exactly.
    @Test func parserRoundTripAtEverySplit() throws {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let want = [ByteRange(first: 5, last: 9), ByteRange(first: 100, last: 199), ByteRange(first: 250, last: 250)]
        let encoder = MultipartByterangesEncoder(boundary: "XyZ", partContentType: "application/octet-stream", totalSize: 300, ranges: want)
        var body: [UInt8] = Array("preamble text".utf8)
        for (i, r) in want.enumerated() { body += encoder.partHeader(i) + data[r.range] }
        body += encoder.closing + Array("epilogue".utf8)
        for split in stride(from: 0, through: body.count, by: 7) {
            var parser = try MultipartByterangesParser(contentType: "multipart/byteranges; boundary=\"XyZ\"", expecting: want)
            var received = want.map { _ in [UInt8]() }
            let collect: (Int, Int, UnsafeRawBufferPointer) throws -> Void = { part, offset, bytes in
                #expect(offset == received[part].count)
                received[part] += bytes
            }
            try body[..<split].withUnsafeBytes { try parser.feed($0, onData: collect) }
            try body[split...].withUnsafeBytes { try parser.feed($0, onData: collect) }
            try parser.finish()
            for (i, r) in want.enumerated() { #expect(received[i] == Array(data[r.range]), "split \(split) part \(i)") }
        }
    }

    @Test func parserRejectsMergedReorderedAndTruncatedBodies() throws {
        let data = (0..<100).map { UInt8($0) }
        let want = [ByteRange(first: 0, last: 9), ByteRange(first: 20, last: 29)]
        func body(_ parts: [ByteRange], close: Bool = true) -> [UInt8] {
            let e = MultipartByterangesEncoder(boundary: "b", partContentType: "x", totalSize: 100, ranges: parts)
            var out: [UInt8] = []
            for (i, r) in parts.enumerated() { out += e.partHeader(i) + data[r.range] }
            return close ? out + e.closing : out
        }
        func parse(_ bytes: [UInt8]) throws {
            var parser = try MultipartByterangesParser(contentType: "multipart/byteranges; boundary=b", expecting: want)
            try bytes.withUnsafeBytes { try parser.feed($0) { _, _, _ in } }
            try parser.finish()
        }
        try parse(body(want))
        #expect(throws: MultipartError.self) { try parse(body([ByteRange(first: 0, last: 29)])) }  // merged
        #expect(throws: MultipartError.self) { try parse(body(want.reversed())) }                  // reordered
        #expect(throws: MultipartError.self) { try parse(body(want, close: false)) }               // truncated
        #expect(throws: MultipartError.self) { try parse(body([want[0]])) }                        // dropped part
        #expect(throws: MultipartError.notMultipart(contentType: "application/octet-stream")) {
            _ = try MultipartByterangesParser(contentType: "application/octet-stream", expecting: want)
        }
        #expect(throws: MultipartError.missingBoundary) {
            _ = try MultipartByterangesParser(contentType: "multipart/byteranges", expecting: want)
        }
    }
}
