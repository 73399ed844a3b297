@testable import BlockyardHTTP
import BlockyardCore
import BlockyardTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Testing

/// electron-updater's multipart reader loses a part whose header end is split between two of
/// its reads (shared/specs/electron-updater.md, "Known defects" 6). `serve` writes multipart
/// bodies so that the reads real clients make never split one: no write ends inside (or right
/// after) a part header, and no header end straddles a 1 KiB-aligned offset of the
/// connection's byte stream. These tests feed what the server writes to a faithful port of
/// that reader (``ElectronDataSplitter``) cut at those offsets.
@Suite("serve: multipart bodies survive electron-updater's reads")
struct ServerMultipartSplitTests {
    /// The shape of the field failure: hundreds of parts of 50–500 KB in one response.
    static func largeParts(_ rng: inout SplitMix64, size: Int, count: Int) -> [ByteRange] {
        var ranges: [ByteRange] = []
        var position = Int.random(in: 0...4096, using: &rng)
        for _ in 0..<count {
            let length = Int.random(in: 50_000...500_000, using: &rng)
            guard position + length <= size else { break }
            ranges.append(ByteRange(offset: position, length: length))
            position += length + Int.random(in: 1...40_000, using: &rng)
        }
        return ranges
    }

    static func body(_ encoder: MultipartByterangesEncoder, _ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, range) in encoder.ranges.enumerated() { out += encoder.partHeader(index) + data[range.range] }
        return out + encoder.closing
    }

    /// Cuts in steps of 2^k from a read origin `bodyStreamOffset` bytes before the body (0:
    /// the body's start), as body offsets: where a client that reads 2^k bytes at a time from
    /// that origin ends its reads.
    static func alignedCuts(bodyStreamOffset: Int, bodyLength: Int, k: Int) -> [Int] {
        let step = 1 << k
        let first = (bodyStreamOffset / step + 1) * step
        return Array(stride(from: first - bodyStreamOffset, to: bodyLength, by: step))
    }

    /// The port can fail: a cut after the first, second or third byte of a header's closing
    /// `\r\n\r\n` stalls or corrupts it; a cut just before or just after the four bytes, or
    /// anywhere else in the header, does not.
    @Test func portLosesASplitHeaderEnd() {
        let data = VectorInputs.randomBytes(seed: 15, count: 200_000)
        let ranges = [ByteRange(offset: 100, length: 5000), ByteRange(offset: 20_000, length: 7000), ByteRange(offset: 90_000, length: 3000)]
        let encoder = MultipartByterangesEncoder(boundary: "00000000000000012345", partContentType: "application/octet-stream",
                                                 totalSize: data.count, ranges: ranges)
        let body = Self.body(encoder, data)
        let expected = ranges.map { Array(data[$0.range]) }
        #expect(ElectronDataSplitter.read(body, boundary: encoder.boundary, expected: expected, cuts: []) == .complete)
        let secondHeaderStart = encoder.partHeader(0).count + ranges[0].length
        let secondHeaderEnd = secondHeaderStart + encoder.partHeader(1).count - 4
        for cut in 1...3 {
            #expect(ElectronDataSplitter.read(body, boundary: encoder.boundary, expected: expected, cuts: [secondHeaderEnd + cut]) != .complete,
                    "a cut \(cut) byte(s) into the header end must break the reader")
        }
        for cut in Array(secondHeaderStart...secondHeaderEnd) + [secondHeaderEnd + 4] {
            #expect(ElectronDataSplitter.read(body, boundary: encoder.boundary, expected: expected, cuts: [cut]) == .complete, "cut at \(cut)")
        }
    }

    /// What `BodyStreamer` hands to the connection for a large multipart body: the write
    /// boundaries never fall inside a part header or right after one, and the reader survives
    /// cuts at every write boundary and at every 2^k-aligned stream offset, k = 10 … 20.
    @Test func streamedBodySurvivesWriteAndAlignedCuts() async throws {
        var rng = SplitMix64(seed: 0x15_2026)
        let data = VectorInputs.randomBytes(seed: 1515, count: 48 << 20)
        let ranges = Self.largeParts(&rng, size: data.count, count: 480)
        #expect(ranges.count > 150)
        for bodyStreamOffset in [65_536 - 180, Int.random(in: 0...10_000_000, using: &rng)] {
            var encoder = MultipartByterangesEncoder(boundary: MultipartByterangesEncoder.boundary(seed: 7), partContentType: "application/octet-stream",
                                                     totalSize: data.count, ranges: ranges)
            // Reads may proceed from the body's start, the head's start or the connection's.
            encoder.alignHeaderEnds(readOrigins: [0, -300, -bodyStreamOffset])
            let plan = BodyPlan.multipart(encoder)
            let writer = RecordingBodyWriter()
            var any: any ResponseBodyWriter = writer
            let streamer = BodyStreamer(pool: .singleton, blockSize: BodyStreamer.defaultBlockSize)
            try await streamer.stream(plan, from: MemoryByteSource(bytes: data), to: &any, connection: nil) { _ in }
            let body = writer.box.bytes
            #expect(body == Self.body(encoder, data))
            #expect(writer.box.finished)

            // Where every part header lies in the body.
            var headers: [Range<Int>] = []
            var position = 0
            for (index, range) in ranges.enumerated() {
                headers.append(position..<(position + encoder.partHeader(index).count))
                position += encoder.partHeader(index).count + range.length
            }
            let writeEnds = writer.box.writeEnds.dropLast()
            #expect(writeEnds.count > 10)
            for end in writeEnds {
                #expect(!headers.contains { $0.lowerBound < end && end <= $0.upperBound }, "a write ends inside or right after a part header at \(end)")
            }
            let expected = ranges.map { Array(data[$0.range]) }
            var cutSets: [(String, [Int])] = [("every write boundary", Array(writeEnds))]
            for k in 10...20 {
                for origin in [0, 300, bodyStreamOffset] {
                    cutSets.append(("k = \(k), reads from \(origin) bytes before the body",
                                    Self.alignedCuts(bodyStreamOffset: origin, bodyLength: body.count, k: k)))
                }
            }
            let outcomes = await ElectronDataSplitter.readAll(body, boundary: encoder.boundary, expected: expected, cutSets: cutSets.map(\.1))
            for (outcome, (what, _)) in zip(outcomes, cutSets) { #expect(outcome == .complete, "\(what)") }
        }
        // Without the alignment the same parts break: placed so that the second part's header
        // end starts 2 bytes before a 1 KiB multiple of the stream, a 1 KiB read splits it.
        let plain = MultipartByterangesEncoder(boundary: MultipartByterangesEncoder.boundary(seed: 7), partContentType: "application/octet-stream",
                                               totalSize: data.count, ranges: ranges)
        let plainBody = Self.body(plain, data)
        let secondEnd = plain.partHeader(0).count + ranges[0].length + plain.partHeader(1).count - 4
        let offset = (1022 - secondEnd % 1024 + 1024) % 1024
        #expect(MultipartByterangesEncoder.straddles(headerEnd: offset + secondEnd, alignment: 1024))
        #expect(ElectronDataSplitter.read(plainBody, boundary: plain.boundary, expected: ranges.map { Array(data[$0.range]) },
                                          cuts: Self.alignedCuts(bodyStreamOffset: offset, bodyLength: plainBody.count, k: 10)) != .complete)
    }

    /// The live server on a keep-alive connection, as electron-updater uses it: a channel
    /// file, then several multi-range requests. Measured on the bytes the client receives:
    /// the server's idea of each response head's length is exact, part headers are padded
    /// exactly where their end would straddle a 1 KiB multiple of the connection's stream
    /// (earlier responses counted), and the reader survives every 2^k-aligned cut.
    @Test func liveKeepAliveConnection() async throws {
        let root = try TemporaryDirectory("serve-split")
        let data = VectorInputs.randomBytes(seed: 2015, count: 24 << 20)
        _ = try root.write("big.bin", data)
        _ = try root.write("latest.yml", Array("version: 1.0.0\n".utf8))
        let server = try await RunningServer.start(ServeConfiguration(root: root.url.path))
        defer { Task { await server.stop() } }
        let connection = try RawConnection(port: server.port, recording: true)
        var rng = SplitMix64(seed: 0x11fe)
        var padded = 0
        var requests: [[ByteRange]] = []
        _ = try await connection.request("GET", "/latest.yml?noCache=1ab2", headers: ElectronUpdaterRequest.channelFile())
        for _ in 0..<4 {
            var ranges: [ByteRange] = []
            var position = Int.random(in: 0...2000, using: &rng)
            for _ in 0..<1000 {
                let length = Int.random(in: 1...20_000, using: &rng)
                guard position + length <= data.count else { break }
                ranges.append(ByteRange(offset: position, length: length))
                position += length + Int.random(in: 1...3000, using: &rng)
            }
            requests.append(ranges)
            let response = try await connection.request("GET", "/big.bin", headers: ElectronUpdaterRequest.multiRange(ranges))
            #expect(response.status == 206)
        }
        let stream = try #require(connection.transcript)
        // Walk the stream response by response.
        var offset = 0
        func find(_ needle: [UInt8], from: Int) -> Int? {
            var i = from
            while i + needle.count <= stream.count {
                if stream[i] == needle[0] && Array(stream[i..<(i + needle.count)]) == needle { return i }
                i += 1
            }
            return nil
        }
        let crlf2: [UInt8] = [13, 10, 13, 10]
        for index in 0...requests.count {
            let responseStart = offset
            let headEnd = try #require(find(crlf2, from: offset)) + 4
            let headText = String(decoding: stream[offset..<headEnd], as: UTF8.self)
            var lines = headText.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            let statusLine = lines.removeFirst()
            var fields = HTTPFields()
            for line in lines {
                let colon = try #require(line.firstIndex(of: ":"))
                let name = try #require(HTTPField.Name(String(line[..<colon])))
                fields.append(HTTPField(name: name, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            let statusParts = statusLine.split(separator: " ", maxSplits: 2)
            let code = try #require(Int(statusParts[1]))
            let status = HTTPResponse.Status(code: code, reasonPhrase: String(statusParts[2]))
            #expect(ResponseHeadLength.of(status: status, fields: fields, serverName: ServerCore.serverName) == headEnd - offset,
                    "response \(index): head length")
            let length = try #require(fields[.contentLength].flatMap(Int.init))
            defer { offset = headEnd + length }
            guard index > 0 else { continue }
            let ranges = requests[index - 1]
            let contentType = try #require(fields[.contentType])
            let boundary = try #require(electronUpdaterBoundary(contentType))
            let body = Array(stream[headEnd..<(headEnd + length)])
            // Every part header: padded exactly where its unpadded end would straddle.
            var position = 0
            for range in ranges {
                let end = try #require(find(crlf2, from: headEnd + position)) - headEnd
                let header = String(decoding: body[position..<end], as: UTF8.self)
                #expect(header.hasPrefix("\r\n--\(boundary)\r\n"))
                let lastLine = header.components(separatedBy: "\r\n").last ?? ""
                let isPadded = lastLine.wholeMatch(of: /X-Padding: 0+/) != nil
                let padLength = isPadded ? lastLine.utf8.count + 2 : 0
                let unpaddedEnd = end - padLength
                // Read origins: the connection's first byte, this response's head, its body.
                let origins = [0, responseStart, headEnd]
                #expect(isPadded == origins.contains { MultipartByterangesEncoder.straddles(headerEnd: headEnd + unpaddedEnd - $0, alignment: 1024) })
                for origin in origins {
                    #expect(!MultipartByterangesEncoder.straddles(headerEnd: headEnd + end - origin, alignment: 1024))
                }
                if isPadded { padded += 1 }
                position = end + 4 + range.length
            }
            let expected = ranges.map { Array(data[$0.range]) }
            var cutSets: [(String, [Int])] = []
            for k in 10...20 {
                for origin in [headEnd, headEnd - responseStart, 0] {
                    cutSets.append(("request \(index), k = \(k), reads from \(origin) bytes before the body",
                                    Self.alignedCuts(bodyStreamOffset: origin, bodyLength: body.count, k: k)))
                }
            }
            let outcomes = await ElectronDataSplitter.readAll(body, boundary: boundary, expected: expected, cutSets: cutSets.map(\.1))
            for (outcome, (what, _)) in zip(outcomes, cutSets) { #expect(outcome == .complete, "\(what)") }
        }
        #expect(offset == stream.count)
        print("live keep-alive: \(requests.map(\.count).reduce(0, +)) parts in \(requests.count) responses, \(padded) padded, \(stream.count) bytes")
        // The layout is deterministic for these requests; it must include padded parts, or
        // the check above proved nothing about the stream offsets.
        #expect(padded > 0)
    }
}

/// A response body writer that keeps what it is given and where each write ended.
struct RecordingBodyWriter: ResponseBodyWriter {
    final class Box: @unchecked Sendable {
        var bytes: [UInt8] = []
        var writeEnds: [Int] = []
        var finished = false
    }

    let box = Box()

    mutating func write(_ buffer: ByteBuffer) async throws {
        box.bytes += buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
        box.writeEnds.append(box.bytes.count)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        box.finished = true
    }
}
