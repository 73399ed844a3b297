import BlockyardCore

/// A set of byte offsets kept as sorted, disjoint, non-adjacent half-open intervals.
/// The downloader keeps what is still needed and what is already on disk in these.
public struct ByteIntervals: Equatable, Sendable, Codable {
    /// Sorted, disjoint, non-adjacent, non-empty.
    public private(set) var ranges: [Range<Int>] = []

    public init() {}

    public init(_ list: some Sequence<Range<Int>>) {
        for r in list { insert(r) }
    }

    public var isEmpty: Bool { ranges.isEmpty }
    public var byteCount: Int { ranges.reduce(0) { $0 + $1.count } }

    /// Index of the first interval whose upper bound is >= `offset`.
    private func firstIndex(endingAtOrAfter offset: Int) -> Int {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Adds `r` (merging with overlapping or adjacent intervals).
    public mutating func insert(_ r: Range<Int>) {
        guard !r.isEmpty else { return }
        let i = firstIndex(endingAtOrAfter: r.lowerBound)
        var j = i
        var lower = r.lowerBound, upper = r.upperBound
        while j < ranges.count && ranges[j].lowerBound <= upper {
            lower = min(lower, ranges[j].lowerBound)
            upper = max(upper, ranges[j].upperBound)
            j += 1
        }
        ranges.replaceSubrange(i..<j, with: [lower..<upper])
    }

    /// Removes `r`.
    public mutating func remove(_ r: Range<Int>) {
        guard !r.isEmpty else { return }
        var i = firstIndex(endingAtOrAfter: r.lowerBound + 1)
        var replacement: [Range<Int>] = []
        let start = i
        while i < ranges.count && ranges[i].lowerBound < r.upperBound {
            let x = ranges[i]
            if x.lowerBound < r.lowerBound { replacement.append(x.lowerBound..<r.lowerBound) }
            if x.upperBound > r.upperBound { replacement.append(r.upperBound..<x.upperBound) }
            i += 1
        }
        ranges.replaceSubrange(start..<i, with: replacement)
    }

    /// Removes every interval of `other`.
    public mutating func remove(_ other: ByteIntervals) {
        for r in other.ranges { remove(r) }
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        while !c.isAtEnd {
            let pair = try c.decode([Int].self)
            guard pair.count == 2, pair[0] >= 0, pair[0] <= pair[1] else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "an interval is not [start, end] with 0 <= start <= end")
            }
            insert(pair[0]..<pair[1])
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        for r in ranges { try c.encode([r.lowerBound, r.upperBound]) }
    }
}
