/// How to build a new artifact from the installed file and its delivery pack: the result of
/// ``DeliveryDescent``. Items tile the artifact in order; each is either bytes of the installed
/// file (a subtree or chunk whose hash the client has) or one chunk's stored form in the pack,
/// to decode (zstd, or raw) and check against the leaf's SHA-256.
public struct DeliveryPlan: Sendable, Equatable {
    public enum Item: Sendable, Equatable {
        /// `length` bytes of the installed file at `localOffset`, to `targetOffset`.
        case copy(localOffset: UInt64, length: UInt64, targetOffset: UInt64)
        /// Leaf `index` of the new index (verified from the root down): its stored form is
        /// `leaf.packRange` of the pack, its bytes go to `leaf.artifactOffset`.
        case unpack(index: Int, leaf: DeliveryLeaf)

        public var targetOffset: UInt64 {
            switch self {
            case .copy(_, _, let target): return target
            case .unpack(_, let leaf): return leaf.artifactOffset
            }
        }

        public var length: UInt64 {
            switch self {
            case .copy(_, let length, _): return length
            case .unpack(_, let leaf): return UInt64(leaf.rawSize)
            }
        }
    }

    /// In artifact order, tiling `0 ..< artifactSize`.
    public var items: [Item]
    public var artifactSize: UInt64
    /// The pack ranges to download, sorted, adjacent stored forms merged into one range.
    public var packRanges: [Range<UInt64>]
    /// Bytes of the index the descent asked for (the first request included).
    public var indexBytes: Int
    /// Index requests: the first one, then one per level that had something to open.
    public var indexRounds: Int

    public init(items: [Item], artifactSize: UInt64, packRanges: [Range<UInt64>], indexBytes: Int, indexRounds: Int) {
        self.items = items
        self.artifactSize = artifactSize
        self.packRanges = packRanges
        self.indexBytes = indexBytes
        self.indexRounds = indexRounds
    }

    /// Pack bytes to download.
    public var packBytes: UInt64 { packRanges.reduce(0) { $0 + UInt64($1.count) } }

    /// Artifact bytes copied from the installed file.
    public var copyBytes: UInt64 {
        items.reduce(0) { if case .copy(_, let n, _) = $1 { return $0 + n } else { return $0 } }
    }

    /// Chunks decoded from the pack.
    public var unpackCount: Int {
        items.reduce(0) { if case .unpack = $1 { return $0 + 1 } else { return $0 } }
    }

    /// Merges stored forms that are adjacent in the pack into ranges.
    public static func packRanges(_ leaves: [DeliveryLeaf]) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        for leaf in leaves.sorted(by: { $0.packOffset < $1.packOffset }) where leaf.storedSize > 0 {
            let r = leaf.packRange
            if let last = ranges.last, last.upperBound >= r.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound ..< max(last.upperBound, r.upperBound)
            } else {
                ranges.append(r)
            }
        }
        return ranges
    }
}
