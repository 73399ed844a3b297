/// `multipart/byteranges` bodies (RFC 9110 §14.6) exactly as nginx frames them, which is what
/// electron-updater's parser expects: one part per requested range, in request order, exact
/// lengths, CRLF line endings, and the boundary as the last Content-Type parameter.
///
///     \r\n--B\r\nContent-Type: T\r\nContent-Range: bytes a-b/size\r\n\r\n<data>
///     …
///     \r\n--B--\r\n
public struct MultipartByterangesEncoder: Sendable {
    public let boundary: String
    public let partContentType: String
    public let totalSize: Int
    public let ranges: [ByteRange]
    /// Digits of the padding field of each part (0: none; empty: no part is padded), set by
    /// ``alignHeaderEnds(readOrigins:alignment:)``.
    public private(set) var paddingDigits: [Int] = []

    /// The alignment ``alignHeaderEnds(readOrigins:alignment:)`` uses by default: every
    /// 2^k-aligned offset with k ≥ 10 is a multiple of it.
    public static let headerEndAlignment = 1024

    /// An extra part-header field that moves the end of a part header by its length:
    /// `X-Padding: 0…0` with `digits` zeros. RFC 9110 §14.6 lets a part carry header fields
    /// besides Content-Type and Content-Range; clients ignore ones they do not know
    /// (electron-updater ignores all of them).
    public static func paddingField(digits: Int) -> String {
        "X-Padding: " + String(repeating: "0", count: digits) + "\r\n"
    }

    public init(boundary: String, partContentType: String, totalSize: Int, ranges: [ByteRange]) {
        self.boundary = boundary
        self.partContentType = partContentType
        self.totalSize = totalSize
        self.ranges = ranges
    }

    /// The response's `Content-Type` header value.
    public var contentType: String { "multipart/byteranges; boundary=\(boundary)" }

    /// The bytes that precede part `index`'s data.
    public func partHeader(_ index: Int) -> [UInt8] {
        let digits = paddingDigits.isEmpty ? 0 : paddingDigits[index]
        let padding = digits == 0 ? "" : Self.paddingField(digits: digits)
        return Array("\r\n--\(boundary)\r\nContent-Type: \(partContentType)\r\nContent-Range: \(ranges[index].contentRange(totalSize: totalSize))\r\n\(padding)\r\n".utf8)
    }

    /// The bytes after the last part's data.
    public var closing: [UInt8] { Array("\r\n--\(boundary)--\r\n".utf8) }

    /// Exact body length, known before sending (so no chunked encoding is needed).
    public var contentLength: Int {
        ranges.indices.reduce(closing.count) { $0 + partHeader($1).count + ranges[$1].length }
    }

    /// Pads part headers so that no header's closing `\r\n\r\n` straddles a multiple of
    /// `alignment` counted from any of `readOrigins`: body offsets (negative ones lie before
    /// the body: the response head's start, the connection's first byte) from which a
    /// client's reads may proceed in fixed steps.
    ///
    /// electron-updater's multipart reader (its `DataSplitter`) loses a part whose header end
    /// is split between two reads: it searches the next read for `\r\n\r\n` from its start
    /// only, desynchronises and the update falls back to a full download. A client that has
    /// fallen behind the server reads in fixed steps (64 KiB under Node) from where it fell
    /// behind: the body's start when the response head came in a read of its own, the head's
    /// start when head and body arrived together. Header ends that never straddle a 2^k step
    /// (k ≥ 10) from those origins make such reads harmless. Replaces earlier padding.
    public mutating func alignHeaderEnds(readOrigins: [Int], alignment: Int = Self.headerEndAlignment) {
        precondition(alignment >= 64, "the alignment must leave room for the padding")
        paddingDigits = Array(repeating: 0, count: ranges.count)
        var position = 0
        for index in ranges.indices {
            let plain = partHeader(index).count
            var length = plain
            if readOrigins.contains(where: { Self.straddles(headerEnd: position + length - 4 - $0, alignment: alignment) }) {
                // The shortest padding field (14 bytes and up) that clears every origin.
                var digits = 1
                while true {
                    length = plain + Self.paddingField(digits: digits).utf8.count
                    if !readOrigins.contains(where: { Self.straddles(headerEnd: position + length - 4 - $0, alignment: alignment) }) { break }
                    digits += 1
                }
                paddingDigits[index] = digits
            }
            position += length + ranges[index].length
        }
    }

    /// True when the four bytes `\r\n\r\n` starting at offset `headerEnd` (counted from a
    /// read origin) would be cut by a multiple of `alignment` (after their first, second or
    /// third byte).
    public static func straddles(headerEnd: Int, alignment: Int) -> Bool {
        let remainder = ((headerEnd % alignment) + alignment) % alignment
        return remainder > alignment - 4
    }

    /// A boundary of 20 decimal digits derived from `seed` (nginx uses a counter likewise).
    public static func boundary(seed: UInt64) -> String {
        var x = seed &+ 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        return String(String(x).leftPadded(20).suffix(20))
    }
}

/// Why a multipart/byteranges response could not be used.
public enum MultipartError: Error, Equatable, Sendable, CustomStringConvertible {
    case notMultipart(contentType: String)
    case missingBoundary
    case malformed(String)
    case unexpectedRange(expected: ByteRange, got: String)
    case truncated(partsReceived: Int, partsExpected: Int)
    case wrongTotal(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .notMultipart(let type): return "response is not multipart/byteranges (Content-Type: \(type))"
        case .missingBoundary: return "multipart response has no boundary parameter"
        case .malformed(let what): return "malformed multipart body: \(what)"
        case .unexpectedRange(let expected, let got): return "multipart part has Content-Range \(got), expected bytes \(expected)"
        case .truncated(let got, let expected): return "multipart body ended after \(got) of \(expected) parts"
        case .wrongTotal(let expected, let got): return "multipart part says the file has \(got) bytes, expected \(expected): it is not the file the metadata describes"
        }
    }
}

/// An incremental parser of a multipart/byteranges body for a known list of requested
/// ranges. Feed body bytes as they arrive; it calls back with each part's data in order.
///
/// Stricter than electron-updater's DataSplitter where that protects the output: every part
/// must carry a Content-Range naming exactly the next requested range (so a CDN that merges,
/// reorders or drops ranges is detected instead of silently corrupting the file), and the
/// body must end with the closing delimiter. Tolerant where the RFC allows: a preamble,
/// a missing leading CRLF, extra part headers, header names in any case, quoted boundaries.
public struct MultipartByterangesParser {
    private enum State {
        case seekingDelimiter
        case headers
        case data(remaining: Int)
        case afterData
        case done
    }

    private let delimiter: [UInt8]
    private let expected: [ByteRange]
    private let totalSize: Int?
    private var state = State.seekingDelimiter
    private var buffer: [UInt8] = []
    private var part = 0
    private var partOffset = 0

    /// - Parameters:
    ///   - contentType: the response's Content-Type header.
    ///   - ranges: the ranges requested, in request order.
    ///   - totalSize: the served file's size when known: every part's Content-Range must name
    ///     it (or `*`).
    public init(contentType: String, expecting ranges: [ByteRange], totalSize: Int? = nil) throws(MultipartError) {
        let parameters = contentType.split(separator: ";").map { String($0).trimmingASCIIWhitespace() }
        guard let type = parameters.first, type.lowercased().hasPrefix("multipart/") else {
            throw .notMultipart(contentType: contentType)
        }
        var boundary: String?
        for parameter in parameters.dropFirst() {
            guard let eq = parameter.firstIndex(of: "=") else { continue }
            if parameter[..<eq].lowercased().trimmingASCIIWhitespace() == "boundary" {
                boundary = String(parameter[parameter.index(after: eq)...]).trimmingASCIIWhitespace()
            }
        }
        guard var value = boundary else { throw .missingBoundary }
        if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
        guard !value.isEmpty else { throw .missingBoundary }
        delimiter = Array("--\(value)".utf8)
        expected = ranges
        self.totalSize = totalSize
    }

    /// True once every expected part and the closing delimiter were seen.
    public var isComplete: Bool { if case .done = state { return true } else { return false } }

    /// Consumes body bytes; `onData(partIndex, offsetInPart, bytes)` receives each part's data.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer,
                              onData: (Int, Int, UnsafeRawBufferPointer) throws -> Void) throws {
        var input = bytes
        while !input.isEmpty {
            switch state {
            case .data(let remaining):
                let n = min(remaining, input.count)
                try onData(part, partOffset, UnsafeRawBufferPointer(rebasing: input[0..<n]))
                partOffset += n
                input = UnsafeRawBufferPointer(rebasing: input[n...])
                if n == remaining {
                    state = .afterData
                    part += 1
                } else {
                    state = .data(remaining: remaining - n)
                }
            case .done:
                // Epilogue after the closing delimiter is allowed and ignored.
                return
            default:
                buffer.append(contentsOf: input)
                input = UnsafeRawBufferPointer(start: nil, count: 0)
                try drainBuffer(onData: onData)
            }
        }
    }

    /// Call at end of body: fails unless every part and the closing delimiter arrived.
    public func finish() throws(MultipartError) {
        guard isComplete else { throw .truncated(partsReceived: part, partsExpected: expected.count) }
    }

    private mutating func drainBuffer(onData: (Int, Int, UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            switch state {
            case .seekingDelimiter, .afterData:
                // Need CRLF? "--boundary" then either "--" (close) or CRLF (headers).
                guard let at = find(delimiter, in: buffer) else {
                    if buffer.count > 64 * 1024 { throw MultipartError.malformed("no boundary delimiter found") }
                    return
                }
                if case .afterData = state {
                    // Between parts only CRLF may precede the delimiter.
                    let gap = buffer[..<at]
                    guard gap.elementsEqual([13, 10]) || gap.elementsEqual([10]) else {
                        throw MultipartError.malformed("unexpected bytes after part \(part - 1) (lengths do not match the requested ranges)")
                    }
                }
                let after = at + delimiter.count
                guard buffer.count >= after + 2 else { return }
                if buffer[after] == UInt8(ascii: "-") && buffer[after + 1] == UInt8(ascii: "-") {
                    guard part == expected.count else {
                        throw MultipartError.truncated(partsReceived: part, partsExpected: expected.count)
                    }
                    state = .done
                    buffer.removeAll()
                    return
                }
                guard part < expected.count else { throw MultipartError.malformed("more parts than requested ranges") }
                buffer.removeFirst(after)
                state = .headers
            case .headers:
                guard let end = find([13, 10, 13, 10], in: buffer) else {
                    if buffer.count > 16 * 1024 { throw MultipartError.malformed("part headers too long") }
                    return
                }
                let headerText = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                var contentRange: String?
                for line in headerText.split(separator: "\r\n") {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    if line[..<colon].lowercased() == "content-range" {
                        contentRange = String(line[line.index(after: colon)...]).trimmingASCIIWhitespace()
                    }
                }
                let want = expected[part]
                guard let contentRange else { throw MultipartError.malformed("part \(part) has no Content-Range") }
                guard let (range, total) = ContentRange.parse(contentRange), range == want.range else {
                    throw MultipartError.unexpectedRange(expected: want, got: contentRange)
                }
                if let totalSize, let total, total != totalSize {
                    throw MultipartError.wrongTotal(expected: totalSize, got: total)
                }
                partOffset = 0
                state = .data(remaining: want.length)
                if !buffer.isEmpty {
                    let pending = buffer
                    buffer.removeAll()
                    try pending.withUnsafeBytes { try feed($0, onData: onData) }
                }
                return
            case .data, .done:
                return
            }
        }
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var i = 0
        let limit = haystack.count - needle.count
        while i <= limit {
            if haystack[i] == first {
                var k = 1
                while k < needle.count && haystack[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
