/// A range of bytes: `offset ..< offset + length`. Used for the byte ranges a plan fetches
/// and for HTTP `Range` requests (RFC 9110 §14), where it is written `first-last` inclusive.
public struct ByteRange: Equatable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var offset: Int
    public var length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }

    /// The inclusive range `first ... last`.
    public init(first: Int, last: Int) {
        precondition(first >= 0 && last >= first, "invalid byte range \(first)-\(last)")
        self.init(offset: first, length: last - first + 1)
    }

    /// One past the last byte.
    public var end: Int { offset + length }
    /// First byte offset.
    public var first: Int { offset }
    /// Last byte offset (inclusive).
    public var last: Int { offset + length - 1 }
    public var range: Range<Int> { offset..<end }

    /// `a-b` with an inclusive end, as in an HTTP Range header.
    public var description: String { "\(first)-\(last)" }

    /// `bytes a-b/size`, the Content-Range value.
    public func contentRange(totalSize: Int) -> String { "bytes \(first)-\(last)/\(totalSize)" }
}

/// The outcome of evaluating a Range header (RFC 9110 §14.2) for a representation.
public enum RangeRequest: Equatable, Sendable {
    /// No usable Range header (absent, or not a `bytes` range): serve the whole body (200).
    case full
    /// Serve these ranges, in request order (206; multipart when more than one).
    case ranges([ByteRange])
    /// No range overlaps the representation: 416 with `Content-Range: bytes */size`.
    case unsatisfiable
    /// The header is malformed or abusive (syntax, reversed range, too many ranges, too
    /// many bytes requested): reject with a 4xx, never fall back to a 200 full body.
    case invalid(String)
}

/// Limits on what a Range header may ask for.
public struct RangeLimits: Sendable, Equatable {
    /// Most ranges accepted in one header (electron-updater sends at most ~500).
    public var maxRanges: Int
    /// Most bytes all ranges together may request, as a multiple of the representation
    /// size (overlapping ranges can otherwise amplify one request into gigabytes).
    public var maxTotalFactor: Int

    public init(maxRanges: Int = 2000, maxTotalFactor: Int = 2) {
        self.maxRanges = maxRanges
        self.maxTotalFactor = maxTotalFactor
    }
}

extension RangeRequest {
    /// Evaluates the value of a `Range` header for a representation of `size` bytes.
    ///
    /// * Unit other than `bytes` (case-insensitive) → `.full`, as RFC 9110 requires.
    /// * Whitespace around commas and specs is accepted (electron-updater sends `a-b, c-d`).
    /// * A last position beyond the end is clamped; a first position beyond the end makes that
    ///   range unsatisfiable; `-N` is the last N bytes; `N-` is from N to the end.
    /// * Reversed ranges, junk, empty specs, more than `maxRanges` specs → `.invalid`.
    /// * Ranges are kept in request order and never merged (clients parse parts in order).
    public static func evaluate(_ header: String, size: Int, limits: RangeLimits = RangeLimits()) -> RangeRequest {
        let utf8 = Array(header.utf8)
        guard let eq = utf8.firstIndex(of: UInt8(ascii: "=")) else { return .invalid("Range header has no '='") }
        let unit = String(decoding: utf8[..<eq], as: UTF8.self).trimmingASCIIWhitespace().lowercased()
        guard unit == "bytes" else { return .full }
        var ranges: [ByteRange] = []
        var total = 0
        var specs = 0
        var satisfiable = false
        var i = eq + 1
        let n = utf8.count
        while i <= n {
            // One spec up to the next comma.
            var j = i
            while j < n && utf8[j] != UInt8(ascii: ",") { j += 1 }
            let spec = utf8[i..<j]
            i = j + 1
            let trimmed = spec.trimmingWhitespace()
            if trimmed.isEmpty {
                // RFC allows empty list elements ("a-b, , c-d"); a fully empty header is invalid.
                if j >= n { break } else { continue }
            }
            specs += 1
            if specs > limits.maxRanges { return .invalid("more than \(limits.maxRanges) ranges") }
            guard let dash = trimmed.firstIndex(of: UInt8(ascii: "-")) else {
                return .invalid("range '\(String(decoding: trimmed, as: UTF8.self).prefix(40))' has no '-'")
            }
            let firstText = trimmed[trimmed.startIndex..<dash]
            let lastText = trimmed[(dash + 1)...]
            if firstText.isEmpty {
                // Suffix range: the last N bytes.
                guard let suffix = parseNumber(lastText) else { return .invalid("invalid suffix range") }
                if suffix == 0 || size == 0 { continue }
                let length = min(suffix, size)
                ranges.append(ByteRange(first: size - length, last: size - 1))
                satisfiable = true
                total += length
            } else {
                guard let first = parseNumber(firstText) else { return .invalid("invalid range start") }
                var last = Int.max
                if !lastText.isEmpty {
                    guard let value = parseNumber(lastText) else { return .invalid("invalid range end") }
                    last = value
                }
                if last < first { return .invalid("reversed range \(first)-\(last)") }
                if first >= size { continue }  // unsatisfiable on its own
                let range = ByteRange(first: first, last: min(last, size - 1))
                ranges.append(range)
                satisfiable = true
                total += range.length
            }
            if total > limits.maxTotalFactor * max(size, 1) + (1 << 20) {
                return .invalid("ranges request more than \(limits.maxTotalFactor)x the representation")
            }
        }
        if specs == 0 { return .invalid("empty range set") }
        return satisfiable ? .ranges(ranges) : .unsatisfiable
    }

    /// Digits only; values too large for `Int` saturate (they are beyond any file anyway).
    private static func parseNumber(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(b - UInt8(ascii: "0")))
            value = (o1 || o2) ? Int.max : s
        }
        return value
    }
}

extension ArraySlice where Element == UInt8 {
    func trimmingWhitespace() -> ArraySlice<UInt8> {
        var s = self
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        String(decoding: Array(utf8)[...].trimmingWhitespace(), as: UTF8.self)
    }
}

/// Builds `Range` header values for requests.
public enum RangeHeader {
    /// `bytes=a-b, c-d, …` (comma + space, like electron-updater).
    public static func value(for ranges: [ByteRange]) -> String {
        "bytes=" + ranges.map(\.description).joined(separator: ", ")
    }
}

/// A `Content-Range` header value of a 206 response or of one part of a multipart/byteranges
/// body (RFC 9110 §14.4).
public enum ContentRange {
    /// `bytes a-b/total` (total may be `*`): the range and the total size; nil when malformed.
    public static func parse(_ text: String) -> (Range<Int>, Int?)? {
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = String(trimmed.dropFirst(6)).trimmingASCIIWhitespace()
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        let bounds = halves[0].split(separator: "-", maxSplits: 1)
        guard bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]), first >= 0, last >= first,
              last < Int.max else { return nil }
        let total: Int?
        if halves[1] == "*" {
            total = nil
        } else {
            guard let t = Int(halves[1]), t > last else { return nil }
            total = t
        }
        return (first..<(last + 1), total)
    }
}
